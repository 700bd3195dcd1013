"""Many workers writing one fresh result store at once (batch runs): no lost rows, no crash on
tables created concurrently, and every episode's current run is the one it saved last."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pyarrow as pa

from screenalytics.model.records import ScreenTime
from screenalytics.stores.lance import ResultStore


def _writer(uri: str, episode: str, rounds: int) -> None:
    store = ResultStore(uri)
    for n in range(rounds):
        rows = ScreenTime.to_table(
            [ScreenTime(f"p{i}", float(n), 0.0, 0.0, 0.5) for i in range(3)], episode_id=episode, run_id=f"{episode}-r{n}"
        )
        store.save_run(episode, f"{episode}-r{n}", {"screen_time": rows})


def test_concurrent_writers_on_a_fresh_store_lose_nothing(tmp_path: Path) -> None:
    uri = str(tmp_path / "db")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(uri, f"ep{i}", 3)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    store = ResultStore(uri)
    assert store.current_runs() == {f"ep{i}": f"ep{i}-r2" for i in range(4)}
    for i in range(4):
        rows = store.read("screen_time", f"ep{i}")
        assert rows.num_rows == 3 and set(rows.column("visual_s").to_pylist()) == {2.0}
    raw = store.db.open_table("screen_time").to_arrow()  # older runs' rows are gone, not just hidden
    assert raw.num_rows == 12
    assert isinstance(raw, pa.Table)


def _save_and_die(uri: str, point: str) -> None:
    import os

    os.environ["SCREENALYTICS_TEST_KILL_AT"] = point
    _writer_round(uri, "victim", "new", 9.0)


def _writer_round(uri: str, episode: str, run: str, seconds: float) -> None:
    store = ResultStore(uri)
    rows = ScreenTime.to_table([ScreenTime("p", seconds, 0.0, 0.0, 0.5)], episode_id=episode, run_id=run)
    store.save_run(episode, run, {"screen_time": rows})


def test_a_save_killed_at_any_point_leaves_old_or_new_and_other_episodes_untouched(tmp_path: Path) -> None:
    uri = str(tmp_path / "db")
    _writer_round(uri, "bystander", "b1", 5.0)
    bystander = ResultStore(uri).read("screen_time", "bystander").to_pylist()
    ctx = mp.get_context("spawn")
    for point, expect in (("save:staged", 1.0), ("save:flipped", 9.0)):
        _writer_round(uri, "victim", "old", 1.0)
        proc = ctx.Process(target=_save_and_die, args=(uri, point))
        proc.start()
        proc.join(timeout=120)
        assert proc.exitcode == -9  # really killed at that point
        store = ResultStore(uri)
        rows = store.read("screen_time", "victim").to_pylist()
        assert [r["visual_s"] for r in rows] == [expect], (point, rows)  # one whole run, never both
        assert store.read("screen_time", "bystander").to_pylist() == bystander
