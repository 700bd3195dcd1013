"""`playbook run` and `playbook validate`: YAML playbooks run headless, with exit codes CI can trust.

Progress goes to stderr, one line per step; stdout carries only the plan (--dry-run) or the final
summary line. Exit codes: 0 passed, 1 an assertion failed, 2 invalid playbook, 3 a step failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import yaml

from screenalytics.cli.app import cli, err_console, with_service
from screenalytics.playbook import INVALID, OK, PlaybookInvalid, check, plan, run_playbook
from screenalytics.playbook.runner import invalid_summary
from screenalytics.service import Service

VAR_HELP = "Override a var: NAME=VALUE (VALUE read as a YAML scalar: 3, true, text). Repeatable."


@cli.group("playbook")
def playbook() -> None:
    """YAML playbooks: named operations run in order, headless (CI). See playbooks/README.md."""


def _say(line: str) -> None:
    err_console.print(line, markup=False, highlight=False)


def _write(path: Path | None, data: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def _fail_invalid(e: PlaybookInvalid, file: Path, summary: Path | None = None) -> NoReturn:
    for problem in e.problems:
        _say(str(problem))
    _write(summary, invalid_summary(str(file), [str(p) for p in e.problems]).to_dict())
    sys.exit(INVALID)


@playbook.command("validate")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help=VAR_HELP)
def validate(file: Path, variables: tuple[str, ...]) -> None:
    """Check FILE without running it: every error as FILE:LINE:COL (exit 2), else "ok"."""
    try:
        check(file, list(variables))
    except PlaybookInvalid as e:
        _fail_invalid(e, file)
    click.echo("ok")


@playbook.command("run")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help=VAR_HELP)
@click.option("--dry-run", is_flag=True, help="Print the resolved plan (YAML) and run nothing.")
@click.option("--json", "summary", type=click.Path(path_type=Path, dir_okay=False), help="Write a JSON summary here.")
@with_service
def run(service: Service, file: Path, variables: tuple[str, ...], dry_run: bool, summary: Path | None) -> None:
    """Run FILE's steps in order. Exit 0 passed, 1 an assertion failed, 2 invalid playbook, 3 a step failed."""
    try:
        checked = check(file, list(variables))
    except PlaybookInvalid as e:
        _fail_invalid(e, file, summary)
    if dry_run:
        steps = plan(checked)
        click.echo(yaml.safe_dump(steps, sort_keys=False, allow_unicode=True, width=120), nl=False)
        _write(summary, {"name": steps["name"], "file": steps["file"], "status": "dry_run", "exit_code": OK, "plan": steps})
        return
    result = run_playbook(checked, service, progress=_say)
    _write(summary, result.to_dict())
    ran = sum(1 for s in result.steps if s.status != "not_run")
    click.echo(
        f"{result.name}: {result.status} (exit {result.exit_code}), {ran}/{len(result.steps)} steps in {result.duration_s:.1f} s"
    )
    sys.exit(result.exit_code)
