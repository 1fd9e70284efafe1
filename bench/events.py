"""``python -m bench.events``: the events consumer's throughput and publish-to-visible latency.

One run, bounded (well under a minute after data preparation):

1. data: ``training simulate`` (``--customers``), feast apply and materialize into a
   private redis-server;
2. throughput: ``--backlog`` activity events are published first, then one consumer
   (in this process, offline writes on, default batch) drains them: events/s. The same
   number of full engagement rows written with Feast's own ``FeatureStore.push``
   (``PushMode.ONLINE``, 500 rows a call) and Feast's online read of as many rows give
   the alternative's rate (an increment through Feast is a read, then a push);
3. latency: a ``python -m server.events`` process consumes while this process publishes
   ``--rate`` events/s for ``--seconds``; every ``--probe-ms`` one probe event is
   published and the server's feature reader (``RedisFeatureReader``, what Decide reads)
   polled until it shows the change; latency = seen time - the XADD id's time (ms).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import redis

from bench.prepare import copy_repo, start_step
from bench.procs import ProcessGroup, base_env, python_module, say, start_redis
from modelio.events import ActivityEvent, encode_event
from modelio.store import open_store
from server.events.build import build_consumer
from server.events.publish import publish_raw
from server.features.redis_reader import RedisFeatureReader
from server.settings import Settings

STREAM = "bench:events"
_SERIAL = iter(range(1, 100))


def activity(customer: str, n: int, page_views: int = 1) -> bytes:
    event = ActivityEvent(
        schema_version=1, event_id=f"bench-{n}", customer_id=customer,
        occurred_at=datetime.now(UTC), kind="activity", source="web",
        new_session=n % 5 == 0, page_views=page_views, minutes=0.5,
    )  # fmt: skip
    return encode_event(event)


def prepare(group: ProcessGroup, work: Path, customers: int) -> tuple[Path, str, list[str]]:
    from training.feast_ops import apply_repo, materialize

    repo = copy_repo(work / "feature_repo")
    start_step(group, "simulate", ["simulate", "--customers", str(customers),
                                   "--out", str(repo / "data")]).finish()  # fmt: skip
    _, address = start_redis(group, work / "redis")
    apply_repo(repo, "redis", address)
    materialize(repo, "redis", address)
    frame = pd.read_parquet(repo / "data" / "customer_profile.parquet", columns=["customer_id"])
    return repo, address, sorted(frame["customer_id"].unique())


def throughput(settings: Settings, client: Any, ids: list[str], backlog: int) -> float:
    rng, first = random.Random(1), next(_SERIAL)
    events = [activity(rng.choice(ids), first * backlog + n) for n in range(backlog)]
    publish_raw(client, settings.events_stream, events)
    consumer = build_consumer(settings)
    consumer.ensure_group()
    started = time.perf_counter()
    while consumer.tally.applied + consumer.tally.duplicate < backlog:
        consumer.step()
    consumer.close()
    return backlog / (time.perf_counter() - started)


def feast_read_rate(repo: Path, address: str, ids: list[str], rows: int) -> float:
    """Rows/s of Feast's own online read of engagement_fv, 500 customers a call: the read a
    push-based consumer needs before it can push an incremented row."""
    store = open_store(repo, "redis", address)
    features = [f"engagement_fv:{f}" for f in ("sessions_28d", "page_views_28d", "minutes_28d",
                                               "product_usage_28d", "active_days_28d")]  # fmt: skip
    started = time.perf_counter()
    for start in range(0, rows, 500):
        entity_rows = [{"customer_id": ids[i % len(ids)]} for i in range(start, start + 500)]
        store.get_online_features(features=features, entity_rows=entity_rows).to_dict()
    return rows / (time.perf_counter() - started)


def feast_push_rate(repo: Path, address: str, ids: list[str], rows: int) -> float:
    from feast.data_source import PushMode

    store = open_store(repo, "redis", address)
    now = pd.Timestamp.now(tz="UTC")
    frame = pd.DataFrame({
        "customer_id": [ids[i % len(ids)] for i in range(rows)],
        "event_timestamp": [now + pd.Timedelta(microseconds=i) for i in range(rows)],
        "sessions_28d": 1.0, "page_views_28d": 2.0, "minutes_28d": 3.0,
        "product_usage_28d": 0.5, "active_days_28d": 1,
    })  # fmt: skip
    frame["created_timestamp"] = frame["event_timestamp"]
    started = time.perf_counter()
    for start in range(0, rows, 500):
        store.push("engagement_push_source", frame.iloc[start : start + 500], to=PushMode.ONLINE)
    return rows / (time.perf_counter() - started)


def latency(
    group: ProcessGroup, settings: Settings, args: argparse.Namespace, ids: list[str]
) -> np.ndarray:
    env = base_env(
        PERSONALIZATION_ONLINE_STORE="redis", PERSONALIZATION_REDIS=settings.redis,
        PERSONALIZATION_FEATURE_REPO=str(settings.feature_repo),
        PERSONALIZATION_EVENTS_STREAM=STREAM, PERSONALIZATION_LOG_LEVEL="WARNING",
        PERSONALIZATION_EVENTS_GROUP="bench-latency",
    )  # fmt: skip
    consumer = group.start("events-consumer", python_module("server.events"), env)
    host, _, port = settings.redis.rpartition(":")
    client = redis.Redis(host=host, port=int(port))
    store = open_store(settings.feature_repo, "redis", settings.redis)
    reader = RedisFeatureReader(store, "personalization_v1")
    probe = ids[0]
    seen = reader.read([probe])[0].values.get("page_views_28d") or 0.0
    stop, counter = threading.Event(), iter(range(10**9, 2 * 10**9))

    def load() -> None:  # --rate events/s in pipelined groups of 10
        rng, tick = random.Random(2), time.perf_counter()
        while not stop.is_set():
            publish_raw(
                client, STREAM, [activity(rng.choice(ids[1:]), next(counter)) for _ in range(10)]
            )
            tick += 10 / args.rate
            time.sleep(max(0.0, tick - time.perf_counter()))

    # Wait until the consumer is up and applying before measuring.
    client.xadd(STREAM, {b"event": activity(probe, next(counter))})
    seen += 1
    consumer.wait_until(lambda: reader.read([probe])[0].values.get("page_views_28d") == seen,
                        60, "first event applied")  # fmt: skip
    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    out, end = [], time.monotonic() + args.seconds
    while time.monotonic() < end:
        entry: bytes = client.xadd(STREAM, {b"event": activity(probe, next(counter))})  # type: ignore[assignment]
        seen += 1
        while reader.read([probe])[0].values.get("page_views_28d") != seen:
            time.sleep(0.0005)
        out.append(time.time() * 1000 - int(entry.split(b"-")[0]))
        time.sleep(args.probe_ms / 1000)
    stop.set()
    loader.join()
    group.stop(consumer)
    return np.array(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s during latency")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--probe-ms", type=float, default=20.0)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--plot", type=Path, help="PNG of the latency distribution")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, ProcessGroup(Path(tmp) / "logs") as group:
        repo, address, ids = prepare(group, Path(tmp), args.customers)
        settings = Settings(online_store="redis", redis=address, feature_repo=repo,
                            events_stream=STREAM, events_group="bench-throughput")  # fmt: skip
        host, _, port = address.rpartition(":")
        client: Any = redis.Redis(host=host, port=int(port))
        say("throughput: one consumer draining a backlog")
        rate = throughput(settings, client, ids, args.backlog)
        online_only = settings.model_copy(
            update={"events_offline": False, "events_stream": STREAM + ":online-only"}
        )
        rate_online = throughput(online_only, client, ids, args.backlog)
        markers = list(client.scan_iter(match=f"{STREAM}:applied:*", count=1000))[:200]
        marker_bytes = sum(int(client.memory_usage(k) or 0) for k in markers) / len(markers)
        push = feast_push_rate(repo, address, ids, args.backlog)
        read = feast_read_rate(repo, address, ids, args.backlog)
        say(f"latency: {args.rate:g} events/s for {args.seconds:g} s")
        lat = latency(group, settings, args, ids)
    figures = {
        "events_per_s_one_consumer": round(rate),
        "events_per_s_one_consumer_online_only": round(rate_online),
        "applied_id_marker_bytes": round(marker_bytes),
        "feast_push_rows_per_s": round(push),
        "feast_online_read_rows_per_s": round(read),
        "feast_read_then_push_rows_per_s": round(1 / (1 / read + 1 / push)),
        "load_events_per_s": args.rate,
        "probes": len(lat),
        "publish_to_visible_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "publish_to_visible_ms_p99": round(float(np.percentile(lat, 99)), 1),
        "publish_to_visible_ms_max": round(float(lat.max()), 1),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if args.plot:
        plot(lat, figures, args.plot)
    return 0


def plot(lat: np.ndarray, figures: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    values = np.sort(lat)
    ax.plot(values, np.arange(1, len(values) + 1) / len(values))
    for q in ("p50", "p99"):
        ax.axvline(figures[f"publish_to_visible_ms_{q}"], ls="--", lw=0.8, label=q)
    ax.axvline(100, color="red", lw=0.8, label="target p99 100 ms")
    ax.set(xlabel="publish to visible (ms)", ylabel="fraction of probes",
           title=f"events: {figures['load_events_per_s']:g}/s, one consumer")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    raise SystemExit(main())
