"""Corrections to a stored episode: the low-confidence queue, edits with history, undo, and
turning reviewed faces into facebank photos."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from screenalytics.review import edits
from screenalytics.review.edits import Change
from screenalytics.service.base import ServiceBase, rows_of
from screenalytics.service.types import EditResult, HistoryItem, Keys, QueueItem
from screenalytics.stores.review_store import ReviewSession, low_confidence_queue, open_review, promote_chips


class ReviewOps(ServiceBase):
    def review_session(self, episode_id: str) -> ReviewSession:
        return open_review(self.settings, episode_id)

    def _edit(self, episode_id: str, op: Callable[..., Change], *args: Any, who: str, reason: str) -> EditResult:
        session = self.review_session(episode_id)
        change = session.edit(op, *args, who=who, reason=reason)
        return self._edited(session, change)

    @staticmethod
    def _edited(session: ReviewSession, change: Change) -> EditResult:
        rows = session.results.read("screen_time", session.episode_id).to_pylist()
        return EditResult(op=change.op, rows_changed=len(change.rows), screen_time=rows_of(rows))

    def queue(self, episode_id: str, threshold: float | None = None) -> list[QueueItem]:
        """Tracks to review first: low confidence or face/voice disagreement, most seconds first."""
        limit = threshold if threshold is not None else self.settings.review.queue_threshold
        return [QueueItem(**q) for q in low_confidence_queue(self.review_session(episode_id), limit)]

    def reassign_track(
        self, episode_id: str, track_id: int, person_id: str, force: bool = False, who: str = "", reason: str = ""
    ) -> EditResult:
        return self._edit(episode_id, edits.reassign_track, track_id, person_id, force, who=who, reason=reason)

    def reassign_cluster(
        self, episode_id: str, from_person: str, to_person: str, force: bool = False, who: str = "", reason: str = ""
    ) -> EditResult:
        return self._edit(episode_id, edits.reassign_cluster, from_person, to_person, force, who=who, reason=reason)

    def reassign_frame(
        self, episode_id: str, detection_id: int, person_id: str, force: bool = False, who: str = "", reason: str = ""
    ) -> EditResult:
        return self._edit(episode_id, edits.reassign_frame, detection_id, person_id, force, who=who, reason=reason)

    def lock(self, episode_id: str, track_id: int, locked: bool = True, who: str = "", reason: str = "") -> EditResult:
        return self._edit(episode_id, edits.set_lock, track_id, locked, who=who, reason=reason)

    def propagate(
        self, episode_id: str, track_id: int, threshold: float | None = None, who: str = "", reason: str = ""
    ) -> EditResult:
        limit = threshold if threshold is not None else self.settings.review.propagate_threshold
        return self._edit(episode_id, edits.propagate, track_id, limit, who=who, reason=reason)

    def merge(self, episode_id: str, keep: int, absorb: int, force: bool = False, who: str = "", reason: str = "") -> EditResult:
        return self._edit(episode_id, edits.merge_tracks, keep, absorb, force, who=who, reason=reason)

    def split(self, episode_id: str, track_id: int, at_seconds: float, who: str = "", reason: str = "") -> EditResult:
        return self._edit(episode_id, edits.split_track, track_id, at_seconds, who=who, reason=reason)

    def undo(self, episode_id: str, who: str = "", reason: str = "") -> EditResult:
        """Revert the latest edit not yet undone (the undo is recorded too)."""
        session = self.review_session(episode_id)
        return self._edited(session, session.undo(who=who, reason=reason))

    def history(self, episode_id: str) -> list[HistoryItem]:
        """The episode's edits and undos, oldest first."""
        names = HistoryItem.model_fields
        return [HistoryItem(**{k: h[k] for k in names}) for h in self.review_session(episode_id).history()]

    def promote(self, episode_id: str, track_id: int, person_id: str, count: int = 3) -> Keys:
        """A track's best face chips become PERSON_ID's facebank photos in storage."""
        return Keys(keys=promote_chips(self.review_session(episode_id), track_id, person_id, count))

    def export_facebank(self, folder: Path) -> Keys:
        """The stored facebank as FOLDER/<person_id>/*.jpg, ready for `run --facebank FOLDER`."""
        keys = self.artifacts.list("facebank/")
        for key in keys:
            target = folder / Path(key).relative_to("facebank")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.artifacts.get(key))
        return Keys(keys=keys)
