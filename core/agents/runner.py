"""Run an agent profile with openai-agents against the real MCP servers, spawned over stdio.

The agent gets no Python shortcuts: every call goes through ``screenalytics mcp serve`` in a child
process, started with the profile's policy (``--policy``) and actor (``--actor agent:<name>``), so
what the model may change is enforced by the server, whatever the model decides. The model sees
only the profile's tools (the MCP tool filter).

Models: an ``agents.Model`` instance is used as is (tests inject a scripted one). A name is
resolved ``--model`` > profile ``model`` > ``agent.model`` and served by our own ``AsyncOpenAI``
client with the key from ``OPENAI_API_KEY``: the Responses API on OpenAI itself, Chat Completions
when ``agent.base_url`` or ``OPENAI_BASE_URL`` points at a compatible server (most of them only
speak Chat Completions). The global default client is never touched.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import openai
import yaml
from agents import (
    Agent,
    MaxTurnsExceeded,
    Model,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RunConfig,
    Runner,
    ToolExecutionConfig,
    set_tracing_disabled,
)
from agents.exceptions import AgentsException
from agents.items import ToolCallItem, ToolCallOutputItem
from agents.mcp import MCPServerStdio, create_static_tool_filter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from screenalytics.agents.profiles import Profile, load_profile
from screenalytics.config import Settings
from screenalytics.errors import ConfigError, ScreenalyticsError
from screenalytics.service.policy import EditPolicy

TRACING_ENV = "SCREENALYTICS_AGENT_TRACING"  # "1": send traces to the OpenAI tracing backend
KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
NO_KEY = (
    f"no model credentials: set {KEY_ENV} (and agent.base_url / {BASE_URL_ENV} for a compatible server) "
    "to run an agent; nothing was started"
)


class AgentError(ScreenalyticsError):
    """An agent run that could not start or finish (model unreachable, a server that did not start)."""


class ToolCall(BaseModel):
    """One tool call the model made and how the server answered it."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    ok: bool
    error: str | None = Field(None, description="the server's one-line error (a policy refusal starts with 'policy:')")
    applied: bool = Field(False, description="an edit the server applied")
    proposed: bool = Field(False, description="an edit recorded as a proposal (propose-only)")


class AgentRun(BaseModel):
    """What an agent run did: its final message, every tool call, and the changes made or proposed."""

    profile: str
    episode_id: str
    model: str
    final_output: str
    tool_calls: list[ToolCall]
    changes_applied: int = Field(description="edits the server applied")
    proposals: int = Field(description="edits recorded as proposals instead")
    propose_only: bool
    proposals_file: Path | None = None
    stopped: str | None = Field(None, description="why the run ended early (max_turns), null when the model finished")


def run_agent(settings: Settings, profile: str | Path | Profile, episode_id: str, **options: Any) -> AgentRun:
    """Run PROFILE on EPISODE_ID to the end (blocking); the options are ``run_agent_async``'s."""
    return asyncio.run(run_agent_async(settings, profile, episode_id, **options))


