"""Batch CLI: ``python -m analytics analyze INPUT [--out report.json] [--topics K] [--seed N] ...``.

INPUT is JSON Lines of ideas or a Pabulib ``.pb`` file (see :mod:`analytics.inputs`). The report (see
:meth:`analytics.domain.CorpusState.report`) is written to ``--out`` or stdout. ``--topics-from``: ``lda`` (topics
from an LDA over the texts), ``category`` (each idea's category — for .pb files the project's first listed
category — is its topic), ``auto`` (default: ``category`` when ≥ 90 % of ideas have a category, else ``lda``).
Progress goes to stderr; bad input exits with status 2 and a one-line reason.
"""
from __future__ import annotations

import argparse
import json
import sys

EPILOG = """examples:
  python -m analytics analyze ideas.jsonl --out report.json
  python -m analytics analyze Poland_Warszawa_2023_Bemowo.pb --topics-from category
  python -m analytics analyze ideas.jsonl --topics 8 --seed 7
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analytics", description="Agora analytics batch mode.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="topics, clusters and demographic breakdown of a set of ideas",
                       description="Analyse ideas from JSON Lines or a Pabulib .pb file and write a JSON report.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("input", help="JSONL file of ideas, or a Pabulib .pb file")
    a.add_argument("--out", "-o", help="write the JSON report here (default: stdout)")
    a.add_argument("--topics", "-k", type=int, default=None, metavar="K",
                   help="fix the number of LDA topics (default: chosen by c_v coherence x diversity)")
    a.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    a.add_argument("--topics-from", choices=("auto", "lda", "category"), default="auto",
                   help="topic of an idea: LDA over the text, its category, or auto (category when >=90%% of ideas "
                        "have one)")
    a.add_argument("--reference-year", type=int, default=None,
                   help="year used to turn birth years into ages (default: current year)")
    a.add_argument("--default-language", default="en", choices=("nl", "fr", "en", "da", "es", "de"),
                   help="language assumed when detection is unsure and no corpus majority exists (default en)")
    a.add_argument("--cluster-threshold", type=float, default=0.5, help="cosine linking similar ideas (0.5)")
    a.add_argument("--near-duplicate", type=float, default=0.8, help="cosine flagging near-duplicates (0.8)")
    a.add_argument("--passes", type=int, default=None, help="LDA passes (default 10)")
    a.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return p


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tqdm import tqdm

    from analytics.domain import analyze
    from analytics.inputs import InputError, load_input
    from analytics.text import TextPipeline
    from analytics.topics import TopicParams

    if args.topics is not None and args.topics < 1:
        return _fail("--topics must be >= 1")
    if not 0 < args.cluster_threshold <= 1 or not 0 < args.near_duplicate <= 1:
        return _fail("thresholds must be in (0, 1]")
    try:
        records = load_input(args.input)
    except InputError as exc:
        return _fail(str(exc))
    extra = {"passes": args.passes} if args.passes else {}
    params = TopicParams(k=args.topics, seed=args.seed, **extra)
    bar = tqdm(total=len(records) + 1, desc="ideas", unit="idea", file=sys.stderr, disable=args.quiet)

    def progress(items):
        for item in items:
            yield item
            bar.update(1)

    def note(stage: str) -> None:
        bar.set_description(stage)

    try:
        report = analyze(records, params=params, topics_from=args.topics_from, reference_year=args.reference_year,
                         pipeline=TextPipeline(default_language=args.default_language), progress=progress,
                         note=note, cluster_threshold=args.cluster_threshold, near_duplicate=args.near_duplicate)
    finally:
        bar.update(1)
        bar.close()
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError as exc:
            return _fail(f"{args.out}: {exc.strerror}")
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
