"""The real clip through the real CLI: Lin-Manuel Miranda leads, Alex Lacamoire barely shows,
the audience stays unknown."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from conftest import REPO, VIDEO

pytestmark = pytest.mark.slow  # real models over whole videos

FACEBANK = REPO / "tests" / "data" / "hamilton_facebank.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hamilton")
    store = tmp_path_factory.mktemp("store")
    proc = subprocess.run(
        [sys.executable, "-m", "screenalytics.cli", "run", str(VIDEO), "--facebank", str(FACEBANK), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "SCREENALYTICS_STORAGE__URI": str(store)},
    )
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_outputs_follow_the_contract(run):
    out, proc = run
    rows = json.loads((out / "screen_time.json").read_text())
    assert rows and all(set(r) >= {"person_id", "visual_s", "speaking_s", "both_s", "confidence"} for r in rows)
    with (out / "screen_time.csv").open() as f:
        assert [r["person_id"] for r in csv.DictReader(f)] == [r["person_id"] for r in rows]
    for name in ("tracks.jsonl", "detections.jsonl"):
        lines = (out / name).read_text().splitlines()
        assert lines and all(json.loads(line)["episode_id"] == "short_hamilton_clip" for line in lines)
    assert "lin-manuel-miranda" in proc.stdout  # the printed table
    for name in ("speech.jsonl", "av_links.jsonl"):
        assert (out / name).read_text().strip()


def test_lin_manuel_leads_and_the_audience_is_unknown(run):
    out, _ = run
    rows = {r["person_id"]: r for r in json.loads((out / "screen_time.json").read_text())}
    run_info = json.loads((out / "run.json").read_text())
    lin, alex = rows["lin-manuel-miranda"], rows["alex-lacamoire"]
    # He is identified in the wide shot and the close-ups: over 4 of the clip's 9.2 s.
    assert lin["visual_s"] >= 4.0
    assert lin["visual_s"] == max(r["visual_s"] for r in rows.values())
    assert lin["confidence"] >= 0.5
    assert alex["visual_s"] <= 0.5
    unknown = [p for p in rows if p.startswith("unknown_")]
    assert len(unknown) >= 3  # audience members, in several shots
    assert len(rows) == 2 + len(unknown)  # no other cast appears
    assert run_info["shots"] == 4  # wide stage, audience, close-ups, audience
    # Audience tracks in the last shot are not given to the cast.
    tracks = [json.loads(line) for line in (out / "tracks.jsonl").read_text().splitlines()]
    last_shot = max(t["shot_id"] for t in tracks)
    assert all(t["person_id"].startswith("unknown_") for t in tracks if t["shot_id"] == last_shot)


def test_the_rapper_is_heard_and_seen(run):
    """The soundtrack is Lin-Manuel's rap: his voice is linked to his face, partly as voice-over
    (the audience shots), and his mouth moves more than the audience's."""
    out, _ = run
    rows = {r["person_id"]: r for r in json.loads((out / "screen_time.json").read_text())}
    lin = rows["lin-manuel-miranda"]
    assert lin["speaking_s"] >= 7.0
    assert 4.0 <= lin["both_s"] <= lin["visual_s"] + 0.05
    assert all(r["speaking_s"] == 0 for p, r in rows.items() if p.startswith("unknown_"))
    speech = [json.loads(line) for line in (out / "speech.jsonl").read_text().splitlines()]
    assert "charter" in " ".join(seg["text"].lower() for seg in speech)  # "...a trading charter"
    tracks = {t["track_id"]: t["person_id"] for t in map(json.loads, (out / "tracks.jsonl").read_text().splitlines())}
    motion: dict[str, list[float]] = {}
    for line in (out / "detections.jsonl").read_text().splitlines():
        d = json.loads(line)
        motion.setdefault(tracks[d["track_id"]], []).append(d["mouth_motion"])
    means = {p: sum(v) / len(v) for p, v in motion.items()}
    audience = sorted(m for p, m in means.items() if p.startswith("unknown_"))
    assert means["lin-manuel-miranda"] > 2 * audience[len(audience) // 2]
