"""A feature-scale drift as a real server sees it: the scaled raw features written into
its online store from the drift's first turn on, and the originals written back after.

:class:`training.replay.drift.Drift` scales the truth's state of the drifted turns (so
outcomes follow the changed customers); a server reads its features from the online
store, so the same factor must reach the store, or the server would keep deciding on the
old values. :class:`StoreDrift` writes, for every customer that has a row in the view
holding a scaled column, that view's served row (:func:`training.monitor.simlog.served_records`)
with the column scaled (``apply``) or as it was (``restore``), stamped now, through
Feast's ``write_to_online_store`` (SQLite or Redis alike).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from modelio.store import open_store
from modelio.vocab import FEATURE_VIEWS
from training.monitor.simlog import served_records
from training.replay.population import Population


class StoreDrift:
    """Writes the scaled (or original) rows of the views a drift scales."""

    def __init__(
        self,
        repo: Path,
        online_store: str,
        data_dir: Path,
        population: Population,
        feature_scale: Mapping[str, float],
    ) -> None:
        self.store = open_store(repo, online_store)
        self.records = served_records(data_dir, population)
        self.scale = dict(feature_scale)
        self.views = {
            view: names
            for view, names in FEATURE_VIEWS.items()
            if any(column in names for column in self.scale)
        }
        self.applied = False

    def frame(self, view: str, scaled: bool) -> pd.DataFrame:
        """The view's rows of every customer that has one, the drifted columns scaled."""
        names = self.views[view]
        rows: list[dict[str, Any]] = []
        for customer, raw in self.records.items():
            values = {n: raw.get(n) for n in names}
            if all(v is None for v in values.values()):
                continue  # no row in this view: writing one would invent features
            if scaled:
                for column, factor in self.scale.items():
                    value = values.get(column)
                    if value is not None:
                        values[column] = value * factor
            rows.append({"customer_id": customer, **values})
        out = pd.DataFrame(rows)
        out["event_timestamp"] = out["created_timestamp"] = pd.Timestamp(datetime.now(UTC))
        return out

    def write(self, scaled: bool) -> None:
        for view in self.views:
            self.store.write_to_online_store(view, self.frame(view, scaled))
        self.applied = scaled

    def apply(self) -> None:
        """From now on the server reads the scaled features."""
        self.write(scaled=True)

    def restore(self) -> None:
        """The original features again (a no-op when nothing was applied)."""
        if self.applied:
            self.write(scaled=False)
