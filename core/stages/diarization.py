"""Speaker diarization back end shared by diarizer plugins: powerset segmentation scores in,
speaker turns out (pyannote's recipe: local speakers per sliding window, embedded, clustered
across windows under a cannot-link constraint, then re-assembled frame by frame)."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment

from screenalytics.config import DiarizationConfig
from screenalytics.model.contracts import SpeakerEmbedder
from screenalytics.model.media import Audio
from screenalytics.model.speech import Diarization, Ranges, Segmentation, Turn
from screenalytics.model.vectors import normalise

# pyannote segmentation-3.0: 7 powerset classes over 3 local speakers, at most 2 at once.
POWERSET = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.float32)


def powerset_to_multilabel(logits: np.ndarray) -> np.ndarray:
    """(..., 7) powerset logits -> (..., 3) binary activity of each local speaker (argmax decoding)."""
    return POWERSET[np.argmax(logits, axis=-1)]


def window_starts(duration_s: float, window_s: float, step_s: float) -> np.ndarray:
    """Window starts covering the whole file, the last one flush with its end."""
    if duration_s <= window_s:
        return np.zeros(1)
    starts = np.arange(0.0, duration_s - window_s, step_s)
    return np.append(starts, duration_s - window_s)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs in a 1-D mask."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2], edges[1::2]))


def _ranges(mask: np.ndarray, offset_s: float, step_s: float) -> Ranges:
    return [(offset_s + a * step_s - step_s / 2, offset_s + (b - 1) * step_s + step_s / 2) for a, b in _runs(mask)]


def diarize_segmentation(
    seg: Segmentation, audio: Audio, embedder: SpeakerEmbedder, cfg: DiarizationConfig, num_speakers: int | None = None
) -> Diarization:
    """Embed each window's local speakers, cluster them, and rebuild global speaker turns."""
    n_windows, n_frames, n_local = seg.activity.shape
    # 1. one embedding per (window, local speaker) with enough speech, preferring speech alone
    keys: list[tuple[int, int]] = []
    ranges: list[Ranges] = []
    for w in range(n_windows):
        act = seg.activity[w]
        alone = act * (act.sum(axis=1, keepdims=True) == 1)
        offset = float(seg.window_starts[w]) + seg.frame_center_s
        for k in range(n_local):
            for mask in (alone[:, k], act[:, k]):
                if mask.sum() * seg.frame_step_s >= cfg.min_embedding_s:
                    keys.append((w, k))
                    ranges.append(_ranges(mask, offset, seg.frame_step_s))
                    break
    if not keys:
        return Diarization([])
    embeddings = normalise(embedder.embed(audio, ranges))

    # 2. agglomerative clustering, then centroids of the clusters big enough to be speakers
    if len(keys) == 1:
        labels = np.zeros(1, dtype=int)
    else:
        # centroid/median/ward need Euclidean distances: on unit vectors |a-b|^2 = 2 * cosine distance
        euclid = cfg.linkage in ("centroid", "median", "ward")
        z = linkage(embeddings, method=cfg.linkage, metric="euclidean" if euclid else "cosine")
        if num_speakers:
            labels = fcluster(z, t=num_speakers, criterion="maxclust") - 1
        else:
            cut = np.sqrt(2 * cfg.cluster_threshold) if euclid else cfg.cluster_threshold
            labels = fcluster(z, t=cut, criterion="distance") - 1
    sizes = np.bincount(labels)
    big = [c for c in range(len(sizes)) if sizes[c] >= cfg.min_cluster_size] or [int(np.argmax(sizes))]
    if num_speakers and len(big) > num_speakers:
        big = sorted(big, key=lambda c: -sizes[c])[:num_speakers]
    centroids = normalise(np.stack([embeddings[labels == c].mean(axis=0) for c in big]))

    # 3. within each window, local speakers go to distinct speakers (Hungarian on similarity)
    assignment: dict[tuple[int, int], int] = {}
    by_window: dict[int, list[int]] = {}
    for i, (w, _) in enumerate(keys):
        by_window.setdefault(w, []).append(i)
    for _w, idx in by_window.items():
        sim = embeddings[idx] @ centroids.T
        rows, cols = linear_sum_assignment(-sim)
        for r, c in zip(rows, cols):
            assignment[keys[idx[r]]] = int(c)

    # 4. frame-level reconstruction on a global grid, with pyannote's speaker counting
    step = seg.frame_step_s
    total = int(np.ceil(audio.duration_s / step)) + 1
    score = np.zeros((total, len(big)), np.float32)
    count = np.zeros(total, np.float32)
    covered = np.zeros(total, np.float32)
    for w in range(n_windows):
        first = int(round((seg.window_starts[w] + seg.frame_center_s) / step))
        span = slice(first, min(first + n_frames, total))
        length = span.stop - span.start
        act = seg.activity[w, :length]
        covered[span] += 1
        count[span] += act.sum(axis=1)
        for k in range(n_local):
            c = assignment.get((w, k))
            if c is not None:
                score[span, c] += act[:, k]
    covered = np.maximum(covered, 1)
    score /= covered[:, None]
    speakers_per_frame = np.minimum(np.round(count / covered), len(big)).astype(int)
    binary = np.zeros_like(score, dtype=bool)
    order = np.argsort(-score, axis=1)
    for f in np.flatnonzero(speakers_per_frame):
        binary[f, order[f, : speakers_per_frame[f]]] = True

    # 5. re-segmentation: who speaks, chunk by chunk, from short embeddings and refined centroids
    if cfg.resegment_window_s > 0 and len(big) > 1:
        binary, centroids = resegment(binary, step, audio, embedder, centroids, cfg)

    # 6. turns: runs of activity, short gaps bridged, tiny turns dropped
    turns: list[Turn] = []
    names = [f"SPEAKER_{i:02d}" for i in range(binary.shape[1])]
    for c, name in enumerate(names):
        for start, end in _ranges(binary[:, c], 0.0, step):
            start, end = max(0.0, start), min(audio.duration_s, end)
            if turns and turns[-1].speaker == name and start - turns[-1].end <= cfg.min_gap_s:
                turns[-1].end = end
            else:
                turns.append(Turn(start, end, name))
    turns = [t for t in turns if t.end - t.start >= cfg.min_turn_s]
    turns.sort(key=lambda t: (t.start, t.speaker))
    used = {t.speaker for t in turns}
    return Diarization(turns, {n: centroids[i] for i, n in enumerate(names) if n in used})


