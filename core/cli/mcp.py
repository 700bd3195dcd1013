"""``screenalytics mcp``: the MCP servers for IDE agents and agent runners."""

from __future__ import annotations

from pathlib import Path

import click

from screenalytics.cli.app import CONFIG_HELP, cli

SERVER_NAMES = ("screenalytics", "storage", "analytics")


@cli.group()
def mcp() -> None:
    """MCP servers: `screenalytics mcp serve screenalytics|storage|analytics`.

    Register them with Claude Code (.mcp.json) or Codex (config.toml): see the README,
    'Use it from an agent'.
    """


@mcp.command()
@click.argument("name", type=click.Choice(SERVER_NAMES))
@click.option("--http", "http", metavar="HOST:PORT", default=None, help="Serve streamable HTTP here instead of stdio.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help=CONFIG_HELP)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML edit policy (or an agent profile with a policy: section) the server enforces on its edit tools.",
)
@click.option("--actor", default=None, help="Name recorded as `who` in the edit history [mcp.actor].")
def serve(name: str, http: str | None, config_file: Path | None, policy_file: Path | None, actor: str | None) -> None:
    """Serve one MCP server on stdio (default) or streamable HTTP.

    \b
    screenalytics: process episodes as jobs, screen time, review queue and edits, export.
    storage: list, signed URLs and purge of artifacts, confined to the storage root.
    analytics: read-only SQL and named queries over the stored tables.
    Logs go to stderr; stdout carries only the protocol.
    """
    from screenalytics.mcp_servers import serve as run_server

    run_server(name, config_file, http, policy_file, actor)
