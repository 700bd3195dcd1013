"""The same storage tests on a local folder and on a real S3 server (SeaweedFS on 127.0.0.1)."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from conftest import FACES, make_facebank, s3_env
from screenalytics.cli import cli
from screenalytics.config import load_settings
from screenalytics.model.records import Detection, ScreenTime
from screenalytics.pipeline import Pipeline, run_episode
from screenalytics.stores import StorageError, open_artifacts, open_results
from screenalytics.stores.artifacts import frame_key, report_key
from screenalytics.stores.lance import SCHEMA_VERSION
from synth import ShotSpec, compose


def _rows(episode: str, run: str, n: int) -> dict[str, pa.Table]:
    dets = [Detection(i, i / 10, 0.1, 0, 1, 2, 3, 4, 0.9, [0.0] * 10, 1) for i in range(n)]
    key = {"episode_id": episode, "run_id": run}
    return {"detections": Detection.to_table(dets, **key), "screen_time": ScreenTime.to_table([ScreenTime("a", n / 10)], **key)}


def test_results_are_replaced_per_episode(env):
    store = open_results(load_settings())
    store.save_run("e1", "r1", _rows("e1", "r1", 5))
    store.save_run("e2", "r1", _rows("e2", "r1", 3))
    store.save_run("e1", "r2", _rows("e1", "r2", 7))
    assert store.count("detections", "e1") == 7 and store.count("detections", "e2") == 3
    assert set(store.read("detections", "e1").column("run_id").to_pylist()) == {"r2"}
    assert store.schema_version() == SCHEMA_VERSION
    again = open_results(load_settings())  # a second process sees the same data
    assert again.read("screen_time", "e1").to_pylist()[0]["visual_s"] == pytest.approx(0.7)


def test_artifacts_layout_urls_and_lifecycle(env):
    art = open_artifacts(load_settings())
    old = art.put(frame_key("show", "S01E01", 3, 12.5), b"jpeg bytes")
    report = art.put(report_key("show", "S01E01", "screen_time.csv"), b"person_id,visual_s\n")
    assert art.list("frames/") == ["frames/show/S01E01/3/12.500.jpg"]
    assert art.get(old) == b"jpeg bytes"
    url = art.url(report, expires_s=60)
    if url.startswith("http"):
        assert "Signature=" in url or "X-Amz-Signature=" in url
        assert urllib.request.urlopen(url, timeout=10).read() == b"person_id,visual_s\n"
    else:
        assert Path(url).read_bytes() == b"person_id,visual_s\n"
    with pytest.raises(StorageError, match="not a valid artifact key"):
        art.put("../escape.txt", b"x")
    with pytest.raises(StorageError, match="no artifact"):
        art.url("frames/nope.jpg")
    later = time.time() + 31 * 86400
    assert art.apply_lifecycle({"frames/": 30}, now=later, dry_run=True) == [old]
    assert art.exists(old)
    assert art.apply_lifecycle({"frames/": 30}, now=later) == [old]
    assert not art.exists(old) and art.exists(report)


def test_a_run_stores_results_and_publishes_reports(env, pipeline, tmp_path):
    import numpy as np

    from screenalytics.stages.decode import load_audio

    video = tmp_path / "v.mp4"
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(int(0.8 * 16000)) / 16000)
    compose(video, [ShotSpec(FACES / "obama.jpg", 0.8, ["obama"])], audio=tone)
    bank = make_facebank(tmp_path / "fb", {"obama": ["obama2.jpg"]})
    settings = load_settings(audio={"enabled": False}, storage={"archive_media": True})
    run_episode(Pipeline(settings), video, bank, tmp_path / "out", episode_id="ep", show="demo")
    wav = tmp_path / "back.wav"
    wav.write_bytes(open_artifacts(settings).get("audio/demo/ep/episode.wav"))
    assert load_audio(wav).duration_s == pytest.approx(0.8, abs=0.1)
    assert open_results(settings).read("screen_time", "ep").to_pylist()[0]["person_id"] == "obama"
    keys = open_artifacts(settings).list("reports/demo/ep")
    assert "reports/demo/ep/screen_time.json" in keys and "reports/demo/ep/screen_time.csv" in keys
    assert "manifests/demo/ep/tracks.jsonl" in open_artifacts(settings).list("manifests/")


def test_old_tables_are_migrated(tmp_path):
    import lancedb

    root = tmp_path / "data"
    db = lancedb.connect(str(root / "lancedb"))
    old_schema = pa.schema([f for f in Detection.schema if f.name != "mouth_motion"])
    db.create_table("detections", schema=old_schema).add(pa.table({f.name: [] for f in old_schema}, schema=old_schema))
    res = CliRunner().invoke(cli, ["storage", "migrate"], env={"SCREENALYTICS_STORAGE__URI": str(root)})
    assert res.exit_code == 0, res.output
    assert f"schema version 0 -> {SCHEMA_VERSION}" in res.output
    store = open_results(load_settings(storage={"uri": str(root)}))
    assert "mouth_motion" in store.table("detections").schema.names
    assert store.schema_version() == SCHEMA_VERSION


@pytest.mark.slow
def test_refused_keys_and_a_down_server_are_clear_and_lose_nothing(s3, monkeypatch):
    good = s3_env(s3, "keys")
    for k, v in good.items():
        monkeypatch.setenv(k, v)
    open_results(load_settings()).save_run("e", "r1", _rows("e", "r1", 4))
    monkeypatch.setenv("SCREENALYTICS_STORAGE__SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(StorageError, match="refused the access keys"):
        open_results(load_settings()).save_run("e", "r2", _rows("e", "r2", 9))
    with pytest.raises(StorageError, match="refused the access keys"):
        open_artifacts(load_settings()).put("reports/x.csv", b"x")
    monkeypatch.setenv("SCREENALYTICS_STORAGE__SECRET_ACCESS_KEY", s3.secret)
    monkeypatch.setenv("SCREENALYTICS_STORAGE__ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens
    t0 = time.time()
    with pytest.raises(StorageError, match="cannot be reached"):
        open_results(load_settings())
    assert time.time() - t0 < 30
    monkeypatch.setenv("SCREENALYTICS_STORAGE__ENDPOINT_URL", s3.endpoint)
    assert open_results(load_settings()).count("detections", "e") == 4


@pytest.mark.slow
def test_cli_storage_commands_on_s3(s3, tmp_path):
    env = s3_env(s3, "cli")
    art = open_artifacts(load_settings(storage={k.split("__")[1].lower(): v for k, v in env.items() if "__" in k}))
    art.put("chips/show/ep/1/0.jpg", b"chip")
    runner = CliRunner()
    assert runner.invoke(cli, ["storage", "ls", "chips/"], env=env).output.split() == ["chips/show/ep/1/0.jpg"]
    url = runner.invoke(cli, ["storage", "url", "chips/show/ep/1/0.jpg", "--expires", "30"], env=env).output.strip()
    assert urllib.request.urlopen(url, timeout=10).read() == b"chip"
    bad = runner.invoke(cli, ["storage", "ls"], env={**env, "SCREENALYTICS_STORAGE__SECRET_ACCESS_KEY": "nope"})
    assert bad.exit_code == 1 and "refused the access keys" in bad.output


def test_vectors_are_searchable_and_indexed_when_large(env):
    import numpy as np

    from screenalytics.model.records import FaceEmbedding

    store = open_results(load_settings())
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(400, 32)).astype(np.float32)
    rows = [FaceEmbedding("track", str(i), "w", "m", v.tolist()) for i, v in enumerate(vecs)]
    store.save_run("e", "r", {"embeddings": FaceEmbedding.to_table(rows, episode_id="e", run_id="r")})
    store.index_vectors("e", "r", min_rows_for_index=10_000)
    assert not store.vector_table(32).list_indices()
    hit = store.nearest(vecs[17].tolist(), k=1)[0]
    assert hit["owner_id"] == "17"
    store.index_vectors("e", "r", min_rows_for_index=300)  # replaces the episode's rows, then indexes
    table = store.vector_table(32)
    assert table.count_rows() == 400 and table.list_indices()
    assert store.nearest(vecs[5].tolist(), k=5)[0]["owner_id"] == "5"


def test_lifecycle_never_purges_results_facebank_or_manifests(env):
    art = open_artifacts(load_settings())
    kept = ["facebank/kit/a.jpg", "lancedb/x.lance/data/y.lance", "manifests/s/e/run.json"]
    for key in ["frames/s/e/0/1.000.jpg", *kept]:
        art.put(key, b"x")
    later = time.time() + 86400
    for rules in (
        {"": 0},
        {"/": 0},
        {"lancedb/": 0},
        {"facebank": 0},
        {"Manifests/s/": 0},
        {"frames/../lancedb/": 0},
        {"frames/": -1},
    ):
        with pytest.raises(StorageError, match="refusing to purge|0 or more"):
            art.apply_lifecycle(rules, now=later)
    assert art.apply_lifecycle({"frames/": 0}, now=later) == ["frames/s/e/0/1.000.jpg"]
    art.probe_writable()  # writes and deletes its probe object
    assert art.list() == kept
    with pytest.raises(StorageError, match="lasts 1 to 604800 s"):
        art.url("manifests/s/e/run.json", expires_s=8 * 86400)
