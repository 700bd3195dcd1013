"""The MCP servers through a real MCP client over stdio, against spawned `screenalytics mcp serve`
processes, asserted against the store the service reads."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import anyio
import pytest

from conftest import FACES, REPO, VIDEO, make_facebank
from mcp_client import ToolFailed, call, connect
from screenalytics.mcp_servers.servers import tool_list
from screenalytics.service import AnalyseRequest, Service
from synth import ShotSpec, compose

SNAPSHOT = REPO / "tests" / "data" / "mcp_tools.json"
HAMILTON_FACEBANK = REPO / "tests" / "data" / "hamilton_facebank.yaml"


@pytest.fixture
def episode(tmp_path):
    """A short real episode (two people) analysed into the test's store."""
    video = tmp_path / "v.mp4"
    compose(video, [ShotSpec(FACES / "obama.jpg", 0.8, ["obama"]), ShotSpec(FACES / "biden.jpg", 0.6, ["biden"])])
    bank = make_facebank(tmp_path / "fb", {"obama": ["obama2.jpg"], "biden": ["biden2.jpg"]})
    os.environ["SCREENALYTICS_AUDIO__ENABLED"] = "false"  # the spawned servers see the same settings
    try:
        Service().analyse(AnalyseRequest(video=video, facebank=bank, out_dir=tmp_path / "out", episode_id="ep"))
        yield video, bank
    finally:
        os.environ.pop("SCREENALYTICS_AUDIO__ENABLED", None)


def test_tool_lists_match_the_snapshot():
    """Names, annotations and inputs of every tool: a change here is a change to what agents call."""
    got = {name: tool_list(name, Service()) for name in ("screenalytics", "storage", "analytics")}
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(got, indent=1) + "\n")
    assert got == json.loads(SNAPSHOT.read_text()), "tool list changed: rerun with UPDATE_SNAPSHOTS=1 if intended"
    tools = {t["name"]: t for t in got["screenalytics"]}
    assert {"start_process_episode", "get_job", "cancel_job", "list_low_confidence", "assign_identity", "undo"} <= set(tools)
    assert tools["undo"]["annotations"]["destructive_hint"] and tools["get_screen_time"]["annotations"]["read_only_hint"]
    assert all(t["output"] for ts in got.values() for t in ts), "every tool publishes an output schema"


