"""Agent profiles: what an agent is told, which tools it may see, and the policy its server enforces.

A profile is a YAML file (``playbooks/agents/<name>.yaml``). The allow-list of tools is checked
against the named operations here, so a typo or a tool that does not exist yet fails when the
profile is loaded, not halfway through a run; the ``policy:`` section is an ``EditPolicy`` the
runner hands to the screenalytics MCP server, which refuses what it does not allow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from screenalytics.errors import ConfigError
from screenalytics.service.operations import OPERATIONS
from screenalytics.service.policy import EditPolicy

ServerName = Literal["screenalytics", "storage", "analytics"]

# Where profiles are found by name: the caller's project first, then the ones shipped beside the package.
PROFILE_DIRS = (Path("playbooks") / "agents", Path(__file__).resolve().parents[2] / "playbooks" / "agents")


class Profile(BaseModel):
    """One agent: its system prompt, the MCP servers and tools it may use, and the policy it runs under."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", description="recorded as agent:<name> in the edit history")
    description: str = ""
    instructions: str = Field(min_length=1, description="the system prompt: what to do and how to weigh evidence")
    task: str = Field("Work on episode {episode_id}.", description="the default user message; {episode_id} is replaced")
    servers: list[ServerName] = Field(default_factory=lambda: ["screenalytics"], min_length=1)
    tools: list[str] = Field(min_length=1, description="the only tools the model sees (MCP tool_filter allow-list)")
    model: str | None = Field(None, description="default model name [agent.model]")
    max_turns: int | None = Field(None, ge=1, description="model turns before the run stops [agent.max_turns]")
    policy: EditPolicy = Field(default_factory=EditPolicy)

    @model_validator(mode="after")
    def _tools_exist(self) -> Profile:
        for tool in self.tools:
            op = OPERATIONS.get(tool)
            if op is None or op.server is None:
                offered = sorted(n for n, o in OPERATIONS.items() if o.server in self.servers)
                raise ValueError(f"unknown tool {tool!r}; the servers {', '.join(self.servers)} offer: {', '.join(offered)}")
            if op.server not in self.servers:
                raise ValueError(f"tool {tool!r} is on the {op.server} server, which is not in servers")
        return self


def find_profile(name_or_path: str | Path) -> Path:
    """A profile file: a path as given, else ``<dir>/<name>.yaml`` in the project's or the shipped folder."""
    given = Path(name_or_path)
    if given.suffix in (".yaml", ".yml") or given.is_file() or len(given.parts) > 1:
        if not given.is_file():
            raise ConfigError(f"agent profile not found: {given}")
        return given
    for folder in PROFILE_DIRS:
        for suffix in (".yaml", ".yml"):
            path = folder / f"{name_or_path}{suffix}"
            if path.is_file():
                return path
    known = ", ".join(p.name for p in list_profiles()) or "none"
    raise ConfigError(f"unknown agent profile {str(name_or_path)!r}; known: {known} (or give a path to a YAML file)")


def load_profile(name_or_path: str | Path | Profile) -> Profile:
    """A profile by name (``triage``) or path; a bad one is a one-line ConfigError naming the key."""
    if isinstance(name_or_path, Profile):
        return name_or_path
    path = find_profile(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read agent profile {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"agent profile {path} must be a mapping (name, instructions, tools, policy, ...)")
    try:
        return Profile.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "profile"
        raise ConfigError(f"bad agent profile {path}: {where}: {err['msg'].removeprefix('Value error, ')}") from None


def list_profiles() -> list[Profile]:
    """The profiles found by name (the project's folder shadows the shipped one), sorted by name."""
    seen: dict[str, Profile] = {}
    for folder in PROFILE_DIRS:
        if not folder.is_dir():
            continue
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            if path.stem not in seen:
                try:
                    seen[path.stem] = load_profile(path)
                except ConfigError:
                    continue  # not a profile (e.g. a config snippet); `agent run` names the problem
    return [seen[k] for k in sorted(seen)]
