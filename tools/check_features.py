#!/usr/bin/env python
"""CI check of the FEATURES staging area (see FEATURES/README.md): production code (core/, plugins/,
stores/, mcp_servers/) never reaches into FEATURES (imports, dynamic imports, sys.path entries, paths
naming the folder), and no feature is past its TTL.

    .venv/bin/python tools/check_features.py [--root PATH]

Prints one line per problem and exits 1; exits 0 when there is none.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_lib import PRODUCTION, REPO, feature_names, production_problems, ttl_problems  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=REPO, help="repository root (default: this checkout)")
    args = ap.parse_args(argv)
    if not any((args.root / folder).is_dir() for folder in PRODUCTION):
        print(f"error: {args.root} is not a repository root (none of {', '.join(PRODUCTION)} there)", file=sys.stderr)
        return 1
    problems = production_problems(args.root) + ttl_problems(args.root)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 1
    print(f"features ok: {len(feature_names(args.root))} staged, none expired, no production code imports from FEATURES")
    return 0


if __name__ == "__main__":
    sys.exit(main())
