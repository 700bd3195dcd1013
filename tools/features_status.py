#!/usr/bin/env python
"""Every staged feature: age, TTL, days left and each promotion gate (see FEATURES/README.md).

    .venv/bin/python tools/features_status.py [--json]

The gates are run for real (ruff and pytest on each feature), exactly as promote_feature.py runs them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_lib import GATES, REPO, FeatureError, feature_names, load_feature, run_gates  # noqa: E402

KEYS = ("created", "age_days", "ttl_days", "days_left", "expired", "dest", "gates", "ready")


def status(root: Path) -> list[dict[str, Any]]:
    """One row per feature folder; ``error`` says why its metadata cannot be read (then no gates)."""
    rows = []
    for name in feature_names(root):
        try:
            f = load_feature(root, name)
        except FeatureError as e:
            rows.append({"name": name, **dict.fromkeys(KEYS), "error": str(e)})
            continue
        gates = run_gates(f)
        rows.append(
            {
                "name": name,
                "created": f.created.isoformat(),
                "age_days": f.age_days(),
                "ttl_days": f.ttl_days,
                "days_left": f.days_left(),
                "expired": f.expired(),
                "dest": f.dest,
                "gates": {g.name: {"ok": g.ok, "detail": g.detail} for g in gates},
                "ready": all(g.ok for g in gates),
                "error": None,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--root", type=Path, default=REPO, help="repository root (default: this checkout)")
    args = ap.parse_args(argv)
    rows = status(args.root)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    console = Console()
    if not rows:
        console.print("no staged features (create one with tools/new_feature.py NAME)")
        return 0
    table = Table("feature", "age (days)", "TTL", "days left", *GATES, title="FEATURES")
    notes = []
    for r in rows:
        if r["error"]:
            table.add_row(r["name"], *["-"] * (3 + len(GATES)))
            notes.append(r["error"])
            continue
        left = str(r["days_left"]) if not r["expired"] else f"[red]{r['days_left']} (expired)[/]"
        cells = ["[green]pass[/]" if r["gates"][g]["ok"] else "[red]FAIL[/]" for g in GATES]
        table.add_row(r["name"], str(r["age_days"]), str(r["ttl_days"]), left, *cells)
        notes += [f"{r['name']} {g}: {r['gates'][g]['detail']}" for g in GATES if not r["gates"][g]["ok"]]
    console.print(table)
    for line in notes:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
