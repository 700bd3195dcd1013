"""An editor killed (SIGKILL) at any point of its commit leaves the whole edit or none of it: the
next reader or editor finds the episode equal, table by table and column by column, to the state
before the edit (killed before its history entry) or after it (killed after), and undo still
restores the original rows."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from test_review_fuzz import EP, REVIEWED, initial_state, store_episode, table_rows

from conftest import REPO
from screenalytics.config import load_settings
from screenalytics.faults import ENV
from screenalytics.review import merge_tracks, set_lock
from screenalytics.stores.review_store import ConflictError, open_review

EDITOR = textwrap.dedent("""
    import sys
    from screenalytics.config import load_settings
    from screenalytics.review import merge_tracks
    from screenalytics.stores.review_store import open_review
    session = open_review(load_settings(), sys.argv[1])
    if sys.argv[2] == "undo":
        session.undo(who="killed")
    else:
        session.edit(merge_tracks, int(sys.argv[2]), int(sys.argv[3]), True, who="killed")
""")

# (kill point, whether the edit happened): before its history entry nothing is written; from the
# entry on, the edit is committed and the next reader completes it
POINTS = [
    ("review:prepared", False),
    ("review:history", True),  # the reported case: entry written, no rows yet
    ("review:detections", True),
    ("review:assignments", True),
    ("review:screen_time", True),
]
FAST = {"review:history"}


def snapshot(session) -> dict[str, list[dict]]:
    return {name: table_rows(session, name) for name in REVIEWED}


def run_editor(*args: str, kill_at: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if kill_at:
        env[ENV] = kill_at
    return subprocess.run(
        [sys.executable, "-c", EDITOR, EP, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def episode():
    """A stored episode, its rows before and after merging two tracks (which moves detections,
    relabels and changes screen time), and the tracks merged."""
    state = initial_state(random.Random(3))
    store_episode(state)
    session = open_review(load_settings(), EP)
    keep, absorb = sorted(session.load().tracks())[:2]
    before = snapshot(session)
    session.edit(merge_tracks, keep, absorb, True, who="reference")
    after = snapshot(session)
    session.undo(who="reference")
    assert snapshot(session) == before and after != before
    for name in ("detections", "assignments", "screen_time"):
        assert after[name] != before[name], f"the edit must touch {name} for the crash points to mean something"
    return session, keep, absorb, before, after


@pytest.mark.parametrize("point, happened", [p if p[0] in FAST else pytest.param(*p, marks=pytest.mark.slow) for p in POINTS])
def test_a_killed_edit_is_whole_or_absent(episode, point, happened):
    session, keep, absorb, before, after = episode
    entries = len(session.history())
    done = run_editor(str(keep), str(absorb), kill_at=point)
    assert done.returncode == -signal.SIGKILL, done.stderr
    started = time.monotonic()
    reader = open_review(load_settings(), EP)
    reader.load()  # a reader completes the edit (the dead editor's lock is taken over at once)
    assert time.monotonic() - started < 20
    assert snapshot(reader) == (after if happened else before)
    assert len(reader.history()) == entries + happened
    # the next edit builds on it, and undo walks back to the original rows
    reader.edit(set_lock, keep, who="next")
    reader.undo(who="next")
    if happened:
        reader.undo(who="next")
    assert snapshot(reader) == before


@pytest.mark.slow
@pytest.mark.parametrize("point", ["review:history", "review:assignments"])
def test_a_killed_undo_is_whole_or_absent(episode, point):
    session, keep, absorb, before, after = episode
    assert run_editor(str(keep), str(absorb), kill_at=None).returncode == 0
    assert snapshot(session) == after
    done = run_editor("undo", kill_at=point)
    assert done.returncode == -signal.SIGKILL, done.stderr
    session.edit(set_lock, keep, who="next")  # the next editor completes the undo first
    assert [h["op"] for h in session.history()][-3:] == ["merge_tracks", "undo:merge_tracks", "lock"]
    session.undo(who="next")
    assert snapshot(session) == before


def test_a_lock_left_by_a_dead_editor_is_taken_over_at_once(episode):
    session, keep, *_ = episode
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    key = f"locks/{EP}.lock"
    owner = f"{socket.gethostname()}:{int(gone.stdout)}:dead"
    session.artifacts.put(key, json.dumps({"owner": owner, "expires": time.time() + 600}).encode())
    started = time.monotonic()
    session.edit(set_lock, keep, who="next")
    assert time.monotonic() - started < 10 and not session.artifacts.exists(key)
    session.artifacts.put(key, b"")  # created, never written: the editor died in between
    session.edit(set_lock, keep, False, who="next")
    assert [h["op"] for h in session.history()][-2:] == ["lock", "unlock"]


def test_a_live_editors_lock_is_waited_for_then_refused(episode):
    session, keep, *_ = episode
    key = f"locks/{EP}.lock"
    owner = f"{socket.gethostname()}:{os.getpid()}:alive"
    session.artifacts.put(key, json.dumps({"owner": owner, "expires": time.time() + 600}).encode())
    session.lock_ttl_s = 0.5
    entries = len(session.history())
    with pytest.raises(ConflictError, match="is being edited by .*alive"):
        session.edit(set_lock, keep, who="next")
    assert session.artifacts.exists(key) and len(session.history()) == entries
