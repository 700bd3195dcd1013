"""What an unattended caller (an agent, a playbook) may change: enforced by the server that makes
the change, not only asked for in a prompt.

A policy limits identity assignments: how many, how similar the faces must be to the new person,
by what margin over the runner-up, never a locked row; in propose-only mode nothing is written
and each assignment is recorded as a proposal in a JSON-lines file instead.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from screenalytics.errors import ConfigError, ScreenalyticsError
from screenalytics.stores.jobs import now_iso


class PolicyError(ScreenalyticsError):
    """A change the caller's policy does not allow."""


class EditPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_changes: int | None = Field(None, ge=0, description="assignments allowed per server session (null: no limit)")
    min_similarity: float | None = Field(None, ge=-1, le=1, description="face similarity to the new person")
    min_margin: float | None = Field(None, ge=0, le=2, description="over the most similar other person")
    allow_locked: bool = Field(False, description="may change rows a reviewer locked")
    propose_only: bool = Field(False, description="record proposals, change nothing")
    proposals_file: Path | None = Field(None, description="JSON lines of proposals (propose-only mode)")
    allowed_ops: list[str] | None = Field(None, description="edit tools this caller may use (null: all)")

    @classmethod
    def load(cls, path: Path | str) -> EditPolicy:
        """From YAML: the policy itself, or a profile with a ``policy:`` section."""
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read policy {path}: {e}") from None
        data = data.get("policy", data) if isinstance(data, dict) else data
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise ConfigError(f"bad policy in {path}: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}") from None


class PolicyGuard:
    """One server session's policy and the changes made under it so far."""

    def __init__(self, policy: EditPolicy | None) -> None:
        self.policy = policy
        self.changes = 0
        self.lock = threading.Lock()
        # held from check to count: concurrent calls (MCP clients send them) cannot both pass max_changes
        self.serial = threading.RLock()

    @property
    def propose_only(self) -> bool:
        return bool(self.policy and self.policy.propose_only)

    def check(
        self, op: str, locked: bool, similarity: float | None = None, margin: float | None = None, assigns: bool = False
    ) -> None:
        """Raises PolicyError naming the rule an edit would break (call ``count`` once it is made)."""
        p = self.policy
        if p is None:
            return
        if p.allowed_ops is not None and op not in p.allowed_ops:
            raise PolicyError(f"policy: {op} is not allowed (allowed: {', '.join(p.allowed_ops) or 'none'})")
        if locked and not p.allow_locked:
            raise PolicyError("policy: locked rows are off limits to this caller")
        if assigns and p.min_similarity is not None and (similarity is None or similarity < p.min_similarity):
            shown = "unknown" if similarity is None else f"{similarity:.3f}"
            raise PolicyError(f"policy: similarity {shown} is below the minimum {p.min_similarity:.3f}")
        if assigns and p.min_margin is not None and (margin is None or margin < p.min_margin):
            shown = "unknown" if margin is None else f"{margin:.3f}"
            raise PolicyError(f"policy: margin {shown} is below the minimum {p.min_margin:.3f}")
        if p.max_changes is not None and self.changes >= p.max_changes:
            raise PolicyError(f"policy: at most {p.max_changes} change(s) per session, all used")

    def count(self) -> None:
        """One more change made (or proposed) under the policy."""
        with self.lock:
            self.changes += 1

    def propose(self, record: dict[str, Any]) -> None:
        """Append a proposal (propose-only mode) to the proposals file."""
        path = self.policy.proposals_file if self.policy else None
        if path is None:
            raise ConfigError("propose-only policy without proposals_file: nowhere to write proposals")
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock, open(path, "a") as f:
            f.write(json.dumps({"at": now_iso(), **record}, default=str) + "\n")