def _chunks(runs: list[tuple[int, int]], length: int, hop: int) -> list[tuple[int, int]]:
    """[start, end) frame chunks of at most ``length`` every ``hop`` frames inside each run."""
    out = []
    for a, b in runs:
        start = a
        while True:
            out.append((start, min(b, start + length)))
            if start + length >= b:
                break
            start += hop
    return out


def resegment(
    binary: np.ndarray, step: float, audio: Audio, embedder: SpeakerEmbedder, centroids: np.ndarray, cfg: DiarizationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Re-decide who speaks in each frame from embeddings of short chunks.

    The segmentation model's local speakers can hold two real voices within one 10 s window (on
    AMI meetings they do: even their best mapping to the truth leaves 15-26% confusion), so the
    window-level clustering decides how many voices there are and roughly where, and then: embed
    ``resegment_window_s`` chunks of the speech, refine the centroids k-means style over those
    chunks, and move a frame where one voice speaks to the speaker its chunks are nearest to when
    they prefer it to the frame's speaker by more than ``resegment_keep_margin`` (1 s chunks are
    noisy: a small preference is not evidence). Frames of two voices keep the segmentation's pair.
    Returns the new activity and centroids."""
    count = binary.sum(axis=1)
    length = max(1, int(round(cfg.resegment_window_s / step)))
    hop = max(1, int(round(cfg.resegment_hop_s / step)))
    chunks = [(a, b) for a, b in _chunks(_runs(count > 0), length, hop) if (b - a) * step >= cfg.resegment_min_s]
    if not chunks:
        return binary, centroids
    vectors = normalise(embedder.embed(audio, [[(a * step, b * step)] for a, b in chunks]))
    usable = np.linalg.norm(vectors, axis=1) > 0.5  # an embedder returns zeros for a chunk it cannot embed
    sim = vectors @ centroids.T
    for _ in range(cfg.resegment_iterations):
        owner = np.argmax(sim, axis=1)
        centroids = normalise(
            np.stack(
                [
                    vectors[usable & (owner == c)].mean(axis=0) if (usable & (owner == c)).any() else centroids[c]
                    for c in range(len(centroids))
                ]
            )
        )
        sim = vectors @ centroids.T
    # each frame: the mean, over the chunks covering it, of how far each speaker is below the chunk's best
    gap = np.zeros(binary.shape, np.float32)
    hits = np.zeros(len(binary), np.float32)
    for (a, b), row, ok in zip(chunks, sim, usable):
        if ok:
            gap[a:b] += row - row.max()
            hits[a:b] += 1
    heard = hits > 0
    gap[heard] /= hits[heard, None]
    # only frames of one voice (where the segmentation hears two, it knows better than 1 s chunks),
    # and only where the chunks clearly prefer another speaker to the frame's own
    own = np.where(binary, gap, np.inf).min(axis=1)
    move = np.flatnonzero(heard & (count == 1) & (own <= -cfg.resegment_keep_margin))
    out = binary.copy()
    out[move] = False
    out[move, np.argmax(gap[move], axis=1)] = True
    return out, centroids
