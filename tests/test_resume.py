"""Resumable runs: stage checkpoints keyed by input, settings and models; real runs killed with
SIGKILL at named points inside their commits restart where they stopped and end equal to an
uninterrupted run; a crash while saving leaves the old results or the new, never a mix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from screenalytics.service import AnalyseRequest, Service
from screenalytics.stores import open_results
from screenalytics.stores.lance import TABLES
from tests.conftest import REPO, VIDEO

FACEBANK = REPO / "tests" / "data" / "hamilton_facebank.yaml"
FAST = {"decode": {"fps": 5}}
COMPARED = ("detections", "tracks", "assignments", "screen_time", "speech_segments", "av_links")
IGNORED = {"run_id", "created_at"}


def analyse(svc: Service, out: Path, **kw: Any) -> Any:
    return svc.analyse(AnalyseRequest(video=VIDEO, facebank=FACEBANK, out_dir=out, episode_id="ham", **kw))


def stored() -> dict[str, list[dict[str, Any]]]:
    """Every result table's current rows for the episode, without run ids, in a stable order."""
    svc = Service(**FAST)
    results = open_results(svc.settings)
    out = {}
    for name in TABLES:
        if name == "assignment_history":
            continue
        rows = [{k: v for k, v in r.items() if k not in IGNORED} for r in results.read(name, "ham").to_pylist()]
        out[name] = sorted(rows, key=repr)
    return out


def run_ids() -> dict[str, set[str]]:
    results = open_results(Service(**FAST).settings)
    return {name: set(results.read(name, "ham").column("run_id").to_pylist()) for name in COMPARED}


def test_resume_reuses_matching_checkpoints_and_reruns_only_what_a_setting_affects(tmp_path: Path) -> None:
    first = analyse(Service(**FAST), tmp_path / "out")
    assert first.reused == [] and not first.up_to_date
    baseline = stored()

    again = analyse(Service(**FAST), tmp_path / "out", resume=True)
    assert again.up_to_date and again.run_id == first.run_id  # finished with the same inputs: a no-op
    assert stored() == baseline

    forced = analyse(Service(**FAST), tmp_path / "out", resume=True, force=True)
    assert not forced.up_to_date and forced.reused == [] and forced.run_id != first.run_id
    assert stored() == baseline  # recomputed from scratch: the same results

    fusion = analyse(Service(**FAST, fusion={"min_cooccurrence": 0.95}), tmp_path / "out", resume=True)
    assert sorted(fusion.reused) == ["faces", "listen"]  # fusion is cheap and re-runs; both expensive stages reused

    vad = analyse(Service(**FAST, vad={"threshold": 0.55}), tmp_path / "out", resume=True)
    assert vad.reused == ["faces"]  # an audio setting: the vision pass is reused, listening re-runs

    vision = analyse(Service(**FAST, detection={"score_threshold": 0.65}), tmp_path / "out", resume=True)
    assert "faces" not in vision.reused

    plain = analyse(Service(**FAST), tmp_path / "out")
    assert plain.reused == [] and not plain.up_to_date  # without --resume a run recomputes everything
    assert stored() == baseline


def _command(out: Path, *flags: str) -> list[str]:
    cmd = [sys.executable, "-m", "screenalytics", "run", str(VIDEO), "--facebank", str(FACEBANK), "--out", str(out)]
    return [*cmd, "--episode-id", "ham", "--fps", "5", "-q", *flags]


def _cli_run(out: Path, *flags: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("SCREENALYTICS_TEST_KILL_AT", None)
    if kill_at:
        env["SCREENALYTICS_TEST_KILL_AT"] = kill_at
    return subprocess.run(_command(out, *flags), env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["checkpoint:faces", "checkpoint:listen", "save:staged", "save:flipped", "early"])
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path: Path, point: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # an earlier run with other settings is stored: a crash must leave it or the new run, never a mix
    old = _cli_run(tmp_path / "old")
    assert old.returncode == 0, old.stderr
    before = stored()
    monkeypatch.setenv("SCREENALYTICS_FUSION__MIN_COOCCURRENCE", "0.95")  # other results, same checkpoints

    out = tmp_path / "out"
    if point == "early":  # a kill from outside, at an arbitrary early moment
        proc = subprocess.Popen(_command(out, "--resume", "--force"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    else:
        killed = _cli_run(out, "--resume", "--force", kill_at=point)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    ids = run_ids()
    assert all(len(v) == 1 for v in ids.values()) and len(set().union(*ids.values())) == 1, f"runs mixed: {ids}"
    if point != "save:flipped" and point != "early":
        assert stored() == before  # killed before the flip: the old results, untouched

    resumed = _cli_run(out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    if point in ("checkpoint:listen", "save:staged", "save:flipped"):
        assert "reused the checkpoints of" in resumed.stderr and "faces" in resumed.stderr
    resumed_rows = stored()
    fresh = _cli_run(tmp_path / "fresh")  # no --resume: every stage computed again
    assert fresh.returncode == 0, fresh.stderr
    assert resumed_rows == stored()
    assert resumed_rows != before  # the setting did change the results, so the comparison means something
