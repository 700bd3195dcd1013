"""Rewrite the playbook JSON Schema from the pydantic models: the packaged copy the validator uses
(core/playbook/playbook.schema.json) and the one editors point at (playbooks/schema/). Run it after
changing core/playbook/model.py; tests/test_playbook.py fails while either file is stale.

    .venv/bin/python tools/gen_playbook_schema.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

from screenalytics.playbook.model import SCHEMA_FILE, schema_text

REPO = Path(__file__).resolve().parents[1]
TARGETS = [REPO / "core" / "playbook" / SCHEMA_FILE, REPO / "playbooks" / "schema" / SCHEMA_FILE]


def main(argv: list[str]) -> int:
    text = schema_text()
    stale = [p for p in TARGETS if not p.is_file() or p.read_text() != text]
    if "--check" in argv:
        for p in stale:
            print(f"stale: {p.relative_to(REPO)} (run tools/gen_playbook_schema.py)", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        print(f"wrote {p.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
