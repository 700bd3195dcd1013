"""Runs a checked playbook, step by step, and says honestly how it went.

Each step calls one named operation (``service.operations``, the same calls the MCP tools make)
or an agent; its outputs are the result model as JSON. The exit code never lies: 0 every step
passed (skipped ones too), 1 an assertion failed, 2 the playbook is invalid (nothing ran),
3 a step failed. Runs stop at the end of the first step that fails or fails an assertion.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from screenalytics.errors import ScreenalyticsError
from screenalytics.playbook.expressions import Env, Expr, ExpressionError, condition, render, to_text
from screenalytics.playbook.model import Step
from screenalytics.playbook.validate import Checked
from screenalytics.service.operations import Caller, invoke

OK, ASSERTION_FAILED, INVALID, STEP_FAILED = 0, 1, 2, 3
STATUS = {OK: "success", ASSERTION_FAILED: "assertion_failed", INVALID: "invalid", STEP_FAILED: "failure"}

AgentRunner = Callable[[Any, str, dict[str, Any]], dict[str, Any]]
AGENT_RUNNER: AgentRunner | None = None  # tests and embedders may set it; else screenalytics.agents.run_agent_step
Progress = Callable[[str], None]


class StepTimeout(ScreenalyticsError):
    """A step that did not finish within its ``timeout`` (its worker thread is abandoned, not killed)."""


@dataclass
class AssertionResult:
    that: str
    message: str
    passed: bool
    error: str | None = None


@dataclass
class StepResult:
    """One step as it ran; status: success | failure | skipped | not_run (after the playbook stopped)."""

    id: str
    uses: str | None
    agent: str | None
    status: str = "not_run"
    attempts: int = 0
    duration_s: float = 0.0
    error: str | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    assertions: list[AssertionResult] = field(default_factory=list)

    @property
    def assertion_failed(self) -> bool:
        return any(not a.passed for a in self.assertions)


@dataclass
class Summary:
    """The record a CI job keeps (``--json``): what ran, how long, what came out, and why it stopped."""

    name: str
    file: str
    status: str
    exit_code: int
    started_at: str
    duration_s: float
    vars: dict[str, Any]
    steps: list[StepResult]
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def invalid_summary(file: str, errors: list[str]) -> Summary:
    """The summary of a playbook that never ran (exit code 2)."""
    return Summary("", file, STATUS[INVALID], INVALID, _now(), 0.0, {}, [], errors)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text if isinstance(e, ScreenalyticsError | ExpressionError) and text else f"{type(e).__name__}: {text}".rstrip(": ")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def run_agent(service: Any, profile: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """An agent step, through ``AGENT_RUNNER`` or ``screenalytics.agents.run_agent_step`` (looked up
    at call time, so the agents package is only needed by playbooks that use one)."""
    runner = AGENT_RUNNER
    if runner is None:
        try:
            from screenalytics.agents import run_agent_step
        except ImportError as e:
            raise ScreenalyticsError(f"agent steps need screenalytics.agents.run_agent_step ({e})") from None
        runner = run_agent_step
    out = runner(service, profile, inputs)
    if not isinstance(out, Mapping):
        raise ScreenalyticsError(f"agent {profile!r} returned {type(out).__name__}, not a dict of outputs")
    return dict(out)


def call_with_timeout(fn: Callable[[], Any], timeout: float | None, name: str) -> Any:
    """``fn()`` in a worker thread, given up on after ``timeout`` seconds (None: wait as long as it takes)."""
    if timeout is None:
        return fn()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the waiting thread
            box["error"] = e

    worker = threading.Thread(target=work, name=f"playbook-{name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise StepTimeout(f"timed out after {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


class Runner:
    """One run of a checked playbook against a service."""

    def __init__(
        self,
        checked: Checked,
        service: Any,
        progress: Progress | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        caller: Caller | None = None,
    ) -> None:
        self.checked, self.service = checked, service
        self.playbook = checked.playbook
        self.progress = progress or (lambda line: None)
        self.sleep = sleep
        self.caller = caller or Caller(who=f"playbook:{self.playbook.name}")
        self.steps: dict[str, dict[str, Any]] = {}
        self.context: dict[str, Any] = {
            "vars": _jsonable(checked.vars),
            "steps": self.steps,
            "env": Env(os.environ if environ is None else environ),
        }

    def run(self) -> Summary:
        started, t0 = _now(), time.monotonic()
        results = [StepResult(s.id, s.uses, s.agent) for s in self.playbook.steps]
        code = OK
        for step, result in zip(self.playbook.steps, results):
            self._step(step, result)
            self.progress(step_line(step, result))
            if result.status == "failure" and not step.continue_on_error:
                code = STEP_FAILED
            elif result.assertion_failed:
                code = ASSERTION_FAILED
            if code != OK:
                break
        return Summary(
            self.playbook.name,
            self.checked.document.file,
            STATUS[code],
            code,
            started,
            round(time.monotonic() - t0, 3),
            self.context["vars"],
            results,
        )

    def _step(self, step: Step, result: StepResult) -> None:
        t0 = time.monotonic()
        self.steps[step.id] = {"outputs": {}, "outcome": "skipped"}
        try:
            self._attempts(step, result)
        finally:
            result.duration_s = round(time.monotonic() - t0, 3)
            self.steps[step.id] = {"outputs": result.outputs or {}, "outcome": result.status}

    def _attempts(self, step: Step, result: StepResult) -> None:
        try:
            if not self._should_run(step):
                result.status = "skipped"
                return
            inputs = render(step.with_, self.context)
        except ExpressionError as e:
            result.status, result.error = "failure", str(e)
            return
        result.inputs = inputs
        for attempt in range(1, step.retries + 2):
            result.attempts = attempt
            try:
                out = call_with_timeout(lambda: self._call(step, inputs), step.timeout, step.id)
            except StepTimeout as e:
                result.status, result.error = "failure", str(e)
                return  # the abandoned call may still be running: never start a second one beside it
            except Exception as e:  # any failure of the operation is the step's failure
                result.error = _one_line(e)
                if attempt > step.retries:
                    result.status = "failure"
                    return
                wait = step.backoff_s * 2 ** (attempt - 1)
                self.progress(f"[retry] {step.id}: attempt {attempt} failed: {result.error}; again in {wait:g} s")
                self.sleep(wait)
                continue
            result.status, result.error, result.outputs = "success", None, _jsonable(out)
            break
        self.steps[step.id] = {"outputs": result.outputs, "outcome": "success"}
        for a in step.assertions:
            result.assertions.append(self._assert(a.that, a.message))

    def _should_run(self, step: Step) -> bool:
        if step.if_ is None:
            return True
        cond = condition(step.if_)
        return bool(cond.evaluate(self.context) if isinstance(cond, Expr) else cond)

    def _call(self, step: Step, inputs: dict[str, Any]) -> dict[str, Any]:
        if step.uses is not None:
            return invoke(self.service, step.uses, inputs, self.caller).model_dump(mode="json")
        return run_agent(self.service, step.agent or "", inputs)

    def _assert(self, that: str | bool, message: str | None) -> AssertionResult:
        cond = condition(that)
        text = cond.text if isinstance(cond, Expr) else to_text(that)
        try:
            said = to_text(render(message, self.context)) if message else text
        except ExpressionError:
            said = message or text
        try:
            passed = bool(cond.evaluate(self.context) if isinstance(cond, Expr) else cond)
            return AssertionResult(text, said, passed)
        except ExpressionError as e:
            return AssertionResult(text, said, False, str(e))


def step_line(step: Step, result: StepResult) -> str:
    """The progress line of a finished step."""
    what = f"{step.uses}" if step.uses else f"agent {step.agent}"
    label = f"{step.id} ({what})" if not step.name else f"{step.id} {step.name!r} ({what})"
    tries = f", {result.attempts} attempts" if result.attempts > 1 else ""
    if result.status == "skipped":
        return f"[skip] {label}: if: {to_text(step.if_)} is false"
    if result.status == "failure":
        tolerated = " (continue_on_error)" if step.continue_on_error else ""
        return f"[FAIL] {label} {result.duration_s:.1f} s{tries}: {result.error}{tolerated}"
    failed = [a for a in result.assertions if not a.passed]
    if failed:
        why = "; ".join(a.message + (f" ({a.error})" if a.error else "") for a in failed)
        return f"[FAIL] {label} {result.duration_s:.1f} s{tries}: assertion failed: {why}"
    checks = f", {len(result.assertions)} assertions passed" if result.assertions else ""
    return f"[ok]   {label} {result.duration_s:.1f} s{tries}{checks}"


def run_playbook(
    checked: Checked,
    service: Any,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Summary:
    """Run every step of a checked playbook (``validate.check``) and return its summary."""
    return Runner(checked, service, progress, environ, sleep).run()


# --- the plan (--dry-run) ------------------------------------------------------------------------


def plan(checked: Checked, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What would run, with vars and env filled in; reads of earlier steps stay as ``<steps...>``."""
    context = {"vars": _jsonable(checked.vars), "steps": {}, "env": Env(os.environ if environ is None else environ)}

    def later(e: Expr) -> bool:
        return any(p[0] == "steps" for p in e.paths())

    def show(value: Any) -> Any:
        try:
            return render(value, context, unresolved=later)
        except ExpressionError as e:
            return f"<error: {e}>"

    steps = []
    for step in checked.playbook.steps:
        entry: dict[str, Any] = {"id": step.id, "uses": step.uses} if step.uses else {"id": step.id, "agent": step.agent}
        if step.if_ is not None:
            entry["if"] = _plan_condition(condition(step.if_), context, later)
        entry["with"] = show(step.with_)
        for key in ("timeout", "retries", "continue_on_error"):
            if key in step.model_fields_set:
                entry[key] = getattr(step, key)
        if step.assertions:
            entry["assert"] = [_text(condition(a.that)) for a in step.assertions]
        steps.append(entry)
    return {"name": checked.playbook.name, "file": checked.document.file, "vars": context["vars"], "steps": steps}


def _text(cond: Expr | bool) -> str | bool:
    return cond.text if isinstance(cond, Expr) else cond


def _plan_condition(cond: Expr | bool, context: dict[str, Any], later: Callable[[Expr], bool]) -> Any:
    """True/false when it can be known before the run, else the expression as ``<...>``."""
    if not isinstance(cond, Expr):
        return cond
    if later(cond):
        return f"<{cond.text}>"
    try:
        return bool(cond.evaluate(context))
    except ExpressionError as e:
        return f"<error: {e}>"
