"""The ``screenalytics`` command line: thin calls into the service layer, one module per concern."""

from screenalytics.cli import agent, batch, catalog, doctor, info, jobs, mcp, notify, playbook, report, review, run, storage  # noqa: F401  (they add their commands)
from screenalytics.cli.app import cli
from screenalytics.registry.plugins import load_plugins, pm


def main() -> None:
    load_plugins()
    pm.hook.register_commands(cli=cli)
    cli()


__all__ = ["cli", "main"]