async def run_agent_async(
    settings: Settings,
    profile: str | Path | Profile,
    episode_id: str,
    *,
    model: str | Model | None = None,
    propose_only: bool | None = None,
    proposals_file: Path | None = None,
    task: str | None = None,
    config_file: Path | None = None,
) -> AgentRun:
    """Run PROFILE on EPISODE_ID through the MCP servers it names, under its policy.

    ``propose_only``/``proposals_file`` override the profile's policy; ``task`` replaces its default
    user message; ``config_file`` is handed to the servers (they read the environment too).
    Everything that can be checked (profile, model, credentials) is checked before a server starts.
    """
    prof = load_profile(profile)
    chosen = resolve_model(settings, prof, model)
    policy = effective_policy(prof, episode_id, propose_only, proposals_file)
    _set_tracing()
    message = (task or prof.task).replace("{episode_id}", episode_id)
    if task and episode_id not in message:
        message = f"Episode: {episode_id}\n\n{message}"
    max_turns = prof.max_turns or settings.agent.max_turns
    with tempfile.TemporaryDirectory(prefix="screenalytics-agent-") as tmp:
        policy_file = Path(tmp) / "policy.yaml"
        policy_file.write_text(yaml.safe_dump(policy.model_dump(mode="json"), sort_keys=False))
        servers = [_server(name, settings, prof, policy_file, config_file) for name in prof.servers]
        async with AsyncExitStack() as stack:
            for server in servers:
                try:
                    await stack.enter_async_context(server)
                except Exception as e:
                    raise AgentError(f"MCP server {server.name} did not start: {_one_line(e)} (its stderr says why)") from None
            agent = Agent(
                name=prof.name,
                instructions=prof.instructions.rstrip() + "\n\n" + describe_policy(policy),
                mcp_servers=servers,
                model=chosen,
            )
            run_config = RunConfig(
                tracing_disabled=not _tracing_wanted(),
                workflow_name=f"screenalytics {prof.name}",
                # One tool call at a time, in the model's order: the server then sees the calls of a
                # turn as the model wrote them, so under max_changes the first ones win, every time.
                tool_execution=ToolExecutionConfig(max_function_tool_concurrency=1),
            )
            try:
                result = await Runner.run(agent, message, max_turns=max_turns, run_config=run_config)
                items, final, stopped = result.new_items, str(result.final_output or ""), None
            except MaxTurnsExceeded as e:
                items = e.run_data.new_items if e.run_data else []
                final, stopped = f"stopped after {max_turns} turns (max_turns) before the model finished", "max_turns"
            except AgentsException as e:
                raise AgentError(f"agent {prof.name} failed: {_one_line(e)}") from None
            except openai.APIError as e:  # a bad key, an unreachable server, an unknown model
                raise AgentError(f"model call failed ({type(e).__name__}): {_one_line(e)}") from None
    calls = tool_calls(items)
    return AgentRun(
        profile=prof.name,
        episode_id=episode_id,
        model=_model_name(chosen),
        final_output=final,
        tool_calls=calls,
        changes_applied=sum(c.applied for c in calls),
        proposals=sum(c.proposed for c in calls),
        propose_only=policy.propose_only,
        proposals_file=policy.proposals_file,
        stopped=stopped,
    )


class StepInputs(BaseModel):
    """The inputs of a playbook's ``agent:`` step."""

    model_config = ConfigDict(extra="forbid")

    episode_id: str = Field(min_length=1)
    model: str | None = None
    propose_only: bool | None = None
    proposals_file: Path | None = None
    task: str | None = None
    config_file: Path | None = None


