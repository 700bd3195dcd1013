"""``screenalytics agent``: run an agent profile (openai-agents) through the MCP servers."""

from __future__ import annotations

from pathlib import Path

import click

from screenalytics.cli.app import CONFIG_HELP, cli, print_json, print_rows


@cli.group()
def agent() -> None:
    """Agents that review and export through the MCP servers, under a policy the server enforces.

    Profiles live in playbooks/agents/<name>.yaml. The model key comes from OPENAI_API_KEY; set
    agent.base_url (or OPENAI_BASE_URL) for an OpenAI-compatible server.
    """


@agent.command("run")
@click.argument("profile")
@click.option("--episode", "episode_id", required=True, help="The episode the agent works on.")
@click.option("--model", default=None, help="Model name [the profile's model, else agent.model].")
@click.option("--propose-only", is_flag=True, default=False, help="Record proposals instead of applying edits.")
@click.option(
    "--proposals",
    "proposals_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON-lines file for proposals [proposals-PROFILE-EPISODE.jsonl with --propose-only].",
)
@click.option("--task", default=None, help="The request to the agent [the profile's task].")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help=CONFIG_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the whole run).")
def run_cmd(
    profile: str,
    episode_id: str,
    model: str | None,
    propose_only: bool,
    proposals_file: Path | None,
    task: str | None,
    config_file: Path | None,
    as_json: bool,
) -> None:
    """Run agent PROFILE (a shipped name such as triage, or a YAML path) on an episode.

    The MCP servers run as child processes with the profile's policy and `agent:PROFILE` as the
    actor in the edit history; the model sees only the profile's tools.
    """
    from screenalytics.agents import run_agent
    from screenalytics.config import load_settings

    settings = load_settings(config_file)
    result = run_agent(
        settings,
        profile,
        episode_id,
        model=model,
        propose_only=True if propose_only else None,
        proposals_file=proposals_file,
        task=task,
        config_file=config_file,
    )
    if as_json:
        print_json(result)
        return
    if result.tool_calls:
        rows = [
            {"tool": c.tool, "arguments": _short(c.arguments), "result": _outcome(c.ok, c.applied, c.proposed, c.error)}
            for c in result.tool_calls
        ]
        print_rows(rows, ["tool", "arguments", "result"], title=f"{result.profile} on {episode_id} ({result.model})")
    click.echo(result.final_output)
    line = f"{result.changes_applied} change(s) applied, {result.proposals} proposed"
    if result.proposals_file and result.proposals:
        line += f" (in {result.proposals_file})"
    click.echo(line + (f"; stopped early: {result.stopped}" if result.stopped else ""))


@agent.command("list")
def list_cmd() -> None:
    """The agent profiles found by name: ./playbooks/agents, then the shipped ones."""
    from screenalytics.agents import list_profiles

    rows = [{"name": p.name, "description": p.description, "tools": p.tools} for p in list_profiles()]
    print_rows(rows, ["name", "description", "tools"])


def _short(arguments: dict[str, object]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in arguments.items() if k != "episode_id")
    return text if len(text) <= 60 else text[:57] + "..."


def _outcome(ok: bool, applied: bool, proposed: bool, error: str | None) -> str:
    if not ok:
        return f"error: {error}"
    return "applied" if applied else "proposed" if proposed else "ok"
