#!/usr/bin/env python
"""Promote a staged feature into production once its gates pass (see FEATURES/README.md).

    .venv/bin/python tools/promote_feature.py NAME [--dest PATH] [--dry-run]

Gates: ruff (ruff check on src/ and tests/), tests (pytest on tests/), docs (a non-empty docs/*.md),
config (every declared setting named in the docs), dest (a valid destination, nothing overwritten).
A failed gate is one line on stderr and exit code 1, with nothing moved. On success src/ moves to
the destination (--dest, else `dest` in feature.yaml), tests/ to tests/, docs/*.md to the `docs`
folder or README section of feature.yaml, and FEATURES/NAME is removed. --dry-run runs the gates and
prints the moves without making them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_lib import FEATURES, REPO, FeatureError, load_feature, promote, run_gates  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument("--dest", default=None, help="destination folder for src/ (overrides dest in feature.yaml)")
    ap.add_argument("--dry-run", action="store_true", help="run the gates and show the moves, change nothing")
    ap.add_argument("--root", type=Path, default=REPO, help="repository root (default: this checkout)")
    args = ap.parse_args(argv)
    try:
        feature = load_feature(args.root, args.name)
    except FeatureError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    gates = run_gates(feature, args.dest)
    failed = [g for g in gates if not g.ok]
    for g in failed:
        print(f"gate {g.name} failed: {g.detail}", file=sys.stderr)
    if failed:
        print(f"not promoted: {len(failed)} of {len(gates)} gates failed; nothing was moved", file=sys.stderr)
        return 1
    print(f"gates passed: {', '.join(g.name for g in gates)}")
    try:
        for line in promote(feature, args.dest, dry_run=args.dry_run):
            print(line)
    except (FeatureError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not args.dry_run:
        print(f"promoted {FEATURES}/{feature.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
