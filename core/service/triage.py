"""Review for callers that cannot be watched: evidence for each low-confidence track, edits that
can be previewed, and a confirmation token for the ones that cannot be taken back lightly.

An agent (or a playbook) never sees a dialog, so a destructive call (an undo, an edit to a locked
row) first runs as a dry run that returns what would change and a token; only the same call with
that token applies it, and only while the episode is still in the state the preview saw.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from screenalytics.errors import InputError, ScreenalyticsError
from screenalytics.model.banks import Gallery
from screenalytics.review import edits
from screenalytics.review.edits import Change, ReviewError, State
from screenalytics.service.base import rows_of
from screenalytics.service.review import ReviewOps
from screenalytics.service.types import Candidate, EditOutcome, QueueEvidence, ScreenTimeSummary, VoiceLink
from screenalytics.stores.artifacts import chip_key
from screenalytics.stores.results import load_facebank
from screenalytics.stores.review_store import ReviewSession, review_queue


class ConfirmationRequired(ScreenalyticsError):
    """A destructive call without the token of a preview of it."""


def confirm_token(op: str, args: dict[str, Any], state: str) -> str:
    """Binds a confirmation to one operation, its arguments and the episode state previewed."""
    blob = json.dumps([op, args, state], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


# name -> (review operation, its argument names in order)
EDITS: dict[str, tuple[Callable[..., Change], tuple[str, ...]]] = {
    "reassign_track": (edits.reassign_track, ("track_id", "person_id", "force")),
    "reassign_cluster": (edits.reassign_cluster, ("cluster_id", "person_id", "force")),
    "reassign_frame": (edits.reassign_frame, ("detection_id", "person_id", "force")),
    "set_lock": (edits.set_lock, ("track_id", "locked")),
    "propagate": (edits.propagate, ("track_id", "threshold")),
    "merge_tracks": (edits.merge_tracks, ("keep", "absorb", "force")),
    "split_track": (edits.split_track, ("track_id", "at_seconds")),
}


class TriageOps(ReviewOps):
    def screen_time_summary(self, episode_id: str) -> ScreenTimeSummary:
        """Screen time with the figures playbook assertions and agents check."""
        rows = self.screen_time(episode_id)  # type: ignore[attr-defined]
        unknown = self.settings.identification.unknown_prefix
        total = sum(r.visual_s for r in rows)
        unassigned = sum(r.visual_s for r in rows if r.person_id.startswith(unknown))
        cast = [r.confidence for r in rows if not r.person_id.startswith((unknown, self.settings.fusion.unlinked_prefix))]
        return ScreenTimeSummary(
            episode_id=episode_id,
            rows=rows,
            total_visual_s=round(total, 3),
            unassigned_visual_s=round(unassigned, 3),
            unassigned_share=round(unassigned / total, 4) if total else 0.0,
            min_cast_confidence=min(cast) if cast else None,
        )

    # -- evidence ------------------------------------------------------------------------------
    def evidence(self, episode_id: str, threshold: float | None = None, chips: bool = True) -> list[QueueEvidence]:
        """The low-confidence queue, each track with its top two people, margin, voice and chips."""
        session = self.review_session(episode_id)
        limit = threshold if threshold is not None else self.settings.review.queue_threshold
        state = session.load()
        links = self.results.read("av_links", episode_id).to_pylist()
        tracks = self.results.read("tracks", episode_id).to_pylist()
        queue = review_queue(tracks, state.samples.values(), state.labels.values(), links, limit)
        bank = load_facebank(self.results, episode_id).gallery
        show, code = self.catalog.show_of(episode_id)
        out = []
        for q in queue:
            track = q["track_id"]
            cands = self._candidates(state, [track], bank)
            voice = [
                VoiceLink(
                    speaker=link["speaker"],
                    person_id=link["person_id"],
                    method=link["method"],
                    score=round(float(link["score"]), 4),
                    seconds=round(float(link["end"] - link["start"]), 3),
                )
                for link in links
                if link["track_id"] == track
            ]
            out.append(
                QueueEvidence(
                    **q,
                    locked=any(lab.locked for lab in state.labels_of(track)),
                    candidates=cands[:2],
                    margin=round(cands[0].similarity - cands[1].similarity, 4) if len(cands) > 1 else None,
                    voice=voice,
                    chips=self._chip_urls(show, code, track) if chips else [],
                )
            )
        return out

    def similarity(self, episode_id: str, person_id: str, target: dict[str, Any]) -> tuple[float | None, float | None]:
        """(similarity of the target's faces to PERSON_ID, margin over the best other person)."""
        session = self.review_session(episode_id)
        state = session.load()
        cands = self._candidates(state, self._target_tracks(state, target), load_facebank(self.results, episode_id).gallery)
        mine = next((c.similarity for c in cands if c.person_id == person_id), None)
        if mine is None:
            return None, None
        others = [c.similarity for c in cands if c.person_id != person_id]
        return mine, round(mine - max(others), 4) if others else None

    @staticmethod
    def _candidates(state: State, tracks: list[int], bank: Gallery) -> list[Candidate]:
        """Facebank people by similarity to the tracks' pooled face, best first."""
        vecs = [state.embeddings[t] for t in tracks if t in state.embeddings]
        if not vecs or not bank.person_ids:
            return []
        scores = bank.scores(np.mean(vecs, axis=0))[0]
        found = [Candidate(person_id=p, similarity=round(float(v), 4)) for p, v in zip(bank.person_ids, scores)]
        return sorted(found, key=lambda c: -c.similarity)

    @staticmethod
    def _target_tracks(state: State, target: dict[str, Any]) -> list[int]:
        if target.get("track_id") is not None:
            return [int(target["track_id"])]
        if target.get("detection_id") is not None:
            sample = state.samples.get(int(target["detection_id"]))
            return [sample.track_id] if sample else []
        cluster = target.get("cluster_id")
        return sorted({lab.track_id for lab in state.labels.values() if lab.person_id == cluster})

    def _chip_urls(self, show: str, code: str, track: int) -> list[str]:
        urls = []
        for n in range(self.settings.storage.chips_per_track):
            key = chip_key(show, code, track, n)
            if not self.artifacts.exists(key):
                break
            urls.append(self.artifacts.url(key))
        return urls

    # -- edits with previews -------------------------------------------------------------------
    def apply_edit(
        self,
        episode_id: str,
        name: str,
        args: dict[str, Any],
        *,
        dry_run: bool = False,
        confirm: str | None = None,
        who: str = "",
        reason: str = "",
    ) -> EditOutcome:
        """Preview or apply a named edit. An edit that touches locked rows (``force``) needs the
        token of its preview; anything else applies at once unless ``dry_run``."""
        if name not in EDITS:
            raise InputError(f"unknown edit {name!r}; one of {', '.join(EDITS)}")
        op, names = EDITS[name]
        values = [args.get(n) for n in names]
        session = self.review_session(episode_id)
        guarded = bool(args.get("force"))
        if dry_run or (guarded and not confirm):
            change, rows = session.preview(op, *values)
            token = confirm_token(name, args, session.fingerprint())
            if not dry_run:
                raise ConfirmationRequired(
                    f"{name} touches locked rows: call it with dry_run=true to preview, then again with confirm_token"
                )
            return _outcome(change, rows, applied=False, token=token, message=_describe(change, name))
        if guarded:
            _check_token(confirm, confirm_token(name, args, session.fingerprint()))
        change = session.edit(op, *values, who=who, reason=reason)
        return _outcome(change, session.results.read("screen_time", episode_id).to_pylist(), applied=True)

    def undo_edit(
        self, episode_id: str, *, dry_run: bool = True, confirm: str | None = None, who: str = "", reason: str = ""
    ) -> EditOutcome:
        """Undo the latest edit: a dry run (the default) shows it and returns the token to apply it."""
        session = self.review_session(episode_id)
        if dry_run or not confirm:
            change, rows = session.preview_undo()
            if not dry_run:
                raise ConfirmationRequired("undo needs confirmation: call it with dry_run=true, then again with confirm_token")
            token = confirm_token("undo", {"episode_id": episode_id}, session.fingerprint())
            return _outcome(change, rows, applied=False, token=token, message=_describe(change, "undo"))
        _check_token(confirm, confirm_token("undo", {"episode_id": episode_id}, session.fingerprint()))
        change = session.undo(who=who, reason=reason)
        return _outcome(change, session.results.read("screen_time", episode_id).to_pylist(), applied=True)

    def is_locked(self, episode_id: str, target: dict[str, Any]) -> bool:
        state = self.review_session(episode_id).load()
        tracks = set(self._target_tracks(state, target))
        return any(lab.locked for lab in state.labels.values() if lab.track_id in tracks)


def _check_token(given: str | None, expected: str) -> None:
    if given != expected:
        raise ConfirmationRequired(
            "confirm_token does not match: the episode changed since the preview, or the arguments differ; preview again"
        )


def _outcome(change: Change, rows: list[Any], applied: bool, token: str | None = None, message: str = "") -> EditOutcome:
    return EditOutcome(
        op=change.op,
        applied=applied,
        rows_changed=len(change.rows),
        screen_time=rows_of(rows),
        confirm_token=token,
        message=message or ("applied" if applied else "preview"),
    )


def _describe(change: Change, name: str) -> str:
    return f"preview of {name}: {len(change.rows)} row(s) would change; nothing was written"


__all__ = ["EDITS", "ConfirmationRequired", "ReviewError", "ReviewSession", "TriageOps", "confirm_token"]
