"""Jobs recorded in the store, and review by unattended callers: evidence, policies, confirmations."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from screenalytics.errors import InputError
from screenalytics.service import AnalyseRequest, Service
from screenalytics.service.operations import Caller, invoke
from screenalytics.service.policy import EditPolicy, PolicyError, PolicyGuard
from screenalytics.service.triage import ConfirmationRequired
from test_mcp import episode  # noqa: F401  (the fixture: a real two-person episode "ep")


def test_job_records_queue_cancel_and_dead_workers(tmp_path):
    service = Service()
    video = tmp_path / "v.mp4"
    video.write_bytes(b"not read until the worker runs")
    req = AnalyseRequest(video=video, facebank=tmp_path, episode_id="e1")
    job = service.start_job(req, spawn=False)
    assert job.status == "queued" and job.episode_id == "e1" and not job.timed_out
    waited = service.get_job(job.job_id, wait_s=0.3)
    assert waited.status == "queued" and waited.timed_out
    assert service.cancel_job(job.job_id).status == "cancelled"
    assert service.cancel_job(job.job_id).status == "cancelled", "idempotent"

    # a worker that died while running (a pid that is gone) is reported failed, with the reason
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job2 = service.start_job(req, spawn=False)
    record = service.jobs.get(job2.job_id)
    record.update(status="running", worker={"host": __import__("socket").gethostname(), "pid": dead.pid})
    service.jobs.put(record)
    failed = service.get_job(job2.job_id)
    assert failed.status == "failed" and "worker stopped" in (failed.error or "")
    assert [j.job_id for j in service.list_jobs().items] == [job2.job_id, job.job_id]

    with pytest.raises(InputError, match="unknown job"):
        service.get_job("job-000000000000")
    with pytest.raises(InputError, match="not a job id"):
        service.get_job("../../etc/passwd")
    with pytest.raises(InputError, match="video not found"):
        service.start_job(AnalyseRequest(video=tmp_path / "missing.mp4", facebank=tmp_path), spawn=False)


def test_the_worker_runs_a_recorded_job_and_reports_a_bad_input(tmp_path):
    """A worker turns an input the pipeline refuses into a failed job with the one-line reason."""
    service = Service()
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"this is not a video")
    job = service.start_job(AnalyseRequest(video=video, facebank=tmp_path, episode_id="bad"), spawn=False)
    out = subprocess.run(
        [sys.executable, "-m", "screenalytics", "jobs", "work", job.job_id], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    info = service.get_job(job.job_id)
    assert info.status == "failed" and "broken.mp4" in (info.error or "") and info.finished_at
    assert json.loads(out.stdout)["status"] == "failed"


def test_evidence_and_rules_only_triage(episode, tmp_path):  # noqa: F811
    service = Service()
    queue = service.evidence("ep", threshold=1.01)
    assert queue and all(q.candidates for q in queue)
    for q in queue:
        sims = [c.similarity for c in q.candidates]
        assert sims == sorted(sims, reverse=True) and q.margin == pytest.approx(sims[0] - sims[1], abs=1e-3)

    proposals = tmp_path / "proposals.jsonl"
    report = invoke(
        service,
        "auto_triage",
        {
            "episode_id": "ep",
            "threshold": 1.01,
            "propose_only": True,
            "proposals_file": str(proposals),
            "min_similarity": 0.0,
            "min_margin": 0.0,
        },
    )
    assert {d.outcome for d in report.decisions} == {"proposed"} and service.history("ep") == []
    lines = [json.loads(x) for x in proposals.read_text().splitlines()]
    assert [p["track_id"] for p in lines] == [d.track_id for d in report.decisions]

    strict = invoke(
        service, "auto_triage", {"episode_id": "ep", "threshold": 1.01, "propose_only": False, "min_similarity": 0.999}
    )
    assert {d.outcome for d in strict.decisions} == {"skipped"} and all("policy: similarity" in d.why for d in strict.decisions)
    one = invoke(
        service,
        "auto_triage",
        {
            "episode_id": "ep",
            "threshold": 1.01,
            "propose_only": False,
            "max_changes": 1,
            "min_similarity": 0.0,
            "min_margin": 0.0,
        },
    )
    assert [d.outcome for d in one.decisions].count("applied") == 1 and len(service.history("ep")) == 1
    assert any("at most 1 change" in d.why for d in one.decisions)


def test_policies_and_confirmations_hold_in_the_service(episode):  # noqa: F811
    service = Service()
    track = service.evidence("ep", threshold=1.01)[0].track_id
    service.lock("ep", track)
    guarded = Caller(who="agent", guard=PolicyGuard(EditPolicy(max_changes=5)))
    with pytest.raises(PolicyError, match="locked rows"):
        invoke(service, "assign_identity", {"episode_id": "ep", "person_id": "x", "track_id": track, "force": True}, guarded)
    with pytest.raises(ConfirmationRequired):
        invoke(service, "undo", {"episode_id": "ep", "dry_run": False})
    preview = invoke(service, "undo", {"episode_id": "ep"})
    assert not preview.applied and [h.op for h in service.history("ep")] == ["lock"]
    service.reassign_track("ep", track, "someone", force=True)  # the state moves on: the old token is stale
    with pytest.raises(ConfirmationRequired, match="does not match"):
        invoke(service, "undo", {"episode_id": "ep", "dry_run": False, "confirm_token": preview.confirm_token})
    with pytest.raises(InputError, match="exactly one of"):
        invoke(service, "assign_identity", {"episode_id": "ep", "person_id": "x"})


def test_an_edit_that_changes_no_identity_keeps_the_confidence(episode):  # noqa: F811
    """Screen time recomputed after a review weighs labels as the identify stage rated them."""
    service = Service()
    before = {r.person_id: r.confidence for r in service.screen_time("ep")}
    track = service.evidence("ep", threshold=1.01)[0].track_id
    service.lock("ep", track)
    assert {r.person_id: r.confidence for r in service.screen_time("ep")} == pytest.approx(before, abs=1e-4)
    service.reassign_track("ep", track, "rose", force=True)
    assert next(r.confidence for r in service.screen_time("ep") if r.person_id == "rose") == 1.0
