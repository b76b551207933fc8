"""Batch CLI: ``python -m analytics analyze INPUT [--out report.json] [--topics K] [--seed N] ...``.

INPUT is JSON Lines of ideas or a Pabulib ``.pb`` file (see :mod:`analytics.inputs`). The report (see
:meth:`analytics.domain.CorpusState.report`) is written to ``--out`` or stdout. ``--topics-from``: ``lda`` (topics
from an LDA over the texts), ``category`` (each idea's category — for .pb files the project's first listed
category — is its topic), ``auto`` (default: ``category`` when ≥ 90 % of ideas have a category, else ``lda``).
The report keeps its contract (``topics``, ``assignments``, ``clusters``, ``segments``) and adds ``junk`` (posts set
aside, with counts), ``summaries`` (cited sentences per topic and cluster, plain-sentence differences) and
``k_selection`` (the candidates' scores). ``--html``/``--pdf`` also write the input report as a self-contained page
and a PDF (headless Chromium). Progress goes to stderr; bad input exits with status 2 and a one-line reason.
"""
from __future__ import annotations

import argparse
import json
import sys

EPILOG = """examples:
  python -m analytics analyze ideas.jsonl --out report.json
  python -m analytics analyze Poland_Warszawa_2023_Bemowo.pb --topics-from category
  python -m analytics analyze ideas.jsonl --topics 8 --seed 7
  python -m analytics analyze ideas.jsonl --out report.json --html report.html --pdf report.pdf --language nl
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
    a.add_argument("--default-language", default="en", choices=("nl", "fr", "en", "da", "es", "de", "pl"),
                   help="language assumed when detection is unsure and no corpus majority exists (default en)")
    a.add_argument("--cluster-threshold", type=float, default=0.5, help="cosine linking similar ideas (0.5)")
    a.add_argument("--near-duplicate", type=float, default=0.8, help="cosine flagging near-duplicates (0.8)")
    a.add_argument("--passes", type=int, default=None, help="LDA passes (default: 5, or AGORA_ANALYTICS_PASSES)")
    a.add_argument("--language", default=None, choices=("nl", "fr", "en", "da", "es", "de", "pl"),
                   help="language of labels and sentences (the tenant's; default: the corpus' majority)")
    a.add_argument("--min-cell-size", type=int, default=None,
                   help="smallest group of people shown in the statistics (default AGORA_MIN_CELL_SIZE or 5)")
    a.add_argument("--min-lift", type=float, default=1.25,
                   help="smallest effect flagged: lift >= this or <= 1/this (default 1.25)")
    a.add_argument("--taxonomy", default=None, help="JSON file of the city's own concepts (added to the shipped ones)")
    a.add_argument("--html", default=None, help="also write the input report as a self-contained HTML page")
    a.add_argument("--pdf", default=None, help="also write the input report as a PDF (needs chromium)")
    a.add_argument("--title", default=None, help="title of the HTML/PDF report (default: the input file name)")
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
    if args.min_cell_size is not None and args.min_cell_size < 1:
        return _fail("--min-cell-size must be >= 1")
    if args.min_lift < 1:
        return _fail("--min-lift must be >= 1")
    taxonomy = "default"
    if args.taxonomy:
        from analytics.taxonomy import load
        try:
            taxonomy = load(args.taxonomy)
        except (OSError, ValueError) as exc:
            return _fail(f"{args.taxonomy}: {exc}")
    if not 0 < args.cluster_threshold <= 1 or not 0 < args.near_duplicate <= 1:
        return _fail("thresholds must be in (0, 1]")
    try:
        records = load_input(args.input)
    except InputError as exc:
        return _fail(str(exc))
    extra = {"passes": args.passes} if args.passes else {}
    params = TopicParams(k=args.topics, seed=args.seed, **extra)
    bar = tqdm(total=len(records) + 1, desc="ideas", unit="idea", file=sys.stderr,
               disable=args.quiet or not sys.stderr.isatty())

    def progress(items):
        for item in items:
            yield item
            bar.update(1)

    def note(stage: str) -> None:
        bar.set_description(stage)

    try:
        report = analyze(records, params=params, topics_from=args.topics_from, reference_year=args.reference_year,
                         pipeline=TextPipeline(default_language=args.default_language, taxonomy=taxonomy),
                         progress=progress, note=note, cluster_threshold=args.cluster_threshold,
                         near_duplicate=args.near_duplicate, language=args.language,
                         min_cell_size=args.min_cell_size, min_lift=args.min_lift)
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
    if args.html or args.pdf:
        from pathlib import Path

        from analytics.render import html_report, pdf_from_html
        titles = {r["id"]: r.get("title") or "" for r in records}
        page = html_report(report, title=args.title or Path(args.input).name, titles=titles)
        try:
            if args.html:
                Path(args.html).write_text(page, encoding="utf-8")
            if args.pdf:
                Path(args.pdf).write_bytes(pdf_from_html(page))
        except OSError as exc:
            return _fail(f"{exc.filename}: {exc.strerror}")
        except RuntimeError as exc:
            return _fail(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
