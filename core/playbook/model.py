"""What a playbook is: pydantic models, and the JSON Schema published from them.

The schema is generated, never written by hand, so editors (``playbooks/schema/``), the validator
(the packaged ``playbook.schema.json``) and the runner agree on one format; a test checks that
both files equal ``schema_text()``, and ``tools/gen_playbook_schema.py`` rewrites them.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

NAME = r"^[A-Za-z][A-Za-z0-9_]*$"  # ids and var names: readable as steps.ID / vars.NAME in expressions
SCHEMA_FILE = "playbook.schema.json"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

Name = Annotated[str, StringConstraints(pattern=NAME)]
Text = Annotated[str, StringConstraints(min_length=1)]
Seconds = Annotated[float, Field(gt=0)]
Null = SkipJsonSchema[None]  # optional in Python, but an editor should not suggest writing null


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Assertion(Strict):
    """A check after the step succeeds; a false one stops the playbook (exit code 1)."""

    that: str | bool = Field(description="an expression: ${{ ... }} or bare, e.g. steps.screen.outputs.unassigned_share < 0.5")
    message: str | Null = Field(None, description="said when the check fails [default: the expression]")


class Step(Strict):
    """One call: an operation (``uses:``, the MCP tool names) or an agent (``agent:``)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"oneOf": [{"required": ["uses"]}, {"required": ["agent"]}]},
    )

    id: Name = Field(description="unique; later steps read steps.ID.outputs and steps.ID.outcome")
    name: str | Null = Field(None, description="shown in progress lines [default: the id]")
    uses: Text | Null = Field(None, description="an operation name, e.g. process_episode, get_screen_time")
    agent: Text | Null = Field(None, description="an agent profile name or path (the step's outputs are the agent's)")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="inputs; strings may hold ${{ expressions }}")
    if_: str | bool | Null = Field(None, alias="if", description="run only when true, else the step is skipped")
    timeout: Seconds | Null = Field(None, description="seconds before the step fails as timed out (not retried)")
    retries: int = Field(0, ge=0, le=20, description="extra attempts after a failure")
    backoff_s: float = Field(1.0, ge=0, le=3600, description="wait before the first retry, doubled for each next one")
    continue_on_error: bool = Field(False, description="a failure is recorded and the playbook goes on")
    assert_: list[str | bool | Assertion] = Field(
        default_factory=list, alias="assert", description="checks after the step succeeds: expressions or {that, message}"
    )

    @model_validator(mode="after")
    def _one_target(self) -> Step:
        if (self.uses is None) == (self.agent is None):
            raise ValueError("a step needs exactly one of uses: or agent:")
        return self

    @property
    def target(self) -> str:
        return self.uses or self.agent or ""

    @property
    def assertions(self) -> list[Assertion]:
        return [a if isinstance(a, Assertion) else Assertion(that=a) for a in self.assert_]


class Playbook(Strict):
    """A list of steps run in order, headless: for CI and scheduled jobs."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, title="Screenalytics playbook")

    name: str = Field(min_length=1)
    description: str = ""
    vars: dict[str, Any] = Field(
        default_factory=dict,
        description="defaults, read as vars.NAME; --var NAME=VALUE overrides",
        json_schema_extra={"propertyNames": {"pattern": NAME}},
    )
    steps: list[Step] = Field(min_length=1)

    @field_validator("vars")
    @classmethod
    def _var_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in value if not re.match(NAME, str(k))]
        if bad:
            raise ValueError(f"var names are letters, digits and _, starting with a letter: {bad}")
        return value


def schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of a playbook, generated from the models."""
    return {"$schema": SCHEMA_DIALECT, **Playbook.model_json_schema(by_alias=True)}


def schema_text() -> str:
    return json.dumps(schema(), indent=2) + "\n"


def published_schema() -> dict[str, Any]:
    """The packaged schema file: what ``validate`` checks against (a test keeps it equal to ``schema()``)."""
    return json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text())
