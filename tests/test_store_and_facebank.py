"""Stored results are replaced, never duplicated, on a re-run; facebank inputs in both forms."""

import pytest
import yaml

from conftest import FACES, make_facebank
from screenalytics.config import load_settings
from screenalytics.errors import InputError
from screenalytics.pipeline import run_episode
from screenalytics.stores import open_results
from synth import ShotSpec, compose

TABLES = ("detections", "tracks", "embeddings", "assignments", "screen_time")


def test_rerun_replaces_rows(pipeline, tmp_path, _isolated_store):
    video = tmp_path / "v.mp4"
    compose(video, [ShotSpec(FACES / "obama.jpg", 1.0, ["obama"])])
    bank = make_facebank(tmp_path / "fb", {"obama": ["obama2.jpg"], "biden": ["biden2.jpg"]})
    store = open_results(load_settings(storage={"uri": str(_isolated_store)}))
    run_episode(pipeline, video, bank, tmp_path / "o1", episode_id="e1", store=store)
    run_episode(pipeline, video, bank, tmp_path / "o2", episode_id="e2", store=store)
    counts = {t: store.count(t, "e1") for t in TABLES}
    assert all(counts.values()), counts
    second, _ = run_episode(pipeline, video, bank, tmp_path / "o1", episode_id="e1", store=store)
    assert {t: store.count(t, "e1") for t in TABLES} == counts
    assert set(store.read("tracks", "e1").column("run_id").to_pylist()) == {second.run_id}
    assert {t: store.count(t, "e2") for t in TABLES} == counts  # the other episode is untouched
    rows = store.read("screen_time", "e1").to_pylist()
    assert {r["person_id"] for r in rows} == {"obama", "biden"}
    emb = store.read("embeddings", "e1").to_pylist()
    assert {r["owner"] for r in emb} == {"facebank", "track"}
    assert len(emb[0]["vector"]) == 512


def test_yaml_manifest_and_aligned_chips(pipeline, tmp_path):
    manifest = tmp_path / "bank.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {"obama": [str(FACES / "obama.jpg"), str(FACES / "obama2.jpg")], "tom": str(FACES / "Tom_Hanks_54745.png")}
        )
    )
    bank = pipeline.enrol(manifest)
    assert bank.person_ids == ["obama", "tom"]
    assert list(bank.gallery.owners) == [0, 0, 1]  # the 112x112 chip is used as already aligned
    assert not bank.skipped
    scores = bank.gallery.scores(bank.gallery.vectors)
    assert scores[0, 0] > 0.5 and scores[0, 1] < 0.3


def test_manifest_with_a_missing_photo(pipeline, tmp_path):
    manifest = tmp_path / "bank.yaml"
    manifest.write_text("obama: [nope.jpg]\n")
    with pytest.raises(InputError, match="facebank photo for 'obama' not found"):
        pipeline.enrol(manifest)
