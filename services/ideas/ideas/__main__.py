"""CLI of the ideas service.

    python -m ideas rebuild          drop the read models and rebuild them from the event store
    python -m ideas similar PROJECT TEXT --tenant demo
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ideas", description="Agora ideas service tools "
                                     "(uses AGORA_MONGO_URI / AGORA_MONGO_DB).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("rebuild", help="drop the ideas_* read models and replay the event log into them "
                                   "(stop the service first)")
    sim = sub.add_parser("similar", help="print ideas similar to TEXT in a project")
    sim.add_argument("project_id")
    sim.add_argument("text")
    sim.add_argument("--tenant", default="demo")
    sim.add_argument("--limit", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        from agora.store import open_store
        from ideas import projections
        store = open_store()
        db = store.db
        if args.cmd == "rebuild":
            n = projections.rebuild(store, db)
            print(f"rebuilt the ideas read models from {n} events", file=sys.stderr)
        else:
            from ideas.similarity import SimilarityIndex
            index = SimilarityIndex(projections.similarity_candidates(db, args.tenant, args.project_id))
            for m in index.query(args.text, limit=args.limit):
                print(f"{m.score:.3f}\t{m.idea_id}")
    except Exception as exc:  # noqa: BLE001 - one-line reason, exit code 2
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
