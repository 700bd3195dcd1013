#!/usr/bin/env python
"""Stage a new feature: FEATURES/NAME/{src,tests,docs,TODO.md,feature.yaml} (see FEATURES/README.md).

    .venv/bin/python tools/new_feature.py NAME [--ttl-days 30] [--created YYYY-MM-DD] [--dest plugins/]

NAME is a lowercase Python identifier (letters, digits, _); an existing feature is refused.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_lib import DEFAULT_DEST, DEFAULT_TTL_DAYS, FEATURES, REPO, FeatureError, create_feature  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument(
        "--ttl-days", type=int, default=DEFAULT_TTL_DAYS, help=f"days until CI fails on it (default {DEFAULT_TTL_DAYS})"
    )
    ap.add_argument("--created", type=date.fromisoformat, default=None, help="creation date, YYYY-MM-DD (default today)")
    ap.add_argument("--dest", default=DEFAULT_DEST, help=f"where src/ goes on promotion (default {DEFAULT_DEST})")
    ap.add_argument("--root", type=Path, default=REPO, help="repository root (default: this checkout)")
    args = ap.parse_args(argv)
    try:
        f = create_feature(args.root, args.name, created=args.created, ttl_days=args.ttl_days, dest=args.dest)
    except FeatureError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(
        f"created {FEATURES}/{f.name}/ (src/, tests/, docs/, TODO.md, feature.yaml): TTL {f.ttl_days} days "
        f"from {f.created.isoformat()}, promotes to {f.dest}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
