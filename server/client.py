"""``python -m server.client --customer-id ID [...]``: ask a running server for a decision.

Example::

    python -m server.client --customer-id C000123 --channel web_chat --device desktop \\
        --category billing --sentiment -0.3 --time-zone Europe/Paris --json

Against a TLS server add ``--ca ca.pem`` (and ``--cert``/``--key`` for mutual TLS);
the API key comes from ``$PERSONALIZATION_CLIENT_API_KEY`` or ``--api-key-file``.
"""

from __future__ import annotations

import argparse
import sys
import uuid

import grpc
from google.protobuf import json_format

from modelio.vocab import CHANNELS, DEVICES, ISSUE_CATEGORIES
from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.security import client_tls


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m server.client", description=__doc__)
    p.add_argument("--customer-id", required=True)
    p.add_argument("--target", default="localhost:50051", help="server host:port")
    p.add_argument("--channel", choices=CHANNELS, default=CHANNELS[0])
    p.add_argument("--device", choices=DEVICES, default=DEVICES[0])
    p.add_argument("--category", choices=ISSUE_CATEGORIES, default=ISSUE_CATEGORIES[-1])
    p.add_argument("--sentiment", type=float, default=0.0, help="in [-1, 1]")
    p.add_argument("--time-zone", default="UTC", help="IANA name, e.g. Europe/Paris")
    p.add_argument("--locale", default="", help="e.g. en-US")
    p.add_argument("--turn-index", type=int, default=1)
    p.add_argument(
        "--conversation-id", default="", help="keep conversation state across calls (optional)"
    )
    p.add_argument("--request-id", default="", help="default: a random id")
    p.add_argument("--timeout", type=float, default=5.0, help="deadline in seconds")
    p.add_argument("--json", action="store_true", help="print the response as JSON")
    client_tls.add_arguments(p)
    return p


def build_request(args: argparse.Namespace) -> pb.DecideRequest:
    """DecideRequest from parsed flags; event_time is left unset (server uses now)."""
    return pb.DecideRequest(
        customer_id=args.customer_id,
        request_id=args.request_id or uuid.uuid4().hex,
        conversation_id=args.conversation_id,
        context=pb.TurnContext(
            # Enum fields accept value names; the proto mirrors the vocab by name.
            channel=f"CHANNEL_{args.channel.upper()}",
            device_type=f"DEVICE_TYPE_{args.device.upper()}",
            issue_category=f"ISSUE_CATEGORY_{args.category.upper()}",
            sentiment=args.sentiment,
            time_zone=args.time_zone,
            locale=args.locale,
            turn_index=args.turn_index,
        ),
    )


def age_text(seconds: float) -> str:
    """A duration for people: ``42.0 s``, ``3 min 20 s``, ``11 h 23 min``, ``2 d 4 h``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def format_response(r: pb.DecideResponse) -> str:
    """A few human-readable lines."""
    nba = r.next_best_action
    alternatives = ", ".join(
        f"{pb.Action.Name(a.action)}={a.predicted_success:.2f}" for a in nba.alternatives
    )
    lines = [
        f"decision       {r.decision_id} (model {r.model_version})",
        f"segment        {r.segment.id} {r.segment.name}",
        f"escalation     {r.escalation_risk.probability:.3f} "
        f"{pb.EscalationBand.Name(r.escalation_risk.band)}",
        f"next action    {pb.Action.Name(nba.action)} success={nba.predicted_success:.3f} "
        f"propensity={nba.propensity:.3f} reasons={list(nba.reason_codes)}",
        f"alternatives   {alternatives or '-'}",
        f"style          {pb.Formality.Name(r.style.formality)} language={r.style.language or '-'}",
        f"personalized   {r.personalized} {r.not_personalized_reason}".rstrip(),
    ]
    if r.degraded:
        lines.append(f"degraded       {list(r.degraded_reasons)}")
    if r.HasField("feature_age"):
        lines.append(f"feature age    {age_text(r.feature_age.ToTimedelta().total_seconds())}")
    if r.HasField("realtime_age"):
        lines.append(f"realtime age   {age_text(r.realtime_age.ToTimedelta().total_seconds())}")
    if r.realtime_fallback_reasons:
        lines.append(
            f"realtime       fell back to the batch profile: {list(r.realtime_fallback_reasons)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    request = build_request(args)
    with client_tls.channel(args, args.target) as channel:
        stub = pb_grpc.PersonalizationServiceStub(channel)
        try:
            response = stub.Decide(
                request, timeout=args.timeout, metadata=client_tls.metadata(args)
            )
        except grpc.RpcError as exc:
            print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)  # type: ignore[attr-defined]
            return 1
    if args.json:
        print(json_format.MessageToJson(response, preserving_proto_field_name=True))
    else:
        print(format_response(response))
    return 0


if __name__ == "__main__":
    sys.exit(main())