def test_review_through_stdio(episode, tmp_path):
    service = Service()

    async def main() -> None:
        async with connect("screenalytics") as c:
            listed = {t.name for t in (await c.list_tools()).tools}
            assert "assign_identity" in listed and "purge" not in listed
            queue = await call(c, "list_low_confidence", {"episode_id": "ep", "threshold": 1.01, "limit": 1})
            assert queue["total"] >= 2 and len(queue["items"]) == 1 and queue["next_cursor"] == 1
            item = queue["items"][0]
            assert [x["person_id"] for x in item["candidates"]] and item["margin"] is not None and item["seconds"] > 0
            assert item["chips"] and all(Path(u).exists() for u in item["chips"])
            other = "biden" if item["person_id"] == "obama" else "obama"
            track = item["track_id"]

            done = await call(c, "assign_identity", {"episode_id": "ep", "person_id": other, "track_id": track, "reason": "test"})
            assert done["applied"] and done["rows_changed"] >= 1
            assert [h.op for h in service.history("ep")] == ["reassign_track"] and service.history("ep")[0].who == "mcp"
            await call(c, "lock_track", {"episode_id": "ep", "track_id": track})
            with pytest.raises(ToolFailed, match="locked") as e:
                await call(c, "assign_identity", {"episode_id": "ep", "person_id": "rose", "track_id": track})
            assert "\n" not in str(e.value)
            with pytest.raises(ToolFailed, match="dry_run=true"):
                await call(c, "assign_identity", {"episode_id": "ep", "person_id": "rose", "track_id": track, "force": True})
            preview = await call(
                c, "assign_identity", {"episode_id": "ep", "person_id": "rose", "track_id": track, "force": True, "dry_run": True}
            )
            assert not preview["applied"] and preview["confirm_token"] and len(service.history("ep")) == 2
            assert any(r["person_id"] == "rose" for r in preview["screen_time"])
            assert not any(r.person_id == "rose" for r in service.screen_time("ep"))
            forced = {"episode_id": "ep", "person_id": "rose", "track_id": track, "force": True, "dry_run": False}
            with pytest.raises(ToolFailed, match="confirm_token does not match"):
                await call(c, "assign_identity", {**forced, "confirm_token": "0" * 20})
            await call(c, "assign_identity", {**forced, "confirm_token": preview["confirm_token"]})
            assert any(r.person_id == "rose" and r.visual_s > 0 for r in service.screen_time("ep"))

            undo = await call(c, "undo", {"episode_id": "ep"})  # a dry run by default
            assert not undo["applied"] and undo["confirm_token"] and len(service.history("ep")) == 3
            await call(c, "undo", {"episode_id": "ep", "dry_run": False, "confirm_token": undo["confirm_token"]})
            assert not any(r.person_id == "rose" and r.visual_s > 0 for r in service.screen_time("ep"))
            history = await call(c, "get_history", {"episode_id": "ep"})
            assert history["items"][-1]["op"] == "undo:reassign_track" and history["items"][-1]["undoes"]

            out = tmp_path / "export"
            files = await call(c, "export_screen_time", {"episode_id": "ep", "format": "csv", "out": str(out)})
            rows = list(csv.DictReader(Path(files["files"][0]).read_text().splitlines()))
            stored = service.screen_time("ep")
            assert [r["person_id"] for r in rows] == [r.person_id for r in stored]
            assert [float(r["visual_s"]) for r in rows] == pytest.approx([r.visual_s for r in stored], abs=1e-3)

            summary = await call(c, "get_screen_time", {"episode_id": "ep"})
            resource = await c.read_resource("screenalytics://episodes/ep/screen_time")
            assert json.loads(resource.contents[0].text) == summary
            report = await c.read_resource("screenalytics://episodes/ep/report")
            assert report.contents[0].text.startswith("# Episode ep")
            with pytest.raises(ToolFailed, match="unknown episode 'nope'"):
                await call(c, "get_screen_time", {"episode_id": "nope"})
            with pytest.raises(ToolFailed, match="exactly one of"):
                await call(c, "assign_identity", {"episode_id": "ep", "person_id": "x", "track_id": 1, "cluster_id": "y"})

    anyio.run(main)


def test_storage_is_confined_to_its_root(episode, tmp_path):
    root = Path(os.environ["SCREENALYTICS_STORAGE__URI"])
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.txt").write_text("do not touch")
    (root / "frames" / "leak").symlink_to(secret, target_is_directory=True)
    before = sorted(p.name for p in secret.iterdir())

    async def main() -> None:
        async with connect("storage") as c:
            keys = await call(c, "list_artifacts", {"prefix": "chips/", "limit": 500})
            assert keys["items"] and all(k.startswith("chips/") for k in keys["items"])
            url = await call(c, "signed_url", {"key": keys["items"][0]})
            assert Path(url["url"]).read_bytes()[:2] == b"\xff\xd8"  # a JPEG
            escapes = ("../outside/secret.txt", "/etc/passwd", "s3://other-bucket/x", "frames/leak/secret.txt", "frames/../../x")
            for bad in escapes:
                with pytest.raises(ToolFailed, match="artifact key|outside the storage root") as e:
                    await call(c, "signed_url", {"key": bad})
                assert "\n" not in str(e.value)
            for bad in ("../", "/etc", "frames/leak"):
                try:
                    listed = await call(c, "list_artifacts", {"prefix": bad})
                    assert listed["items"] == [], f"{bad} listed {listed['items']}"
                except ToolFailed as e:
                    assert "artifact key" in str(e) or "outside the storage root" in str(e)
            assert "frames/leak/secret.txt" not in (await call(c, "list_artifacts", {"prefix": "frames/", "limit": 500}))["items"]
            for bad in ("lancedb/", "../outside/", "frames/leak/"):
                with pytest.raises(ToolFailed):
                    await call(c, "purge", {"prefix": bad, "older_than_days": 0, "dry_run": False, "confirm_token": "x"})
            preview = await call(c, "purge", {"prefix": "frames/", "older_than_days": 0})
            assert preview["dry_run"] and preview["keys"] and all(k.startswith("frames/") for k in preview["keys"])
            assert all((root / k).exists() for k in preview["keys"])
            with pytest.raises(ToolFailed, match="confirm_token"):
                await call(c, "purge", {"prefix": "frames/", "older_than_days": 0, "dry_run": False})
            confirmed = {"prefix": "frames/", "older_than_days": 0, "dry_run": False, "confirm_token": preview["confirm_token"]}
            gone = await call(c, "purge", confirmed)
            assert gone["keys"] == preview["keys"] and not any((root / k).exists() for k in gone["keys"])

    anyio.run(main)
    assert sorted(p.name for p in secret.iterdir()) == before and (secret / "secret.txt").read_text() == "do not touch"
    assert Service().screen_time("ep"), "results are untouched by purges"