def run_agent_step(service: Any, profile: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A playbook's ``agent:`` step (inputs: ``StepInputs``); returns the ``AgentRun`` as JSON data."""
    try:
        given = StepInputs.model_validate(inputs)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "inputs"
        known = ", ".join(StepInputs.model_fields)
        raise ConfigError(f"agent {profile}: input {where}: {err['msg']} (inputs: {known})") from None
    config = given.config_file or getattr(service, "config_file", None)
    run = run_agent(
        service.settings,
        profile,
        given.episode_id,
        model=given.model,
        propose_only=given.propose_only,
        proposals_file=given.proposals_file,
        task=given.task,
        config_file=Path(config) if config else None,
    )
    return run.model_dump(mode="json")


# --- pieces ----------------------------------------------------------------------------------------


def resolve_model(settings: Settings, profile: Profile, model: str | Model | None) -> Model:
    """The model to run: an instance as given, else a name (``model`` > profile > ``agent.model``) on
    an OpenAI client. No key is a ConfigError raised here, before any server starts."""
    if isinstance(model, Model):
        return model
    name = model or profile.model or settings.agent.model
    key = os.environ.get(KEY_ENV)
    if not key:
        raise ConfigError(NO_KEY)
    base_url = settings.agent.base_url or os.environ.get(BASE_URL_ENV) or None
    client = openai.AsyncOpenAI(api_key=key, base_url=base_url)
    if base_url:
        return OpenAIChatCompletionsModel(model=name, openai_client=client)
    return OpenAIResponsesModel(model=name, openai_client=client)


def effective_policy(profile: Profile, episode_id: str, propose_only: bool | None, proposals_file: Path | None) -> EditPolicy:
    """The profile's policy with the caller's overrides; propose-only always has a file to write to."""
    values = profile.policy.model_dump()
    if propose_only is not None:
        values["propose_only"] = propose_only
    if proposals_file is not None:
        values["proposals_file"] = proposals_file
    if values["propose_only"] and values["proposals_file"] is None:
        values["proposals_file"] = Path(f"proposals-{profile.name}-{episode_id}.jsonl")
    if values["proposals_file"] is not None:
        values["proposals_file"] = Path(values["proposals_file"]).expanduser().resolve()
    return EditPolicy.model_validate(values)


def describe_policy(policy: EditPolicy) -> str:
    """The enforced limits in words, appended to the instructions so the model can plan within them."""
    lines = ["Policy (enforced by the server: calls outside it fail with an error starting 'policy:'):"]
    if policy.max_changes is not None:
        lines.append(f"- at most {policy.max_changes} change(s) in this session")
    if policy.min_similarity is not None:
        lines.append(f"- an assignment needs face similarity >= {policy.min_similarity} to the new person")
    if policy.min_margin is not None:
        lines.append(f"- and a margin >= {policy.min_margin} over the most similar other person")
    lines.append("- locked tracks may be changed" if policy.allow_locked else "- locked tracks are off limits")
    if policy.allowed_ops is not None:
        lines.append(f"- only these edits: {', '.join(policy.allowed_ops) or 'none'}")
    if policy.propose_only:
        lines.append("- propose-only: edits are recorded as proposals for a person to review; nothing is applied")
    return "\n".join(lines)


def tool_calls(items: list[Any]) -> list[ToolCall]:
    """The run's tool calls in the order the model made them, each with the server's answer."""
    calls: dict[str, ToolCall] = {}
    for item in items:
        if isinstance(item, ToolCallItem):
            raw = item.raw_item
            get = raw.get if isinstance(raw, dict) else lambda k, r=raw: getattr(r, k, None)
            try:
                arguments = json.loads(get("arguments") or "{}")
            except json.JSONDecodeError:
                arguments = {"_raw": get("arguments")}
            calls[str(item.call_id)] = ToolCall(tool=item.tool_name or "?", arguments=arguments, ok=False)
        elif isinstance(item, ToolCallOutputItem) and str(item.call_id) in calls:
            call = calls[str(item.call_id)]
            text = _output_text(item.output)
            # The extractor below marks every answer the server gave; without its mark the SDK
            # reported a failure of its own (a timeout, a lost server).
            flag = (item.custom_data or {}).get("is_error")
            call.ok = flag is False
            if not call.ok:
                call.error = text.removeprefix(f"Error executing tool {call.tool}: ")
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                call.applied = data.get("applied") is True
                call.proposed = data.get("proposed") is True
    return list(calls.values())


def _server(name: str, settings: Settings, profile: Profile, policy_file: Path, config_file: Path | None) -> MCPServerStdio:
    args = ["-m", "screenalytics", "mcp", "serve", name, "--policy", str(policy_file), "--actor", f"agent:{profile.name}"]
    if config_file is not None:
        args += ["--config", str(Path(config_file).resolve())]
    env = dict(os.environ)  # MCP stdio passes only a minimal environment unless given one
    env.pop(KEY_ENV, None)  # the servers never call the model
    return MCPServerStdio(
        params={"command": sys.executable, "args": args, "env": env},
        name=name,
        cache_tools_list=True,
        client_session_timeout_seconds=settings.agent.tool_timeout_s,
        tool_filter=create_static_tool_filter(allowed_tool_names=list(profile.tools)),
        custom_data_extractor=_mark_answer,
    )


def _mark_answer(context: Any) -> dict[str, Any]:
    """Keeps the server's isError flag on the run item (the model sees only the text)."""
    return {"is_error": bool(context.is_error)}


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        return str(output.get("text", output))
    if isinstance(output, list):
        return " ".join(_output_text(x) for x in output)
    return str(getattr(output, "text", output))


def _model_name(model: Model) -> str:
    return str(getattr(model, "model", None) or type(model).__name__)


def _one_line(e: BaseException) -> str:
    while isinstance(e, BaseExceptionGroup) and e.exceptions:  # anyio task groups wrap the real error
        e = e.exceptions[0]
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _tracing_wanted() -> bool:
    return os.environ.get(TRACING_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _set_tracing() -> None:
    """Tracing uploads prompts and tool data to OpenAI: off unless SCREENALYTICS_AGENT_TRACING=1."""
    set_tracing_disabled(not _tracing_wanted())
