"""The ``screenalytics`` click group and what every command shares: --config, one-line errors,
tables and JSON output. Commands are thin calls into ``screenalytics.service``."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from screenalytics import __version__
from screenalytics.errors import ScreenalyticsError
from screenalytics.service import Service

CONFIG_HELP = "YAML settings overriding the defaults (same keys as `screenalytics config`)."
out_console = Console(soft_wrap=True, emoji=False)  # ids are data: ":lock:" prints as typed
err_console = Console(stderr=True, soft_wrap=True, emoji=False)


def one_line(text: str) -> str:
    """A message on one line: later lines (a library's detail) joined with '; '."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def fail(message: str, exit_code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(one_line(message))}", highlight=False, soft_wrap=True)
    sys.exit(exit_code)


def _problem(err: Any) -> str:
    """One pydantic error as ``field: reason``."""
    return f"{'.'.join(map(str, err['loc'])) or 'input'}: {err['msg'].removeprefix('Value error, ')}"


class ScreenalyticsGroup(click.Group):
    """Turns every error into a one-line reason and a non-zero exit, never a traceback: ours as they
    are, invalid input models, and the operating system's (a read-only or full disk...). Anything
    else is a bug, reported in one line too (SCREENALYTICS_DEBUG=1 shows its traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # usage errors (exit 2) and --help/--version: click reports them itself
        except ScreenalyticsError as e:
            fail(str(e), e.exit_code)
        except ValidationError as e:
            fail("bad input: " + "; ".join(_problem(x) for x in e.errors()))
        except OSError as e:
            where = f": {ascii(e.filename)[1:-1]}" if e.filename else ""
            fail(f"{e.strerror or e}{where}")
        except Exception as e:
            if os.environ.get("SCREENALYTICS_DEBUG"):
                raise
            fail(f"internal error ({type(e).__name__}: {one_line(str(e))[:300]}); SCREENALYTICS_DEBUG=1 shows the traceback")


@click.group(cls=ScreenalyticsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="screenalytics")
def cli() -> None:
    """Screenalytics: who is on screen in a TV episode, who is talking, and for how long.

    Start with `screenalytics run EPISODE.mp4 --facebank CAST_DIR`. Settings come from the
    packaged defaults, a YAML file (--config) and SCREENALYTICS_* environment variables;
    `screenalytics config` prints them.
    """


def safe_id(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A click callback for episode and show ids: they key stored rows and artifacts, so an unsafe
    one (``../x``, too long) is a one-line error before anything runs."""
    from screenalytics.service.preflight import check_id

    return value if value is None else check_id(value, (param.name or "id").replace("_", " "))


def with_service(f: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --config (declared here once) and hands the command a ``service`` built from it."""

    @click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help=CONFIG_HELP)
    @functools.wraps(f)
    def wrapper(*args: Any, config_file: Path | None, **kwargs: Any) -> Any:
        return f(*args, service=Service(config_file=config_file), **kwargs)

    return wrapper


def print_rows(
    rows: list[BaseModel] | list[dict[str, Any]], columns: list[str], title: str | None = None, whole: int = 1
) -> None:
    """A table of ``columns``; the first ``whole`` columns are never wrapped (ids stay copyable)."""
    table = Table(title=title)
    for i, c in enumerate(columns):
        table.add_column(c, no_wrap=i < whole)
    for r in rows:
        d = r.model_dump() if isinstance(r, BaseModel) else r
        table.add_row(
            *[
                escape("; ".join(map(str, v)) if isinstance(v, list) else str(v if v is not None else ""))
                for v in (d.get(c, "") for c in columns)
            ]
        )
    out_console.print(table)


def print_json(value: Any) -> None:
    """Machine-readable output for scripts and agents."""
    if isinstance(value, BaseModel):
        click.echo(value.model_dump_json(indent=2))
    elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
        click.echo(json.dumps([v.model_dump(mode="json") for v in value], indent=2))
    elif isinstance(value, dict) and value and isinstance(next(iter(value.values())), BaseModel):
        click.echo(json.dumps({k: v.model_dump(mode="json") for k, v in value.items()}, indent=2))
    else:
        click.echo(json.dumps(value, indent=2, default=str))
