"""Review: people correcting a run. ``edits`` holds the reversible operations on an episode's
state; ``screenalytics.stores.review_store`` commits them with their history."""

from screenalytics.review.edits import (
    Change,
    Label,
    ReviewError,
    Sample,
    State,
    check_person_id,
    merge_tracks,
    propagate,
    reassign_cluster,
    reassign_frame,
    reassign_track,
    set_lock,
    split_track,
)

__all__ = [
    "Change",
    "Label",
    "ReviewError",
    "Sample",
    "State",
    "check_person_id",
    "merge_tracks",
    "propagate",
    "reassign_cluster",
    "reassign_frame",
    "reassign_track",
    "set_lock",
    "split_track",
]
