"""Reviews on stored episodes, on a folder and on S3: edits, history, undo, locks, and two
processes editing one episode at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from conftest import FACES, REPO, make_facebank
from screenalytics.cli import cli
from screenalytics.config import load_settings
from screenalytics.pipeline import Pipeline, run_episode
from screenalytics.review import ReviewError, merge_tracks, reassign_cluster, reassign_track, set_lock, split_track
from screenalytics.service import Service
from screenalytics.stores.review_store import open_review
from synth import ShotSpec, compose

EPISODE = "rev"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("review")
    video = root / "v.mp4"
    compose(
        video,
        [ShotSpec(FACES / "obama.jpg", 1.2, ["obama"], (30, 30, 90)), ShotSpec(FACES / "biden.jpg", 1.2, ["x"], (90, 30, 30))],
    )
    return video, make_facebank(root / "fb", {"obama": ["obama2.jpg"], "kit": ["kit_harington_2.jpeg"]})


@pytest.fixture
def episode(env, media, pipeline, tmp_path):
    """The composed episode analysed into the storage that `env` points at."""
    video, bank = media
    settings = load_settings(audio={"enabled": False})
    run_episode(Pipeline(settings), video, bank, tmp_path / "out", episode_id=EPISODE)
    return settings


def times(session) -> dict[str, float]:
    return {r["person_id"]: round(r["visual_s"], 6) for r in session.results.read("screen_time", EPISODE).to_pylist()}


def tables(session) -> dict[str, list[dict]]:
    """Every row of every table a review reads or writes, every column, in one order."""
    names = ["detections", "tracks", "embeddings", "assignments", "screen_time", "speech_segments", "av_links"]
    return {n: sorted(session.results.read(n, EPISODE).to_pylist(), key=lambda r: sorted(map(repr, r.items()))) for n in names}


def labels(session) -> list[tuple]:
    rows = session.results.read("assignments", EPISODE).to_pylist()
    return sorted((r["assignment_id"], r["track_id"], r["person_id"], r["locked"], r["start_t"], r["end_t"]) for r in rows)


def test_edit_history_and_undo_restore_everything(episode):
    session = open_review(episode, EPISODE)
    start_times, start_labels, start = times(session), labels(session), tables(session)
    unknown = next(p for p in start_times if p.startswith("unknown_"))
    assert start_times["kit"] == 0
    session.edit(reassign_cluster, unknown, "kit", who="ana", reason="that is Kit")
    after = times(session)
    assert after["kit"] == pytest.approx(start_times[unknown]) and after.get(unknown, 0) == 0
    track = min(t for _, t, *_ in labels(session))
    session.edit(set_lock, track, who="ana")
    with pytest.raises(ReviewError, match="locked"):
        session.edit(reassign_track, track, "kit", who="ben")
    before_split = labels(session)
    session.edit(split_track, track, session.load().samples[3].t, who="ben")
    assert len(labels(session)) == len(before_split) + 1
    tracks = sorted(session.load().tracks())
    session.edit(merge_tracks, tracks[0], tracks[-1], force=True, who="ben")
    history = session.history()
    assert [h["op"] for h in history] == ["reassign_cluster", "lock", "split_track", "merge_tracks"]
    assert history[0]["who"] == "ana" and history[0]["reason"] == "that is Kit"
    assert json.loads(history[0]["before"])[0]["person_id"] == unknown
    for _ in range(4):
        session.undo(who="ana")
    assert labels(session) == start_labels and times(session) == start_times
    assert tables(session) == start  # thresholds, margins, confidences, 0 s rows: all as the run stored them
    assert len(session.history()) == 8  # edits and undos, nothing rewritten
    with pytest.raises(ReviewError, match="nothing to undo"):
        session.undo()


def test_unknown_ids_are_clear_errors(episode):
    with pytest.raises(ReviewError, match="unknown episode 'nope'"):
        open_review(episode, "nope")
    session = open_review(episode, EPISODE)
    before = labels(session)
    with pytest.raises(ReviewError, match="unknown track 4242"):
        session.edit(reassign_track, 4242, "kit")
    with pytest.raises(ReviewError, match="unknown person or cluster 'ghost'"):
        session.edit(reassign_cluster, "ghost", "kit")
    assert labels(session) == before and session.history() == []


def test_cli_review(episode, env):
    runner = CliRunner()
    track = min(t for _, t, *_ in labels(open_review(episode, EPISODE)))
    res = runner.invoke(cli, ["review", "reassign-track", EPISODE, str(track), "kit", "--who", "cli", "--reason", "fix"], env=env)
    assert res.exit_code == 0, res.output
    assert "kit" in res.output
    res = runner.invoke(cli, ["review", "history", EPISODE], env=env)
    assert "reassign_track" in res.output and "cli" in res.output
    assert runner.invoke(cli, ["review", "undo", EPISODE], env=env).exit_code == 0
    bad = runner.invoke(cli, ["review", "reassign-track", EPISODE, "999", "kit"], env=env)
    assert bad.exit_code == 1 and "unknown track 999" in bad.output
    # ids and op names are printed as they are: no emoji, no markup
    assert runner.invoke(cli, ["review", "lock", EPISODE, str(track)], env=env).exit_code == 0
    res = runner.invoke(cli, ["review", "undo", EPISODE], env=env)
    assert res.exit_code == 0 and "undo:lock: 1 row(s) restored" in res.output and "\U0001f512" not in res.output
    first = min(s.t for s in open_review(episode, EPISODE).load().samples.values() if s.track_id == track)
    for args, why in (
        (["reassign-track", EPISODE, str(track), ""], "not a valid person id ''"),
        (["reassign-track", EPISODE, str(track), ":lock:"], "not a valid person id ':lock:'"),
        (["reassign-cluster", EPISODE, "obama", "[red]x"], "not a valid person id '[red]x'"),
        (["split", EPISODE, str(track), str(first)], "would leave one side empty"),
    ):
        res = runner.invoke(cli, ["review", *args], env=env)
        assert res.exit_code == 1 and why in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert [h.op for h in Service().history(EPISODE)] == ["reassign_track", "undo:reassign_track", "lock", "undo:lock"]


WRITER = textwrap.dedent("""
    import sys
    from screenalytics.config import load_settings
    from screenalytics.review import reassign_frame
    from screenalytics.stores.review_store import open_review
    session = open_review(load_settings(), sys.argv[1])
    for det in map(int, sys.argv[3].split(",")):
        session.edit(reassign_frame, det, sys.argv[2], who=sys.argv[2])