@pytest.mark.slow
def test_hamilton_as_a_job_that_survives_a_server_restart(tmp_path):
    """Process the Hamilton clip as a job over stdio; the job outlives the server that started it."""
    service = Service()
    notes: list[tuple[float, str]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        notes.append((value, message or ""))

    async def main() -> dict:
        args = {"video": str(VIDEO), "facebank": str(HAMILTON_FACEBANK), "episode_id": "hamilton", "out_dir": str(tmp_path / "o")}
        async with connect("screenalytics") as c:
            job = await call(c, "start_process_episode", args)
            assert job["status"] in ("queued", "running") and job["job_id"].startswith("job-")
            with pytest.raises(ToolFailed, match="being processed by"):
                await call(c, "start_process_episode", args)
            first = await call(c, "get_job", {"job_id": job["job_id"], "wait_s": 3}, progress_callback=progress)
            assert first["status"] in ("queued", "running")
        async with connect("screenalytics") as c:  # a new server process: the job is in the store
            while True:
                info = await call(c, "get_job", {"job_id": job["job_id"], "wait_s": 25}, progress_callback=progress)
                if info["status"] not in ("queued", "running"):
                    break
                assert info["timed_out"]
            assert info["status"] == "done", info
            listed = await call(c, "list_jobs", {})
            assert listed["items"][0]["job_id"] == job["job_id"]
            queue = await call(c, "list_low_confidence", {"episode_id": "hamilton", "threshold": 1.01})
            item = queue["items"][0]
            await call(c, "assign_identity", {"episode_id": "hamilton", "person_id": "test-person", "track_id": item["track_id"]})
            assert any(r.person_id == "test-person" for r in service.screen_time("hamilton"))
            undo = await call(c, "undo", {"episode_id": "hamilton"})
            await call(c, "undo", {"episode_id": "hamilton", "dry_run": False, "confirm_token": undo["confirm_token"]})
            assert not any(r.person_id == "test-person" and r.visual_s > 0 for r in service.screen_time("hamilton"))
            files = await call(c, "export_screen_time", {"episode_id": "hamilton", "format": ["csv"], "out": str(tmp_path / "x")})
            return {"info": info, "csv": list(csv.DictReader(Path(files["files"][0]).read_text().splitlines()))}

    got = anyio.run(main)
    rows = {r.person_id: r for r in service.screen_time("hamilton")}
    assert rows["lin-manuel-miranda"].visual_s > 3 and rows["lin-manuel-miranda"].speaking_s > 5
    assert got["info"]["result"]["episode_id"] == "hamilton" and got["info"]["fraction"] == 1.0
    assert [r["person_id"] for r in got["csv"]] == list(rows)
    values = [v for v, _ in notes]
    assert values == sorted(values) and len({m for _, m in notes}) >= 3, notes  # moves forward, one message per stage


@pytest.mark.slow
def test_cancel_a_running_job(episode, tmp_path):
    video, bank = episode
    service = Service()
    long_video = tmp_path / "long.mp4"
    compose(long_video, [ShotSpec(FACES / "obama.jpg", 20.0, ["obama"])])
    job = service.start_job(AnalyseRequest(video=long_video, facebank=bank, episode_id="ep", out_dir=tmp_path / "o"))
    while (info := service.get_job(job.job_id, 1)).status == "queued":
        pass
    assert service.cancel_job(job.job_id).message in ("cancelling", "cancelled before it started")
    final = service.get_job(job.job_id, 25)
    assert final.status == "cancelled", final
    assert service.run_status("ep").analysed, "the earlier results of the episode are kept"
    assert info.status in ("running", "cancelled")


def test_analytics_is_read_only_sql(episode):
    service = Service()
    stored = {r.person_id: r.visual_s for r in service.screen_time("ep")}

    async def main() -> None:
        async with connect("analytics") as c:
            tables = {t["name"] for t in (await call(c, "list_tables"))["tables"]}
            assert {"screen_time", "tracks", "episodes", "people"} <= tables
            got = await call(
                c, "query", {"sql": "SELECT person_id, visual_s FROM screen_time WHERE episode_id = $ep", "params": {"ep": "ep"}}
            )
            assert {r["person_id"]: r["visual_s"] for r in got["rows"]} == pytest.approx(stored)
            share = await call(c, "run_named_query", {"name": "speaking_share", "params": {"episode_id": "ep"}})
            assert share["columns"]
            for bad in (
                "DELETE FROM screen_time",
                "DROP TABLE screen_time",
                "INSERT INTO people VALUES ('x', 'y', '')",
                "SELECT 1; DROP TABLE screen_time",
                "COPY screen_time TO '/tmp/x.csv'",
                "ATTACH '/tmp/evil.db' AS evil",
                "SELECT * FROM read_csv('/etc/passwd')",
            ):
                with pytest.raises(ToolFailed) as e:
                    await call(c, "query", {"sql": bad})
                assert "\n" not in str(e.value)
            injected = await call(
                c,
                "query",
                {"sql": "SELECT * FROM screen_time WHERE person_id = ?", "params": ["x' OR '1'='1'; DROP TABLE screen_time; --"]},
            )
            assert injected["rows"] == []

    anyio.run(main)
    assert {r.person_id: r.visual_s for r in service.screen_time("ep")} == stored


def test_a_client_that_answers_elicitation_confirms_in_the_call(episode):
    """Where the client supports elicitation, a destructive call asks instead of failing; a 'no' changes nothing."""
    from mcp.types import ElicitResult

    service = Service()
    track = service.evidence("ep", threshold=1.01)[0].track_id
    service.reassign_track("ep", track, "rose")
    answers = iter([False, True])
    asked: list[str] = []

    async def elicit(context, params):  # type: ignore[no-untyped-def]
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": next(answers)})

    async def main() -> None:
        async with connect("screenalytics", elicitation_callback=elicit) as c:
            with pytest.raises(ToolFailed, match="not confirmed"):
                await call(c, "undo", {"episode_id": "ep", "dry_run": False})
            assert [h.op for h in service.history("ep")] == ["reassign_track"]
            done = await call(c, "undo", {"episode_id": "ep", "dry_run": False})
            assert done["applied"]

    anyio.run(main)
    assert len(asked) == 2 and "undo" in asked[0]
    assert [h.op for h in service.history("ep")] == ["reassign_track", "undo:reassign_track"]


def test_the_server_holds_max_changes_under_concurrent_calls(episode, tmp_path):
    """An MCP client may send calls at once: the policy still allows exactly max_changes."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("max_changes: 1\n")

    async def main() -> list[object]:
        results: list[object] = []
        async with connect("screenalytics", "--policy", str(policy), "--actor", "agent:race") as c:

            async def assign(track: int, person: str) -> None:
                try:
                    results.append(await call(c, "assign_identity", {"episode_id": "ep", "track_id": track, "person_id": person}))
                except Exception as e:
                    results.append(e)

            async with anyio.create_task_group() as tg:
                tg.start_soon(assign, 1, "obama")
                tg.start_soon(assign, 2, "biden")
        return results

    anyio.run(main)
    assert len(Service().history("ep")) == 1, [h.args for h in Service().history("ep")]


@pytest.mark.slow
def test_streamable_http(tmp_path):
    """`--http HOST:PORT` serves the same tools over streamable HTTP."""
    import socket
    import subprocess
    import sys
    import time

    from mcp import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115  (closed below, after the server stops)
    proc = subprocess.Popen(
        [sys.executable, "-m", "screenalytics", "mcp", "serve", "storage", "--http", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)

        async def main() -> set[str]:
            async with Client(f"http://127.0.0.1:{port}/mcp") as c:
                with pytest.raises(ToolFailed, match="artifact key"):
                    await call(c, "signed_url", {"key": "../x"})
                return {t.name for t in (await c.list_tools()).tools}

        assert anyio.run(main) == {"list_artifacts", "signed_url", "purge"}
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
