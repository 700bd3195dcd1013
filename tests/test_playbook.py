"""Playbooks: validation with FILE:LINE:COL errors, a sandboxed expression language, and runs whose
exit codes never lie (0 passed, 1 assertion failed, 2 invalid, 3 step failed). Fast: a stored
episode is written straight through the stores, and test-only operations stand in for slow ones."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from pydantic import BaseModel

from conftest import REPO, VIDEO
from screenalytics.cli import cli
from screenalytics.errors import InputError
from screenalytics.model.records import Assignment, Detection, FaceEmbedding, ScreenTime, Track
from screenalytics.playbook import INVALID, PlaybookInvalid, check, compile_expr, plan, run_playbook, schema_text
from screenalytics.playbook import runner as runner_module
from screenalytics.playbook.expressions import Env, ExpressionError, render
from screenalytics.playbook.model import SCHEMA_FILE
from screenalytics.service import Service
from screenalytics.service.operations import OPERATIONS, Args, Operation

# --- fixtures ------------------------------------------------------------------------------------


def store_episode(service: Service, episode_id: str = "ep") -> None:
    """A stored episode without running models: ana 3 s, ben 1 s, unknown_1 0.5 s (low confidence)."""
    people = [("ana", 6, 0.9), ("ben", 2, 0.8), ("unknown_1", 1, 0.2)]
    rng = np.random.default_rng(0)
    centres = {p: rng.normal(size=8) for p, _, _ in people}
    dets, tracks, labels, embeddings, screen = [], [], [], [], []
    t, det = 0.0, 0
    for track_id, (person, n, conf) in enumerate(people, start=1):
        start = t
        for _ in range(n):
            dets.append(Detection(det, t, 0.5, track_id, 0, 0, 10, 10, 0.9, [0.0] * 10, track_id, 0.8, 0.0, det))
            det, t = det + 1, t + 0.5
        tracks.append(Track(track_id, 0, start, t, n, 0.9, person, conf))
        labels.append(Assignment(track_id, start, t, person, conf, 0.1, "facebank", 0.3, False, f"a{track_id}", "auto"))
        vec = centres[person] + 0.05 * rng.normal(size=8)
        embeddings.append(FaceEmbedding("track", str(track_id), f"track:{track_id}", "test", list(vec / np.linalg.norm(vec))))
        if not person.startswith("unknown"):
            bank = centres[person] / np.linalg.norm(centres[person])
            embeddings.append(FaceEmbedding("facebank", person, f"{person}.jpg", "test", list(bank)))
        screen.append(ScreenTime(person, n * 0.5, 0.0, 0.0, conf))
    key = {"episode_id": episode_id, "run_id": "r1"}
    tables = {
        "detections": Detection.to_table(dets, **key),
        "tracks": Track.to_table(tracks, **key),
        "assignments": Assignment.to_table(labels, **key),
        "embeddings": FaceEmbedding.to_table(embeddings, **key),
        "screen_time": ScreenTime.to_table(screen, **key),
    }
    service.results.save_run(episode_id, "r1", tables)


@pytest.fixture
def service() -> Service:
    """The service the CLI builds too (storage from the test's SCREENALYTICS_STORAGE__URI), with one episode."""
    svc = Service()
    store_episode(svc)
    return svc


class EchoArgs(Args):
    value: Any = None
    fail_times: int = 0
    sleep_s: float = 0.0


class Echo(BaseModel):
    value: Any
    attempt: int


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Test operations: ``echo`` (returns its value; fails its first fail_times calls; may sleep)
    and ``boom`` (always fails); every call is recorded."""
    seen: list[dict[str, Any]] = []
    release = threading.Event()

    def echo(svc: Any, args: EchoArgs, caller: Any) -> BaseModel:
        seen.append(args.model_dump())
        if args.sleep_s:
            release.wait(args.sleep_s)
        attempt = sum(1 for c in seen if c == args.model_dump())
        if attempt <= args.fail_times:
            raise InputError(f"flaky: failure {attempt}")
        return Echo(value=args.value, attempt=attempt)

    def boom(svc: Any, args: EchoArgs, caller: Any) -> BaseModel:
        seen.append({"boom": True})
        raise RuntimeError("kaput\nsecond line")

    monkeypatch.setitem(OPERATIONS, "echo", Operation("echo", EchoArgs, Echo, echo, server=None))
    monkeypatch.setitem(OPERATIONS, "boom", Operation("boom", EchoArgs, Echo, boom, server=None))
    yield seen
    release.set()  # a timed-out call stops waiting


def write(tmp_path: Path, text: str, name: str = "pb.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip("\n"))
    return path


def cli_run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["playbook", *args], catch_exceptions=False)


# --- the schema ----------------------------------------------------------------------------------


def test_schema_files_are_generated_from_the_model() -> None:
    text = schema_text()
    assert (REPO / "core" / "playbook" / SCHEMA_FILE).read_text() == text
    assert (REPO / "playbooks" / "schema" / SCHEMA_FILE).read_text() == text
    assert json.loads(text)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    spec = importlib.util.spec_from_file_location("gen_playbook_schema", REPO / "tools" / "gen_playbook_schema.py")
    assert spec and spec.loader
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--check"]) == 0  # the script that rewrites them agrees


@pytest.mark.parametrize("name", ["process-episode.yaml", "triage-low-confidence.yaml", "export-and-notify.yaml"])
def test_shipped_playbooks_are_valid(name: str) -> None:
    result = cli_run("validate", str(REPO / "playbooks" / name))
    assert result.exit_code == 0 and result.stdout.strip() == "ok", result.output


# --- expressions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os')",
        "().__class__",
        "open('/etc/passwd')",
        "vars.__class__",
        "steps['a'].__dict__",
        "'x'.upper()",
        "[].append(1)",
        "(lambda: 1)()",
        "(x := 1)",
        "f'{vars}'",
        "len",
        "getattr(vars, 'x')",
        "os.system('true')",
        "sorted(vars, key=len)",
    ],
)
def test_the_sandbox_refuses(source: str) -> None:
    with pytest.raises(ExpressionError, match="invalid expression"):
        compile_expr(source)


@pytest.mark.parametrize("source", ["__import__('os')", "().__class__", "open('/etc/passwd')"])
def test_refused_expressions_make_the_playbook_invalid(tmp_path: Path, source: str, calls: list) -> None:
    path = write(
        tmp_path,
        f"""
name: sneaky
steps:
  - id: a
    uses: echo
    with: {{value: "${{{{ {source} }}}}"}}
""",
    )
    result = cli_run("run", str(path))
    assert result.exit_code == INVALID and calls == []
    assert result.stderr.startswith(f"{path}:5:19: invalid expression") and "not allowed" in result.stderr


def test_format_cannot_read_attributes() -> None:
    assert compile_expr("format('{0.__class__}', 1)").evaluate({}) == "{0.__class__}"
    assert compile_expr("format('{0} of {1} {{x}}', 'a', 2)").evaluate({}) == "a of 2 {x}"


def test_expressions_keep_types_and_read_dicts_as_attributes() -> None:
    rows = [
        {"person_id": "ana", "visual_s": 3.0, "confidence": 0.9},
        {"person_id": "unknown_1", "visual_s": 0.5, "confidence": 0.2},
    ]
    ctx = {
        "vars": {"n": 3, "name": "ep", "items": [1, 2]},
        "steps": {"s": {"outputs": {"rows": rows, "items": [7]}, "outcome": "success"}},
        "env": Env({"HOME": "/h"}),
    }
    assert render("${{ vars.n }}", ctx) == 3
    assert render("${{ vars.items }}", ctx) == [1, 2]
    assert render("${{ steps.s.outputs.rows[0] }}", ctx) == rows[0]
    assert render("${{ steps.s.outputs.items }}", ctx) == [7]  # a key named like a dict method is still a key
    assert (
        render("n=${{ vars.n }} ok=${{ vars.n > 2 }} l=${{ vars.items }} none=${{ env.NOPE }}", ctx)
        == "n=3 ok=true l=[1, 2] none="
    )
    assert render({"a": ["${{ vars.name }}-x"]}, ctx) == {"a": ["ep-x"]}
    assert render("${{ steps.s.outputs.rows[0].person_id }}", ctx) == "ana"
    ok = "${{ all(r.confidence >= 0.1 for r in steps.s.outputs.rows) && !contains(vars.name, 'zz') || false }}"
    assert render(ok, ctx) is True
    assert render("${{ [r.person_id for r in steps.s.outputs.rows if startsWith(r.person_id, 'UNKNOWN')] }}", ctx) == [
        "unknown_1"
    ]
    assert render("${{ env.HOME != '' and env.MISSING == null }}", ctx) is True
    assert render("${{ round(sum(r.visual_s for r in steps.s.outputs.rows), 1) }}", ctx) == 3.5
    assert render("${{ 'a' if vars.n == 3 else 'b' }}", ctx) == "a"
    assert render("${{ {'k': vars.n}['k'] }}", ctx) == 3
    assert render("${{ '!&&||' }}", ctx) == "!&&||"  # operators inside strings are left alone
    with pytest.raises(ExpressionError, match="has no 'nope'"):
        render("${{ vars.nope }}", ctx)
    with pytest.raises(ExpressionError, match="TypeError"):
        render("${{ env.NOPE < 1 }}", ctx)
    with pytest.raises(ExpressionError, match="too large"):
        render("${{ 'x' * 10000000 }}", ctx)
    with pytest.raises(ExpressionError, match="exponent"):
        render("${{ 9 ** 9 ** 9 }}", ctx)


# --- validation ----------------------------------------------------------------------------------

GOOD_STEP = """
  - id: a
    uses: echo
    with: {value: 1}
"""

MALFORMED = {
    "bad indentation": (
        """
name: x
steps:
  - id: a
    uses: echo
   with: {value: 1}
""",
        [(5, 4, "YAML syntax")],
    ),
    "unknown operation": (
        """
name: x
steps:
  - id: a
    uses: get_screentime
""",
        [(4, 11, "unknown operation 'get_screentime' (did you mean 'get_screen_time'?)")],
    ),
    "unknown with key": (
        """
name: x
steps:
  - id: a
    uses: get_screen_time
    with:
      episode_id: ep
      episode: ep
""",
        [(7, 7, "get_screen_time has no input 'episode'")],
    ),
    "missing uses or agent": (
        """
name: x
steps:
  - id: a
    with: {value: 1}
""",
        [(3, 5, "steps[0]: needs uses: or agent:")],
    ),
    "both uses and agent": (
        """
name: x
steps:
  - id: a
    uses: echo
    agent: triage
""",
        [(3, 5, "give only one of uses or agent")],
    ),
    "schema errors": (
        """
name: x
colour: red
steps:
  - id: bad-id
    uses: echo
    retries: many
    timout: 3
"""
        + GOOD_STEP,
        [
            (2, 1, "unknown field 'colour'"),
            (4, 9, "steps[0].id: 'bad-id' does not match"),
            (6, 14, "steps[0].retries: 'many' is not of type 'integer'"),
            (7, 5, "unknown field 'timout' (did you mean 'timeout'?)"),
        ],
    ),
    "values of the wrong type": (
        """
name: x
steps:
  - id: a
    uses: echo
    timeout: -1
    if: [1]
    assert:
      - that: 1
      - {message: m}
""",
        [
            (5, 14, "steps[0].timeout: -1 is less than or equal to the minimum of 0"),
            (6, 9, "steps[0].if: [1] is not string or boolean"),
            (8, 15, "steps[0].assert[0].that: 1 is not string or boolean"),
            (9, 9, "steps[0].assert[1]: 'that' is a required property"),
        ],
    ),
    "duplicate ids and a duplicate key": (
        """
name: x
steps:
  - id: a
    uses: echo
  - id: a
    uses: echo
    uses: echo
""",
        [(5, 9, "duplicate step id 'a'"), (7, 5, "duplicate key 'uses'")],
    ),
    "references": (
        """
name: x
vars: {n: 1}
steps:
  - id: a
    uses: echo
    with: {value: "${{ steps.b.outputs.value }}"}
  - id: b
    uses: echo
    if: ${{ steps.nope.outcome == 'success' }}
    with: {value: "${{ vars.m }}"}
  - id: c
    uses: echo
    with: {value: "${{ steps.b.outputs.valu }} ${{ steps.b.result }}"}
""",
        [
            (6, 19, "step 'b' runs later"),
            (9, 9, "unknown step id 'nope'"),
            (10, 19, "unknown var 'm'"),
            (13, 19, "echo has no output 'valu' (did you mean 'value'?)"),
            (13, 19, "steps.b.result: a step has outputs and outcome"),
        ],
    ),
    "bad expression syntax": (
        """
name: x
steps:
  - id: a
    uses: echo
    with:
      value: ${{ 1 + }}
    assert:
      - ${{ steps.a.outputs.value == }}
      - that: "${{ unclosed"
""",
        [(6, 14, "invalid expression '1 +'"), (8, 9, "invalid expression"), (9, 15, "unclosed '${{'")],
    ),
    "literal inputs checked against the operation": (
        """
name: x
steps:
  - id: a
    uses: list_low_confidence
    with: {episode_id: ep, limit: 0, threshold: "${{ 2 }}"}
  - id: b
    uses: export_screen_time
    with: {episode_id: ep}
""",
        [(5, 35, "list_low_confidence: limit: Input should be greater than or equal to 1"), (7, 11, "needs input 'out'")],
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_playbooks_are_reported_at_their_line(tmp_path: Path, case: str, calls: list) -> None:
    text, expected = MALFORMED[case]
    path = write(tmp_path, text)
    for command in (["validate", str(path)], ["run", str(path)]):
        result = cli_run(*command)
        assert result.exit_code == INVALID, result.output
        lines = result.stderr.strip().splitlines()
        for line, col, message in expected:
            prefix = f"{path}:{line}:{col}: "
            assert any(x.startswith(prefix) and message in x for x in lines), f"{prefix}{message!r} not in:\n{result.stderr}"
        assert all(re.match(rf"{re.escape(str(path))}:\d+:\d+: ", x) for x in lines), result.stderr
        assert result.stdout == ""
    assert calls == []  # nothing runs before validation passes


def test_nothing_runs_when_a_later_step_is_invalid(tmp_path: Path, calls: list, service: Service) -> None:
    path = write(tmp_path, "name: x\nsteps:" + GOOD_STEP + "  - id: b\n    uses: nope\n")
    summary = tmp_path / "s.json"
    result = cli_run("run", str(path), "--json", str(summary))
    assert result.exit_code == 2 and calls == []
    data = json.loads(summary.read_text())
    assert data["status"] == "invalid" and data["exit_code"] == 2 and "unknown operation 'nope'" in data["errors"][0]


def test_bad_vars_are_invalid(tmp_path: Path, calls: list) -> None:
    path = write(tmp_path, "name: x\nvars: {n: 1}\nsteps:" + GOOD_STEP)
    for bad, message in [("m=2", "declares no var 'm'"), ("n", "write NAME=VALUE")]:
        result = cli_run("run", str(path), "--var", bad)
        assert result.exit_code == 2 and message in result.stderr and result.stderr.startswith(f"{path}: ")
    assert calls == []
    assert cli_run("validate", str(path), "--var", "n=2").exit_code == 0


def test_missing_file(tmp_path: Path) -> None:
    result = cli_run("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and result.stderr.startswith(f"{tmp_path / 'nope.yaml'}:1:1: cannot read")


# --- running -------------------------------------------------------------------------------------

PROCESS = """
name: Screen time of a stored episode
vars:
  episode_id: nope
  out: out
  min_visual: 2
steps:
  - id: status
    uses: episode_status
    with: {episode_id: "${{ vars.episode_id }}"}
  - id: screen
    uses: get_screen_time
    with: {episode_id: "${{ steps.status.outputs.episode_id }}"}
    assert:
      - that: ${{ any(r.person_id == 'ana' && r.visual_s > vars.min_visual for r in steps.screen.outputs.rows) }}
        message: ana should be on screen more than ${{ vars.min_visual }} s
      - ${{ steps.screen.outputs.unassigned_share < 0.5 }}
  - id: skipped
    if: ${{ vars.episode_id == 'other' }}
    uses: boom
  - id: export
    uses: export_screen_time
    with:
      episode_id: ${{ vars.episode_id }}
      format: [csv, json]
      out: ${{ vars.out }}/${{ steps.screen.outputs.episode_id }}
  - id: after_skip
    if: ${{ steps.skipped.outcome == 'skipped' && steps.export.outcome == 'success' }}
    uses: echo
    with: {value: "${{ len(steps.export.outputs.files) }}"}
"""


def test_cli_run_passes_outputs_along_and_writes_a_summary(tmp_path: Path, service: Service, calls: list) -> None:
    path = write(tmp_path, PROCESS)
    summary = tmp_path / "summary" / "s.json"
    out = tmp_path / "exports"
    result = cli_run("run", str(path), "--var", "episode_id=ep", "--var", f"out={out}", "--json", str(summary))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Screen time of a stored episode: success (exit 0), 5/5 steps")
    progress = result.stderr.strip().splitlines()
    assert [x.split()[0] for x in progress] == ["[ok]", "[ok]", "[skip]", "[ok]", "[ok]"] and "2 assertions passed" in progress[1]
    data = json.loads(summary.read_text())
    assert data["name"] == "Screen time of a stored episode" and data["file"] == str(path)
    assert (data["status"], data["exit_code"], data["vars"]["episode_id"]) == ("success", 0, "ep")
    steps = {s["id"]: s for s in data["steps"]}
    assert [s["status"] for s in data["steps"]] == ["success", "success", "skipped", "success", "success"]
    assert steps["screen"]["uses"] == "get_screen_time" and steps["screen"]["agent"] is None
    assert steps["screen"]["attempts"] == 1 and steps["screen"]["duration_s"] >= 0 and steps["screen"]["error"] is None
    assert steps["screen"]["outputs"]["rows"][0]["person_id"] == "ana"
    assert steps["screen"]["assertions"][0] == {
        "that": "any(r.person_id == 'ana' && r.visual_s > vars.min_visual for r in steps.screen.outputs.rows)",
        "message": "ana should be on screen more than 2 s",
        "passed": True,
        "error": None,
    }
    assert steps["export"]["inputs"]["out"] == f"{out}/ep"
    assert sorted(Path(f).name for f in steps["export"]["outputs"]["files"]) == ["screen_time.csv", "screen_time.json"]
    assert (out / "ep" / "screen_time.csv").is_file()
    assert steps["after_skip"]["outputs"] == {"value": 2, "attempt": 1}  # a whole-string expression keeps its type
    assert calls == [{"value": 2, "fail_times": 0, "sleep_s": 0.0}]  # boom was skipped


def test_assertion_failure_exits_1_and_stops(tmp_path: Path, service: Service, calls: list) -> None:
    path = write(tmp_path, PROCESS)
    summary = tmp_path / "s.json"
    result = cli_run("run", str(path), "--var", "episode_id=ep", "--var", "min_visual=5", "--json", str(summary))
    assert result.exit_code == 1, result.output
    assert "[FAIL] screen (get_screen_time)" in result.stderr and "ana should be on screen more than 5 s" in result.stderr
    data = json.loads(summary.read_text())
    assert data["status"] == "assertion_failed" and data["exit_code"] == 1
    assert [s["status"] for s in data["steps"]] == ["success", "success", "not_run", "not_run", "not_run"]
    assert [a["passed"] for a in data["steps"][1]["assertions"]] == [False, True]  # every check of the step is reported
    assert calls == []


def test_step_failure_exits_3_and_stops(tmp_path: Path, service: Service, calls: list) -> None:
    path = write(tmp_path, PROCESS)
    summary = tmp_path / "s.json"
    result = cli_run("run", str(path), "--json", str(summary))  # episode_id 'nope' is not stored
    assert result.exit_code == 3, result.output
    data = json.loads(summary.read_text())
    assert data["status"] == "failure" and [s["status"] for s in data["steps"]][:3] == ["success", "failure", "not_run"]
    assert "unknown episode 'nope'" in data["steps"][1]["error"] and "[FAIL] screen" in result.stderr


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path: Path, calls: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "invoke", lambda *a: pytest.fail("a dry run called an operation"))
    path = write(tmp_path, PROCESS)
    summary = tmp_path / "plan.json"
    result = cli_run("run", str(path), "--dry-run", "--var", "episode_id=other", "--json", str(summary))
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    steps = {s["id"]: s for s in shown["steps"]}
    assert steps["status"] == {"id": "status", "uses": "episode_status", "with": {"episode_id": "other"}}
    assert steps["screen"]["with"] == {"episode_id": "<steps.status.outputs.episode_id>"}
    assert steps["skipped"]["if"] is True  # known before the run: vars only
    assert steps["after_skip"]["if"].startswith("<steps.skipped.outcome")
    assert steps["export"]["with"] == {
        "episode_id": "other",
        "format": ["csv", "json"],
        "out": "out/<steps.screen.outputs.episode_id>",
    }
    assert len(steps["screen"]["assert"]) == 2
    assert json.loads(summary.read_text())["plan"] == shown and calls == [] and result.stderr == ""


RETRY = """
name: retries
steps:
  - id: flaky
    uses: echo
    with: {value: x, fail_times: 2}
    retries: RETRIES
    backoff_s: 0.5
  - id: after
    uses: echo
    with: {value: "${{ steps.flaky.outputs.attempt }}"}
"""


def test_retries_back_off_and_succeed(tmp_path: Path, calls: list) -> None:
    waits: list[float] = []
    lines: list[str] = []
    checked = check(write(tmp_path, RETRY.replace("RETRIES", "2")))
    summary = run_playbook(checked, service=None, progress=lines.append, sleep=waits.append)
    assert summary.exit_code == 0 and waits == [0.5, 1.0]
    flaky, after = summary.steps
    assert (flaky.status, flaky.attempts, flaky.error) == ("success", 3, None)
    assert after.outputs == {"value": 3, "attempt": 1}
    assert lines[0] == "[retry] flaky: attempt 1 failed: flaky: failure 1; again in 0.5 s"
    assert lines[2].startswith("[ok]   flaky (echo)") and "3 attempts" in lines[2]


def test_retries_run_out(tmp_path: Path, calls: list) -> None:
    summary = run_playbook(check(write(tmp_path, RETRY.replace("RETRIES", "1"))), None, sleep=lambda s: None)
    flaky, after = summary.steps
    assert summary.exit_code == 3 and summary.status == "failure"
    assert (flaky.status, flaky.attempts, flaky.error) == ("failure", 2, "flaky: failure 2")
    assert after.status == "not_run" and len(calls) == 2


def test_timeout(tmp_path: Path, calls: list) -> None:
    path = write(
        tmp_path,
        """
name: slow
steps:
  - id: slow
    uses: echo
    with: {sleep_s: 30}
    timeout: 0.2
    retries: 3
""",
    )
    t0 = time.monotonic()
    summary = run_playbook(check(path), None, sleep=lambda s: None)
    assert time.monotonic() - t0 < 5
    step = summary.steps[0]
    assert summary.exit_code == 3 and step.status == "failure" and step.error == "timed out after 0.2 s"
    assert step.attempts == 1  # the abandoned call may still run: no second one beside it


def test_continue_on_error_and_outcome(tmp_path: Path, calls: list) -> None:
    path = write(
        tmp_path,
        """
name: tolerant
steps:
  - id: bad
    uses: boom
    continue_on_error: true
  - id: cleanup
    if: steps.bad.outcome == 'failure'
    uses: echo
    with: {value: "${{ steps.bad.outcome }}: ${{ steps.bad.outputs }}"}
""",
    )
    lines: list[str] = []
    summary = run_playbook(check(path), None, progress=lines.append)
    bad, cleanup = summary.steps
    assert summary.exit_code == 0 and summary.status == "success"
    assert bad.status == "failure" and bad.error == "RuntimeError: kaput"
    assert cleanup.outputs == {"value": "failure: {}", "attempt": 1}
    assert lines[0].startswith("[FAIL] bad (boom)") and lines[0].endswith("(continue_on_error)")


def test_expression_errors_at_run_time_fail_the_step(tmp_path: Path, calls: list) -> None:
    path = write(
        tmp_path,
        """
name: x
vars: {items: []}
steps:
  - id: a
    uses: echo
    with: {value: "${{ vars.items[0] }}"}
""",
    )
    summary = run_playbook(check(path), None)
    assert summary.exit_code == 3 and "out of range" in (summary.steps[0].error or "") and calls == []


def test_agent_steps(tmp_path: Path, calls: list, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def fake_agent(service: Any, profile: str, inputs: dict[str, Any]) -> dict[str, Any]:
        seen.append((profile, inputs))
        return {"proposals": 2, "summary": "two tracks look like ana"}

    try:
        import screenalytics.agents as agents

        monkeypatch.setattr(agents, "run_agent_step", fake_agent, raising=False)
    except ImportError:
        monkeypatch.setattr(runner_module, "AGENT_RUNNER", fake_agent)
    path = write(
        tmp_path,
        """
name: agent
vars: {episode_id: ep}
steps:
  - id: triage
    if: ${{ env.PLAYBOOK_TEST_AGENT }}
    agent: triage
    with: {episode_id: "${{ vars.episode_id }}", propose_only: true}
  - id: after
    uses: echo
    with: {value: "${{ steps.triage.outputs.proposals }}"}
    if: ${{ steps.triage.outcome == 'success' }}
""",
    )
    monkeypatch.delenv("PLAYBOOK_TEST_AGENT", raising=False)
    skipped = run_playbook(check(path), None)
    assert [s.status for s in skipped.steps] == ["skipped", "skipped"] and seen == []
    ran = run_playbook(check(path), None, environ={"PLAYBOOK_TEST_AGENT": "1"})
    assert seen == [("triage", {"episode_id": "ep", "propose_only": True})]
    assert ran.exit_code == 0 and ran.steps[0].agent == "triage" and ran.steps[1].outputs == {"value": 2, "attempt": 1}


def test_the_api_checks_before_running(tmp_path: Path, calls: list) -> None:
    path = write(tmp_path, "name: x\nsteps:\n  - id: a\n    uses: echo\n    with: {nope: 1}\n")
    with pytest.raises(PlaybookInvalid) as e:
        check(path)
    assert str(e.value.problems[0]) == f"{path}:5:12: echo has no input 'nope' (inputs: value, fail_times, sleep_s)"
    good = check(write(tmp_path, "name: x\nvars: {v: 1}\nsteps:" + GOOD_STEP, "good.yaml"), {"v": 5})
    assert good.vars == {"v": 5} and plan(good)["vars"] == {"v": 5}


# --- the real thing ------------------------------------------------------------------------------


@pytest.mark.slow
def test_process_episode_playbook_on_the_hamilton_clip(tmp_path: Path) -> None:
    """The shipped playbook, as CI runs it: from the repository root, on the bundled clip."""
    summary = tmp_path / "summary.json"
    out = tmp_path / "out"
    env = {**os.environ, "SCREENALYTICS_STORAGE__URI": str(tmp_path / "store")}
    proc = subprocess.run(
        [sys.executable, "-m", "screenalytics", "playbook", "run", "playbooks/process-episode.yaml"]
        + ["--var", f"video={VIDEO}", "--var", f"out={out}", "--json", str(summary)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(summary.read_text())
    assert data["status"] == "success" and [s["status"] for s in data["steps"]] == ["success"] * 3
    screen = data["steps"][1]
    assert all(a["passed"] for a in screen["assertions"]) and len(screen["assertions"]) == 2
    lin = next(r for r in screen["outputs"]["rows"] if r["person_id"] == "lin-manuel-miranda")
    assert lin["visual_s"] > 1 and lin["confidence"] >= 0.3
    assert (out / "screen_time.csv").is_file() and (out / "screen_time.json").is_file()
