"""tools/eval_episodes.py: every wrong second of speaking attribution is put down to one cause."""

from __future__ import annotations

import sys

import numpy as np

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
from eval_episodes import HOP, speaking_errors, speech_grid  # noqa: E402

N = int(round(10.0 / HOP))  # a 10 s timeline


def test_each_wrong_second_has_its_cause() -> None:
    truth = speech_grid(
        [
            (0.0, 2.0, "ann"),  # heard, but given to bob: missed_to_other (ann) + false_from_cast (bob)
            (3.0, 4.0, "ann"),  # nobody heard it: missed_unheard
            (5.0, 7.0, "bob"),  # ann talks over bob from 6 s and her voice goes to bob too
            (6.0, 7.0, "ann"),
            (8.0, 9.0, "narrator"),  # no cast member's voice, said to be ann's
        ],
        N,
    )
    said = speech_grid([(0.0, 2.0, "bob"), (5.0, 7.0, "bob"), (8.0, 9.0, "ann"), (9.5, 10.0, "ann")], N)
    heard = np.zeros(N, bool)
    for a, b in ((0.0, 2.0), (5.0, 7.0), (8.0, 10.0)):
        heard[int(a / HOP) : int(b / HOP)] = True
    errors = speaking_errors(truth, said, heard, ["ann", "bob"])
    assert errors == {
        "missed_unheard": 1.0,
        "missed_in_overlap": 1.0,
        "missed_to_other": 2.0,
        "false_in_silence": 0.5,
        "false_from_narrator": 1.0,
        "false_from_cast": 2.0,
    }
    # the causes add up: missed = truth - hits, false = said - hits (cast only)
    hits = sum(int((truth[p] & said.get(p, np.zeros(N, bool))).sum()) for p in ("ann", "bob")) * HOP
    truth_s = sum(int(truth[p].sum()) for p in ("ann", "bob")) * HOP
    said_s = sum(int(said[p].sum()) for p in ("ann", "bob")) * HOP
    missed = errors["missed_unheard"] + errors["missed_in_overlap"] + errors["missed_to_other"]
    false = errors["false_in_silence"] + errors["false_from_narrator"] + errors["false_from_cast"]
    assert np.isclose(missed, truth_s - hits) and np.isclose(false, said_s - hits)
