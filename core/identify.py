"""Who is on a track: facebank match with threshold, margin and hysteresis; unknowns clustered."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from screenalytics.config import IdentificationConfig


def normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def pooled(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Quality-weighted mean embedding, renormalised."""
    w = np.maximum(np.asarray(weights, dtype=np.float32), 1e-6)
    return normalise((normalise(vectors) * w[:, None]).sum(axis=0))


@dataclass
class Gallery:
    """Facebank embeddings: one or more unit vectors per person."""

    person_ids: list[str]
    vectors: np.ndarray  # (M, D)
    owners: np.ndarray  # (M,) index into person_ids

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """(N, P) cosine similarity of each query to each person's closest photo."""
        q = normalise(np.atleast_2d(queries))
        out = np.full((len(q), len(self.person_ids)), -1.0, dtype=np.float32)
        if len(self.vectors) == 0 or len(q) == 0:
            return out
        sims = q @ self.vectors.T
        for p in range(len(self.person_ids)):
            cols = self.owners == p
            if cols.any():
                out[:, p] = sims[:, cols].max(axis=1)
        return out


@dataclass
class Window:
    """A stretch of a track with its pooled embedding (None when it had no usable face)."""

    index: int
    start_t: float
    end_t: float
    embedding: np.ndarray | None
    good: bool = True  # False: pooled from faces that failed the quality gate
    covered_s: float = 0.0  # seconds of samples in the window (excludes gaps)


@dataclass
class Decision:
    person_index: int | None  # into Gallery.person_ids, None = not a facebank person
    score: float = 0.0
    margin: float = 0.0


@dataclass
class Segment:
    """Consecutive windows of one track with one decision."""

    start_t: float
    end_t: float
    person_index: int | None
    score: float
    margin: float
    windows: list[Window] = field(default_factory=list)
    person_id: str | None = None  # the name finally given (facebank person or unknown_N)
    confidence: float = 0.0


def _hysteresis(scores: list[np.ndarray | None], cfg: IdentificationConfig) -> list[int | None]:
    """One pass: enter a person at threshold+margin, keep them while above stay_threshold."""
    labels: list[int | None] = []
    current: int | None = None
    for s in scores:
        if s is None:
            labels.append(current)
            continue
        order = np.argsort(-s)
        best = int(order[0])
        runner = float(s[order[1]]) if len(s) > 1 else -1.0
        enters = s[best] >= cfg.threshold and s[best] - runner >= cfg.margin
        if enters:
            current = best  # clear evidence wins, even over an identity still above stay
        elif current is not None and s[current] < cfg.stay_threshold:
            current = None
        labels.append(current)
    return labels


def decide_track(windows: list[Window], gallery: Gallery, cfg: IdentificationConfig) -> list[Segment]:
    """Label each window of a track, then merge runs of equal labels into segments.

    Hysteresis runs forwards and backwards so a track's first seconds inherit the identity
    established a little later, and an identity is dropped only when evidence falls clearly.
    """
    scores = [
        gallery.scores(w.embedding)[0] if w.embedding is not None and (w.good or cfg.match_low_quality) else None for w in windows
    ]
    fwd = _hysteresis(scores, cfg)
    bwd = _hysteresis(scores[::-1], cfg)[::-1]
    labels = [f if f is not None else b for f, b in zip(fwd, bwd)]
    segments: list[Segment] = []
    for w, label in zip(windows, labels):
        if segments and segments[-1].person_index == label:
            seg = segments[-1]
            seg.end_t = w.end_t
        else:
            seg = Segment(w.start_t, w.end_t, label, 0.0, 0.0)
            segments.append(seg)
        seg.windows.append(w)
    for seg in segments:
        _score_segment(seg, gallery)
    return segments


def _score_segment(seg: Segment, gallery: Gallery) -> None:
    embs = [w.embedding for w in seg.windows if w.embedding is not None]
    if not embs or not gallery.person_ids:
        return
    s = gallery.scores(normalise(np.mean(embs, axis=0)))[0]
    order = np.argsort(-s)
    ref = seg.person_index if seg.person_index is not None else int(order[0])
    others = [float(s[i]) for i in order if i != ref]
    seg.score = float(s[ref])
    seg.margin = float(s[ref] - (others[0] if others else -1.0))


def cluster_unknowns(embeddings: np.ndarray, max_distance: float) -> np.ndarray:
    """Average-linkage clusters of unit vectors (cosine distance); returns a label per row."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1:
        return np.zeros(1, dtype=int)
    z = linkage(normalise(embeddings), method="average", metric="cosine")
    return fcluster(z, t=max_distance, criterion="distance") - 1


def confidence(score: float, cfg: IdentificationConfig) -> float:
    """Map a similarity onto [0,1]: 0 at the stay threshold, 1 at a typical same-person score."""
    span = max(cfg.confident_score - cfg.stay_threshold, 1e-6)
    return float(np.clip((score - cfg.stay_threshold) / span, 0.0, 1.0))
