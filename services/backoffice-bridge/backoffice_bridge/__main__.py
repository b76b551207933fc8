"""Command line: ``python -m backoffice_bridge render --format FORMAT DECISION.json`` (``-`` reads stdin).

Errors (unreadable file, malformed JSON, invalid decision, bad options) exit with code 2 and one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional, Sequence

from backoffice_bridge import domain
from backoffice_bridge.inbound import MEDIA_TYPES as INBOUND_MEDIA_TYPES
from backoffice_bridge.inbound import parse_inbound
from backoffice_bridge.renderers import FORMATS, render
from backoffice_bridge.schemas import load_decision
from backoffice_bridge.vocab import OFFICIAL_CONTEXT_URL

EPILOG = """\
formats:
  oslo-ttl     OSLO Besluit publicatie (Flemish decision publication), Turtle
  oslo-jsonld  the same graph as JSON-LD, using the official OSLO context by reference
  akn          Akoma Ntoso 3.0 XML (<doc name="decision"> with FRBR metadata)
  popolo       Popolo JSON: {"motion", "vote_event", "votes"}
  csv          one row per decision subject, stable columns (see the package README)

examples:
  python -m backoffice_bridge render --format oslo-ttl decision.json
  cat decision.json | python -m backoffice_bridge render --format csv -
  python -m backoffice_bridge render --format akn --country nl decision.json > decision.akn.xml
  python -m backoffice_bridge inbound --media-type text/turtle besluit.ttl

exit codes: 0 ok, 2 bad input or usage (one-line reason on stderr)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse would print the usage block too)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as fh:
        return fh.read()


def _load_json(raw: bytes, what: str):
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON in {what}: {exc.msg} (line {exc.lineno} column {exc.colno})") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m backoffice_bridge",
                     description="Agora back-office bridge: render decisions for back-office systems and parse "
                                 "decisions they post back.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    r = sub.add_parser("render", help="render a Decision JSON document in a back-office format",
                       description="Render a Decision JSON document (see the package README for its fields).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("decision", metavar="DECISION.json", help="the decision as JSON; '-' reads standard input")
    r.add_argument("--format", "-f", required=True, choices=FORMATS, help="output format")
    r.add_argument("--base", default=domain.DEFAULT_BASE,
                   help="IRI base template for minted IRIs, may contain {tenant} (default: %(default)s)")
    r.add_argument("--country", default="be", help="AKN FRBRcountry (ISO 3166-1 alpha-2, default: be)")
    r.add_argument("--no-escape-formulas", action="store_true",
                   help="csv: do not prefix free-text cells starting with = + - @ with a quote")

    i = sub.add_parser("inbound", help="parse a decision posted by a back-office into status change commands",
                       description="Parse a posted decision (our JSON, OSLO Turtle or OSLO JSON-LD) and print the "
                                   "idea status change commands as JSON.")
    i.add_argument("document", help="the posted body; '-' reads standard input")
    i.add_argument("--media-type", "-t", required=True, choices=sorted(INBOUND_MEDIA_TYPES),
                   help="the body's media type")
    i.add_argument("--context", metavar="FILE", default=os.environ.get("AGORA_BRIDGE_OSLO_CONTEXT"),
                   help="a JSON-LD context file for the official OSLO context URL (never fetched; default: "
                        "$AGORA_BRIDGE_OSLO_CONTEXT, else the terms shipped with the package)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            domain.IriMinter(args.base)  # validates the base before reading anything
            decision = load_decision(_load_json(_read(args.decision), "the decision"))
            out = render(decision, args.format, base=args.base, country=args.country,
                         escape_formulas=not args.no_escape_formulas)
        else:
            contexts = None                  # the terms shipped with the package
            if args.context:
                contexts = {}
                contexts[OFFICIAL_CONTEXT_URL] = _load_json(_read(args.context), args.context)
            commands = parse_inbound(_read(args.document), args.media_type, contexts=contexts)
            out = json.dumps(commands, ensure_ascii=False, indent=2) + "\n"
    except (OSError, ValueError) as exc:  # DecisionInvalid and InboundError are ValueErrors
        reason = exc.strerror + f": {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"error: {' '.join(reason.split())}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(out.encode("utf-8"))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
