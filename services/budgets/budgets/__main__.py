"""Command line: ``python -m budgets {outcome,export,import} ...`` (see ``--help``).

Errors exit with code 2 and a one-line reason on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys

from budgets import pabulib_io as pabulib
from budgets.rules import RULES, UnknownRule, count, rule_from_pabulib

EPILOG = """Pabulib rule names used when --rule is omitted: greedy, greedy-no-skip (-> greedy-stop),
greedy-threshold, equalshares (-> mes), equalshares/add1 (-> mes-add1), equalshares/add1-comparison
(-> mes-exhaust, reproduces Wieliczka 2023), phragmen."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m budgets", description="Agora participatory budgeting tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    out = sub.add_parser("outcome", help="count a Pabulib .pb file", epilog=EPILOG,
                         description="Count the round in FILE.pb and print the selected project ids and total cost.")
    out.add_argument("file", metavar="FILE.pb")
    out.add_argument("--rule", choices=RULES, help="counting rule (default: the file's META 'rule')")
    out.add_argument("--tie-breaking", default="cost,votes,id",
                     help="comma-separated criteria among cost,-cost,votes,score,id (default: %(default)s)")
    out.add_argument("--threshold",
                     help="minimal score for greedy-threshold (default: META min_project_score_threshold)")
    out.add_argument("--json", action="store_true", help='print {"selected": [ids], "total_cost": number}')
    out.add_argument("--details", action="store_true", help="with --json: include per-project results")
    exp = sub.add_parser("export", help="re-export a .pb file in canonical form (validates it)",
                         description="Read FILE.pb strictly and write it back canonically to OUT (or stdout).")
    exp.add_argument("file", metavar="FILE.pb")
    exp.add_argument("-o", "--output", help="output path (default: stdout)")
    imp = sub.add_parser("import", help="convert a .pb file into domain events (JSON lines)",
                         description="Print the RoundOpened/ProjectAdded/BallotCast/RoundClosed events of FILE.pb.")
    imp.add_argument("file", metavar="FILE.pb")
    imp.add_argument("--round-id", default="round-1")
    imp.add_argument("--tenant-id", default="tenant-1")
    imp.add_argument("--project-id", default="project-1")
    return parser


def _outcome(args) -> int:
    instance = pabulib.load(args.file)
    rule = args.rule or rule_from_pabulib(instance.rule)
    progress = None
    if rule in ("mes-add1", "mes-exhaust") and sys.stderr.isatty():   # progress bars on a terminal only
        from tqdm import tqdm

        bar = tqdm(desc=f"{rule}: reruns", unit="run", file=sys.stderr, leave=False)
        progress = lambda _budget: bar.update(1)  # noqa: E731
    result = count(instance, rule, tie_breaking=args.tie_breaking.split(","), threshold=args.threshold,
                   progress=progress)
    total = result.total_cost
    total_num = int(total) if total.denominator == 1 else float(total)
    if args.json:
        obj = {"selected": [str(p) for p in result.selected], "total_cost": total_num, "rule": rule}
        if args.details:
            obj["result"] = result.to_dict()
        print(json.dumps(obj, ensure_ascii=False))
    else:
        print(f"rule: {rule}")
        print("selected: " + " ".join(result.selected))
        print(f"total_cost: {total_num}")
    return 0


def _export(args) -> int:
    text = pabulib.dumps(pabulib.load(args.file))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _import(args) -> int:
    events = pabulib.instance_to_events(pabulib.load(args.file), round_id=args.round_id,
                                        tenant_id=args.tenant_id, project_id=args.project_id)
    for event in events:
        print(json.dumps({"type": event.type, "data": event.data}, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from agora.errors import AgoraError

    try:
        return {"outcome": _outcome, "export": _export, "import": _import}[args.command](args)
    except (pabulib.PabulibError, UnknownRule, AgoraError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
