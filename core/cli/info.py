"""What is installed and in force: `plugins`, `models`, `config`."""

from __future__ import annotations

import click
import yaml
from rich.table import Table

from screenalytics.cli.app import cli, out_console, print_json, print_rows, with_service
from screenalytics.errors import ScreenalyticsError
from screenalytics.registry.plugins import pm
from screenalytics.service import Service


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_service
def plugins_cmd(service: Service, as_json: bool) -> None:
    """List installed plugins and which implementation each stage will use."""
    report = service.plugins()
    if as_json:
        print_json(report)
        return
    table = Table(title="Stages")
    for col in ("stage", "implementations", "selected"):
        table.add_column(col)
    for kind, info in report.items():
        names = ", ".join(f"{n} ({module})" for n, module in info.implementations.items()) or "-"
        table.add_row(kind, names, info.selected or "-")
    out_console.print(table)
    out_console.print("plugins loaded: " + ", ".join(sorted(n for n, _ in pm.list_name_plugin())), highlight=False)


@cli.group()
def models() -> None:
    """List, fetch and verify model files (folder: SCREENALYTICS_MODELS_DIR or models_dir)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_service
def models_list(service: Service, as_json: bool) -> None:
    """Show every registered model (from every installed plugin), its licence and whether it is on disk."""
    rows = service.models()
    if as_json:
        print_json(rows)
        return
    shown = [{**r.model_dump(), "default": "yes" if r.default else ""} for r in rows]
    columns = ["name", "status", "default", "stage", "licence", "description"]
    print_rows(shown, columns, title=f"Models in {service.model_store.root}", whole=3)


@models.command("pull")
@click.argument("names", nargs=-1)
@click.option("--defaults", is_flag=True, help="Every model the default settings use.")
@with_service
def models_pull(service: Service, names: tuple[str, ...], defaults: bool) -> None:
    """Download models into the models folder and check their sha256."""
    result = service.pull_models(list(names), defaults=defaults)
    for name, paths in result.pulled.items():
        for path in paths:
            out_console.print(f"{name}: {path}", highlight=False)
    for name, source in result.not_downloadable.items():
        out_console.print(f"{name}: no public download; get it from {source}", highlight=False)
    if result.not_downloadable and names and set(result.not_downloadable) & set(names):
        raise ScreenalyticsError(f"{', '.join(sorted(set(result.not_downloadable) & set(names)))}: no public download address")


@models.command("verify")
@click.argument("names", nargs=-1)
@with_service
def models_verify(service: Service, names: tuple[str, ...]) -> None:
    """Check sha256 of models on disk (all present ones when no NAME is given)."""
    store = service.model_store
    chosen = names or tuple(n for n in store.registry if store.status(n, verify=False) == "ok")
    bad = []
    for name in chosen:
        status = store.status(name)
        out_console.print(f"{name}: {status}", highlight=False)
        if status != "ok":
            bad.append(name)
    if bad:
        raise ScreenalyticsError(f"{len(bad)} model(s) failed verification: {', '.join(bad)}")


@cli.command("config")
@with_service
def config_cmd(service: Service) -> None:
    """Print the effective settings as YAML (defaults + --config + environment), plugins' own included."""
    out_console.print(yaml.safe_dump(service.effective_config(), sort_keys=False), highlight=False, markup=False)