""")


@pytest.mark.slow
def test_two_processes_editing_one_episode_lose_nothing(episode, env):
    import os

    session = open_review(episode, EPISODE)
    dets = sorted(session.load().samples)
    a, b = dets[0:10:2], dets[1:10:2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, EPISODE, who, ",".join(map(str, ids))],
            env={**os.environ, **env},
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who, ids in (("ana", a), ("ben", b))
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    history = session.history()
    assert sorted(h["seq"] for h in history) == list(range(1, 11))
    state = session.load()
    for who, ids in (("ana", a), ("ben", b)):
        for det in ids:
            s = state.samples[det]
            assert state.person_at(s.track_id, s.t).person_id == who


def test_queue_orders_low_confidence_tracks_and_skips_reviewed_ones(episode):
    from screenalytics.stores.review_store import low_confidence_queue

    session = open_review(episode, EPISODE)
    queue = low_confidence_queue(session, threshold=1.01)  # everything automatic is below 1.01
    assert queue and [q["seconds"] for q in queue] == sorted((q["seconds"] for q in queue), reverse=True)
    first = queue[0]["track_id"]
    session.edit(reassign_track, first, "kit", force=True)
    assert first not in [q["track_id"] for q in low_confidence_queue(session, threshold=1.01)]
    assert low_confidence_queue(session, threshold=0.0) == []


def test_promoted_chips_become_a_usable_facebank(episode, env, tmp_path, pipeline):
    from screenalytics.stores.review_store import promote_chips

    session = open_review(episode, EPISODE)
    unknown_track = next(lab.track_id for lab in session.load().labels.values() if lab.person_id.startswith("unknown_"))
    keys = promote_chips(session, unknown_track, "biden", 2)
    assert len(keys) == 2 and all(k.startswith("facebank/biden/") for k in keys)
    res = CliRunner().invoke(cli, ["facebank", "export", str(tmp_path / "fb")], env=env)
    assert res.exit_code == 0, res.output
    bank = pipeline.enrol(tmp_path / "fb")
    assert bank.person_ids == ["biden"] and not bank.skipped  # aligned chips enrol as they are
    with pytest.raises(ReviewError, match="unknown track"):
        promote_chips(session, 4242, "biden")
