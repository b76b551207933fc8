"""Analytics bench: full LDA retrain vs raw gensim, one-idea online update latency, peak memory.

Corpus: Decide Madrid proposals (junk dropped) + UK petition titles from the shared data folder, repeated with
seeded perturbation (token dropout + shuffle) up to N ideas (10,000; --quick: 3,000). Figures:

* ``retrain_vs_raw_gensim`` — wall time of ``analytics.topics.retrain(docs, TopicParams(k=K))`` (bigrams,
  dictionary, LDA, c_v + diversity, assignments) / wall time of raw gensim on the same tokens with the same
  parameters (``Dictionary`` + ``filter_extremes`` + ``doc2bow`` + ``LdaModel(**params.lda_kwargs(K))``), measured
  in the same run. Goal ≤ 1.5.
* ``update_p95_ms`` — p95 of ``CorpusState.add_idea`` with the model installed and online updates on (text
  analysis + online LDA update + assignment), one idea at a time, at N ideas. Goal ≤ 1000 ms.
* ``peak_rss_mb`` — peak resident memory of the process.
* ``whole`` — the whole analysis (text pipeline, junk filter, topic model with k selection and concept seeds,
  clusters, voter-level statistics, summaries: ``analytics.domain.analyze``) of generated multilingual ideas
  (``services/analytics/tests/analytics_synthetic.py``: five concerns in seven languages, 5 % junk,
  demographics, ~3 votes per idea by a pool of voters), each size in its own process: CPU seconds, peak RSS,
  CPU seconds per 1,000 ideas, and the growth of that per-idea cost from the small to the large size (≤ 1 means
  no worse than linear). Sizes:
  10,000 and 100,000 (goals: ≤ 600 CPU s and ≤ 1.5 GB at 100,000); ``--quick``: 1,000 and 5,000. ``--whole-only``
  skips the rest.

Prints one JSON object on its last line and writes it to bench/results/analytics.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# this file is named like the package it benchmarks: keep bench/ off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
# the corpus loaders and the generated corpus are test helpers (services/analytics/tests), not shipped code
sys.path.append(str(ROOT / "services" / "analytics" / "tests"))


def shared_dir() -> Path:
    env = os.environ.get("AGORA_SHARED_DIR")
    return Path(env) if env else ROOT.parent / "shared"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller corpus and fewer passes (< 1 minute)")
    ap.add_argument("--ideas", type=int, default=None, help="corpus size (default 10000; quick 3000)")
    ap.add_argument("--topics", type=int, default=10, help="number of topics (default 10)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds, best kept (default 2)")
    ap.add_argument("--updates", type=int, default=None, help="online updates timed (default 100; quick 30)")
    ap.add_argument("--whole-sizes", default=None, help="sizes of the whole-analysis runs (default 10000,100000; "
                                                          "quick 1000,5000)")
    ap.add_argument("--whole-only", action="store_true", help="only the whole-analysis runs")
    ap.add_argument("--whole-child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.whole_child:
        print(json.dumps(whole_analysis(args.whole_child)))
        return 0
    sizes = [int(x) for x in (args.whole_sizes or ("1000,5000" if args.quick else "10000,100000")).split(",")]
    whole = run_whole(sizes)
    if args.whole_only:
        result = {"bench": "analytics", "quick": args.quick, "whole": whole}
        out = ROOT / "bench" / "results" / "analytics.json"
        previous = json.loads(out.read_text()) if out.exists() else {}
        previous.update(result)
        out.write_text(json.dumps(previous, indent=1) + "\n")
        print(json.dumps(result))
        return 0
    n_ideas = args.ideas or (3000 if args.quick else 10000)
    n_updates = args.updates or (30 if args.quick else 100)

    from gensim.corpora import Dictionary
    from gensim.models import LdaModel
    import numpy as np

    from analytics_datasets import load_decide_madrid, load_uk_petitions
    from analytics.domain import CorpusState, IdeaRecord
    from analytics.text import AnalyzedText, TextPipeline
    from analytics.topics import TopicParams, retrain

    data = shared_dir() / "data" / "ideas"
    madrid_path, uk_path = data / "decide_madrid_proposals_latest.csv", data / "uk_closed-petitions.csv"
    for p in (madrid_path, uk_path):
        if not p.exists():
            print(f"error: {p} not found (set AGORA_SHARED_DIR)", file=sys.stderr)
            return 2
    records = load_decide_madrid(madrid_path) + load_uk_petitions(uk_path)
    rng = random.Random(42)
    rng.shuffle(records)
    held_out, records = records[:n_updates], records[n_updates:]

    pipe = TextPipeline()
    t0 = time.perf_counter()
    base = [(r["id"], pipe.analyze(r["text"], fallback="es" if r["id"].startswith("madrid") else "en"))
            for r in records]
    analyse_s = time.perf_counter() - t0
    docs, surfaces = [], []
    i = 0
    while len(docs) < n_ideas:
        idea_id, a = base[i % len(base)]
        tokens, words = list(a.tokens), list(a.surfaces)
        if i >= len(base):  # perturbed copy: drop ~20 % of the tokens, shuffle the rest
            keep = [j for j in range(len(tokens)) if rng.random() > 0.2]
            rng.shuffle(keep)
            tokens, words = [tokens[j] for j in keep], [words[j] for j in keep]
            idea_id = f"{idea_id}~{i // len(base)}"
        docs.append((idea_id, tuple(tokens)))
        surfaces.append((tuple(tokens), tuple(words)))
        i += 1
    unique = min(len(base), n_ideas)
    params = TopicParams(k=args.topics, passes=5 if args.quick else 10, seed=42)

    def raw_gensim():  # same tokens, same parameters
        texts = [list(t) for _, t in docs]
        dictionary = Dictionary(texts)
        dictionary.filter_extremes(no_below=params.no_below, no_above=params.no_above, keep_n=params.keep_n)
        bows = [b for b in (dictionary.doc2bow(t) for t in texts) if b]
        return LdaModel(corpus=bows, id2word=dictionary, dtype=np.float64, **params.lda_kwargs(params.k))

    def timed(fn):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.perf_counter() - w, time.process_time() - c

    # interleaved rounds, best of each (the machine may be shared): raw, ours, raw, ours
    raw_runs, our_runs = [], []
    for _ in range(args.rounds):
        raw_runs.append(timed(raw_gensim)[1:])
        model, *t = timed(lambda: retrain(docs, params))
        our_runs.append(tuple(t))
    raw_s, raw_cpu = min(r[0] for r in raw_runs), min(r[1] for r in raw_runs)
    ours_s, ours_cpu = min(r[0] for r in our_runs), min(r[1] for r in our_runs)

    # online updates at n_ideas
    state = CorpusState(pipeline=pipe, params=params, online=True, fallback_language="es")
    for (idea_id, _), (toks, words) in zip(docs, surfaces):  # replay the (already analysed) corpus
        state.ideas[idea_id] = IdeaRecord(idea_id, " ".join(words), AnalyzedText("es", toks, words))
        state.surfaces.add(toks, words)
    state.install_model(model)
    times = []
    for r in held_out:
        t0 = time.perf_counter()
        state.add_idea(r["id"], r["text"])
        times.append((time.perf_counter() - t0) * 1000)
    p95 = float(np.percentile(times, 95))

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "bench": "analytics", "quick": args.quick, "ideas": len(docs), "unique_texts": unique,
        "source_texts": len(base) + len(held_out), "topics": params.k, "passes": params.passes,
        "vocabulary": len(model.dictionary), "analyse_texts_s": round(analyse_s, 2),
        "retrain_s": round(ours_s, 2), "raw_gensim_s": round(raw_s, 2),
        "retrain_vs_raw_gensim": round(ours_s / raw_s, 3), "retrain_goal": 1.5,
        "retrain_cpu_s": round(ours_cpu, 2), "raw_gensim_cpu_s": round(raw_cpu, 2),
        "retrain_vs_raw_gensim_cpu": round(ours_cpu / raw_cpu, 3), "rounds": args.rounds,
        "coherence": model.quality["coherence"], "diversity": model.quality["diversity"],
        "updates_timed": len(times), "update_p50_ms": round(float(np.percentile(times, 50)), 2),
        "update_p95_ms": round(p95, 2), "update_goal_ms": 1000,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "whole": whole,
    }
    out = ROOT / "bench" / "results" / "analytics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


def synthetic_records(n: int, seed: int = 11) -> list[dict]:
    """Generated multilingual ideas with junk, demographics and voters (see the module docstring)."""
    from analytics_synthetic import multilingual_corpus

    rng = random.Random(seed)
    records = multilingual_corpus(n, seed=seed)
    n_voters = max(50, n // 2)
    years = [rng.randint(1940, 2008) for _ in range(n_voters)]
    genders = [rng.choice(["female", "male"]) for _ in range(n_voters)]
    for i, r in enumerate(records):
        r.pop("language", None)
        r["demographics"] = {"birthyear": rng.randint(1940, 2008), "gender": rng.choice(["female", "male"])}
        r["votes"] = [{"voter_id": f"v{v}", "demographics": {"birthyear": years[v], "gender": genders[v]}}
                      for v in (rng.randrange(n_voters) for _ in range(rng.randint(0, 6)))]
        if i % 20 == 19:                                     # 5 % junk: probes and mashing
            r["text"] = rng.choice(["SSRF Test 3 - 1741429643", "asdfghjkl qwertyuiop", "http://x.example/a"])
    return records


def whole_analysis(n: int) -> dict:
    from analytics.domain import analyze
    from analytics.topics import TopicParams

    records = synthetic_records(n)
    c0 = time.process_time()
    report = analyze(records, params=TopicParams(seed=42), topics_from="lda", reference_year=2026, language="en")
    cpu = time.process_time() - c0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"ideas": n, "cpu_s": round(cpu, 2), "peak_rss_mb": round(peak_kb / 1024, 1),
            "cpu_s_per_1000_ideas": round(cpu / n * 1000, 3), "k": report["quality"]["k"],
            "junk": report["junk"]["count"], "clusters": len(report["clusters"]),
            "largest_cluster": max((c["size"] for c in report["clusters"]), default=0),
            "significant_cells": sum(1 for r in report["segments"] if r["significant"])}


def run_whole(sizes: list[int]) -> dict:
    import subprocess

    runs = []
    for n in sizes:
        proc = subprocess.run([sys.executable, __file__, "--whole-child", str(n)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"whole analysis of {n} ideas failed: {proc.stderr.strip().splitlines()[-1:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    out = {"runs": runs, "cpu_goal_s_at_100k": 600, "rss_goal_mb_at_100k": 1536}
    if len(runs) >= 2:
        out["per_idea_growth"] = round(runs[-1]["cpu_s_per_1000_ideas"] / runs[0]["cpu_s_per_1000_ideas"], 3)
    return out


if __name__ == "__main__":
    sys.exit(main())
