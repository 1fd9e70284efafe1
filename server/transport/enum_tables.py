"""Proto enum numbers and value names <-> ``modelio.vocab`` names, for both directions of
``transport.convert`` and ``transport.convert_decision``.

The tables are derived from ``modelio.vocab`` and the proto descriptors (value
``CHANNEL_WEB_CHAT`` <-> vocab entry ``"web_chat"``) and checked against each other
at import time, so a vocabulary that drifts from the proto fails at startup rather
than mid-request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from google.protobuf.descriptor import EnumDescriptor

from modelio.vocab import ACTIONS, CHANNELS, DEVICES, FORMALITIES, ISSUE_CATEGORIES
from personalization.v1 import personalization_pb2 as pb


def _prefix(enum: EnumDescriptor) -> str:
    """``DeviceType`` -> ``DEVICE_TYPE_`` (buf's ENUM_VALUE_PREFIX convention)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"


def _table(enum: EnumDescriptor, vocab: Sequence[str]) -> dict[int, str]:
    """Enum number -> vocab name; fails if the proto and the vocab disagree."""
    prefix = _prefix(enum)
    table = {enum.values_by_name[prefix + name.upper()].number: name for name in vocab}
    expected = {v.number for v in enum.values if v.number != 0}
    if set(table) != expected or sorted(table) != list(table):
        raise RuntimeError(f"proto enum {enum.full_name} does not mirror its vocabulary")
    return table


def _names(enum: EnumDescriptor, vocab: Sequence[str]) -> dict[str, str]:
    """Vocab name -> enum value name. Protobuf constructors accept value names, which
    also keeps the generated .pyi stubs (that type enum fields as enum classes) happy."""
    return {name: enum.values_by_number[n].name for n, name in _table(enum, vocab).items()}


def _band_names(enum: EnumDescriptor) -> dict[str, str]:
    prefix = _prefix(enum)
    return {v.name[len(prefix) :].lower(): v.name for v in enum.values if v.number != 0}


CHANNEL_BY_NUMBER = _table(pb.Channel.DESCRIPTOR, CHANNELS)
DEVICE_BY_NUMBER = _table(pb.DeviceType.DESCRIPTOR, DEVICES)
CATEGORY_BY_NUMBER = _table(pb.IssueCategory.DESCRIPTOR, ISSUE_CATEGORIES)
ACTION_NAMES = _names(pb.Action.DESCRIPTOR, ACTIONS)
FORMALITY_NAMES = _names(pb.Formality.DESCRIPTOR, FORMALITIES)
BAND_NAMES = _band_names(pb.EscalationBand.DESCRIPTOR)
