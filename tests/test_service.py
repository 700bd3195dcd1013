"""The service layer: every front door calls it, so the CLI and Python give identical results."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner

from conftest import FACES, make_facebank
from screenalytics.cli import cli
from screenalytics.errors import Cancelled, ConfigError, InputError
from screenalytics.model.names import Stage
from screenalytics.service import AnalyseRequest, Service
from synth import ShotSpec, compose


@pytest.fixture
def analysed(tmp_path):
    video = tmp_path / "v.mp4"
    compose(video, [ShotSpec(FACES / "obama.jpg", 0.8, ["obama"]), ShotSpec(FACES / "biden.jpg", 0.6, ["biden"])])
    bank = make_facebank(tmp_path / "fb", {"obama": ["obama2.jpg"], "biden": ["biden2.jpg"]})
    service = Service(audio={"enabled": False})
    seen = []
    result = service.analyse(
        AnalyseRequest(video=video, facebank=bank, out_dir=tmp_path / "out", episode_id="svc"),
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    return service, result, seen, video, bank


def test_cli_and_service_agree(analysed, tmp_path):
    service, result, seen, *_ = analysed
    assert {r.person_id for r in result.screen_time if r.visual_s > 0.3} == {"obama", "biden"}
    assert seen and seen[-1][0] == Stage.DETECT and seen[-1][1] == pytest.approx(seen[-1][2], abs=0.05)
    written = json.loads((result.out_dir / "screen_time.json").read_text())
    stored = [r.model_dump() for r in service.screen_time("svc")]
    cli_rows = json.loads(CliRunner().invoke(cli, ["screen-time", "svc", "--json"]).output)
    assert cli_rows == stored
    assert [r["person_id"] for r in written] == [r["person_id"] for r in stored]
    assert [r["visual_s"] for r in written] == [round(r["visual_s"], 3) for r in stored]
    status = service.run_status("svc")
    assert status.analysed and status.run_id == result.run_id and status.rows["tracks"] == result.tracks
    assert status.run is not None and status.run["frames_analysed"] == result.frames_analysed
    files = service.export("svc", ["csv", "json"], tmp_path / "exported").files
    assert json.loads((tmp_path / "exported" / "screen_time.json").read_text()) == written and len(files) == 2


def test_edits_through_the_service_match_the_cli(analysed):
    service, result, *_ = analysed
    queue = service.queue("svc", threshold=1.01)
    edit = service.reassign_track("svc", queue[0].track_id, "rose", who="svc", reason="test")
    assert edit.op == "reassign_track" and any(r.person_id == "rose" and r.visual_s > 0 for r in edit.screen_time)
    history = CliRunner().invoke(cli, ["review", "history", "svc"]).output
    assert "reassign_track" in history and [h.op for h in service.history("svc")] == ["reassign_track"]
    undone = service.undo("svc")
    assert not any(r.person_id == "rose" and r.visual_s > 0 for r in undone.screen_time)


def test_unknown_episodes_and_unsafe_purges_are_refused(analysed):
    service, *_ = analysed
    with pytest.raises(InputError, match="unknown episode 'nope'"):
        service.screen_time("nope")
    for prefix in ("", "lancedb/", "/"):
        with pytest.raises(ConfigError, match="refusing to purge"):
            service.purge({prefix: 1})
    with pytest.raises(ConfigError, match="0 or more"):
        service.purge({"frames/": -1})
    assert service.screen_time("svc")  # nothing stored was touched


def test_named_stages_and_cancellation(analysed, tmp_path):
    service, _, _, video, bank = analysed
    req = AnalyseRequest(video=video, facebank=bank, out_dir=tmp_path / "o2", episode_id="svc", stages=[Stage.IDENTIFY])
    assert service.analyse(req).audio_status == "disabled"  # no audio stage asked for
    stop = threading.Event()
    stop.set()
    before = service.screen_time("svc")
    with pytest.raises(Cancelled, match="cancelled"):
        service.analyse(req.model_copy(update={"episode_id": "svc"}), cancel=stop)
    assert service.screen_time("svc") == before  # a cancelled run stores nothing
