"""Who is on each track: windows matched to the facebank (threshold, margin, hysteresis both
ways), stretches nobody claims clustered into ``unknown_N``, and the visual samples that follow."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from screenalytics.config import IdentificationConfig, Settings
from screenalytics.model.banks import Gallery
from screenalytics.model.detections import DetectionTable
from screenalytics.model.records import Assignment, FaceEmbedding, Track
from screenalytics.model.run import Chips
from screenalytics.model.vectors import best_match, normalise
from screenalytics.stages.faces import cover_side
from screenalytics.stages.screentime import VisualSample
from screenalytics.stages.tracking import FaceTracks, WindowVectors

WINDOW_OWNER = "track"
Embed = Callable[[np.ndarray], np.ndarray]  # aligned crops (N,112,112,3) -> (N,D) embeddings


def pooled(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Quality-weighted mean embedding, renormalised."""
    w = np.maximum(np.asarray(weights, dtype=np.float32), 1e-6)
    return normalise((normalise(vectors) * w[:, None]).sum(axis=0))


@dataclass
class Window:
    """A stretch of a track with its pooled embedding (None when it had no usable face)."""

    index: int
    start_t: float
    end_t: float
    embedding: np.ndarray | None
    good: bool = True  # False: pooled from faces that failed the quality gate
    covered_s: float = 0.0  # seconds of samples in the window (excludes gaps)
    quality: float = 0.0  # mean quality weight of the faces pooled into the embedding
    side: int = 0  # the half its faces had hidden (faces.hidden_side), 0 none
    half: np.ndarray | None = None  # pooled embedding of those faces with that half painted out


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
    reid: bool = False  # named by the episode's own confident faces, not the facebank
    reid_floor: float = 0.0  # the threshold that re-identification cleared (confidence 0 there)


def _hysteresis(scores: list[np.ndarray | None], cfg: IdentificationConfig) -> list[int | None]:
    """One pass: enter a person at threshold+margin, keep them while above stay_threshold."""
    labels: list[int | None] = []
    current: int | None = None
    for s in scores:
        if s is None:
            labels.append(current)
            continue
        match = best_match(s, cfg.threshold, cfg.margin)
        if match is not None:
            current = match[0]  # clear evidence wins, even over an identity still above stay
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


@dataclass
class Identification:
    """The identify stage's output: final detections (ids set), tracks, assignments, samples."""

    detections: DetectionTable
    tracks: list[Track]
    assignments: list[Assignment]
    embeddings: list[FaceEmbedding]  # one pooled vector per track window
    samples: list[VisualSample]
    chips: Chips


def identify_tracks(
    faces: FaceTracks, gallery: Gallery, s: Settings, model_name: str, embed: Embed | None = None
) -> Identification:
    """Drop tracks too short to trust, decide who each track window is, name the unknowns.
    ``embed`` (the recognizer's) lets faces with one side hidden be matched on their open half."""
    idc, window_s = s.identification, s.recognition.window_s
    found = faces.detections
    ids, counts = np.unique(found.column("track_id"), return_counts=True)
    detections = found.take(np.flatnonzero(np.isin(found.column("track_id"), ids[counts >= s.tracking.min_track_samples])))
    detections.column("detection_id")[:] = np.arange(len(detections))
    by_track = _rows_by_track(detections)
    fill_gaps(detections, by_track, s.tracking.fill_gap_s)
    T, D = detections.column("t"), detections.column("duration")

    embeddings: list[FaceEmbedding] = []
    track_segments = {
        tid: decide_track(_windows(tid, T[rs], D[rs], faces.window_vectors, window_s, model_name, embeddings), gallery, idc)
        for tid, rs in sorted(by_track.items())
    }
    reidentify(track_segments, idc)
    if embed is not None:
        reidentify_halves(track_segments, faces.chips, embed, idc)
    unknown_names, unknown_conf = name_unknowns(track_segments, idc)
    tracks: list[Track] = []
    assignments: list[Assignment] = []
    samples: list[VisualSample] = []
    motion, speaking = detections.column("mouth_motion"), detections.column("speaking")
    for tid, segs in track_segments.items():
        rs = by_track[tid]
        seg_of_window = {w.index: seg for seg in segs for w in seg.windows}
        conf_of: dict[str, float] = {}
        for seg in segs:
            if seg.person_index is not None and seg.reid:
                span = max(idc.confident_score - seg.reid_floor, 1e-6)
                conf = float(np.clip((seg.score - seg.reid_floor) / span, 0.0, 1.0))
                person, method, thr = gallery.person_ids[seg.person_index], "reid", seg.reid_floor
            elif seg.person_index is not None:
                person, method, thr, conf = (
                    gallery.person_ids[seg.person_index],
                    "facebank",
                    idc.threshold,
                    confidence(seg.score, idc),
                )
            elif id(seg) in unknown_names:
                person, method, thr = unknown_names[id(seg)], "cluster", idc.unknown_cluster_distance
                conf = unknown_conf[id(seg)]
            else:
                continue
            conf_of[person] = conf
            assignments.append(
                Assignment(tid, seg.start_t, seg.end_t, person, seg.score, seg.margin, method, thr, confidence=conf)
            )
            seg.person_id, seg.confidence = person, conf
        time_by_person: dict[str, float] = defaultdict(float)
        for i in rs:
            t, duration = float(T[i]), float(D[i])
            seg = seg_of_window[int(t // window_s)]
            if seg.person_id is None:
                continue
            samples.append(VisualSample(seg.person_id, tid, t, duration, seg.confidence, float(motion[i]), float(speaking[i])))
            time_by_person[seg.person_id] += duration
        main = max(time_by_person, key=time_by_person.__getitem__) if time_by_person else None
        mean_score = float(np.mean(detections.column("score")[rs]))
        end = float(T[rs[-1]] + D[rs[-1]])
        shot = int(detections.column("shot_id")[rs[0]])
        tracks.append(Track(tid, shot, float(T[rs[0]]), end, len(rs), mean_score, main, conf_of.get(main, 0.0) if main else 0.0))
    for i, a in enumerate(assignments):
        a.assignment_id = f"a{i}"
    chips = {tid: best for tid, best in faces.chips.items() if tid in by_track}
    return Identification(detections, tracks, assignments, embeddings, samples, chips)


def fill_gaps(detections: DetectionTable, by_track: dict[int, np.ndarray], max_gap_s: float) -> None:
    """Frames where the detector lost a face its track then found again (within ``max_gap_s``;
    tracks never cross a cut) count as seen: the face before the gap lasts until the next one."""
    if max_gap_s <= 0:
        return
    T, D = detections.column("t"), detections.column("duration")
    for rows in by_track.values():
        if len(rows) < 2:
            continue
        gap = T[rows[1:]] - (T[rows[:-1]] + D[rows[:-1]])
        fill = (gap > 1e-6) & (gap <= max_gap_s + 1e-6)
        D[rows[:-1][fill]] += gap[fill]


def _rows_by_track(detections: DetectionTable) -> dict[int, np.ndarray]:
    """Each track's row indices, in time order."""
    track = detections.column("track_id")
    order = np.lexsort((detections.column("t"), track))  # by track, then time (stable)
    ordered = track[order]
    return {int(ordered[a]): order[a:b] for a, b in _equal_runs(ordered)}


def _equal_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of equal neighbouring values."""
    if not len(values):
        return []
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    return list(zip(starts.tolist(), np.r_[starts[1:], len(values)].tolist()))


def _windows(
    tid: int,
    t: np.ndarray,
    duration: np.ndarray,
    vectors: WindowVectors,
    window_s: float,
    model_name: str,
    out: list[FaceEmbedding],
) -> list[Window]:
    """The track's windows with pooled embeddings (good faces only, unless the track has none);
    ``t`` and ``duration``: its faces' times, in order."""
    index = (t // window_s).astype(np.int64)
    any_good = any(vectors[(tid, int(w))].good for w in np.unique(index) if (tid, int(w)) in vectors)
    windows = []
    for a, b in _equal_runs(index):
        w_index = int(index[a])
        vecs = vectors.get((tid, w_index))
        emb, quality = None, 0.0
        side, half = 0, None
        if vecs is not None and (vecs.good or not any_good):
            emb = pooled(vecs.vectors, vecs.weights)
            quality = float(vecs.weights.mean())
            if vecs.side and vecs.half is not None:
                side, half = vecs.side, pooled(vecs.half, vecs.weights)
            out.append(FaceEmbedding(WINDOW_OWNER, str(tid), f"window:{w_index}", model_name, emb.tolist(), quality, float(t[a])))
        end = float(t[b - 1] + duration[b - 1])
        covered = sum(float(d) for d in duration[a:b])
        windows.append(Window(w_index, float(t[a]), end, emb, bool(vecs and vecs.good), covered, quality, side, half))
    return windows


def _mean_embedding(seg: Segment) -> np.ndarray | None:
    embs = [w.embedding for w in seg.windows if w.embedding is not None and w.good]
    return normalise(np.mean(embs, axis=0)) if embs else None


def reidentify(track_segments: dict[int, list[Segment]], idc: IdentificationConfig) -> None:
    """Episode-level re-identification: a stretch no facebank photo claimed (a face under
    sunglasses, a band or a box) is compared with the episode's own confidently named faces (same
    lighting, make-up, camera), which resemble it more than photos taken years apart do. It takes
    their person when it clears ``reid_threshold`` and beats the next person by ``reid_margin``."""
    if idc.reid_threshold is None:
        return
    refs: dict[int, list[np.ndarray]] = defaultdict(list)
    for segs in track_segments.values():
        for seg in segs:
            vec = _mean_embedding(seg) if seg.person_index is not None and seg.score >= idc.threshold else None
            if vec is not None:
                refs[seg.person_index].append(vec)  # type: ignore[index]
    if not refs:
        return
    people = sorted(refs)
    for segs in track_segments.values():
        for seg in segs:
            vec = _mean_embedding(seg) if seg.person_index is None else None
            if vec is None:
                continue
            sims = np.array([max(float(r @ vec) for r in refs[p]) for p in people])
            _take_if_clear(seg, sims, people, idc.reid_threshold, idc.reid_margin)


def _take_if_clear(seg: Segment, sims: np.ndarray, people: list[int], threshold: float, margin: float) -> None:
    """Name ``seg`` after the best of ``people`` (``sims``: one similarity each) when it clears
    ``threshold`` and beats the next person by ``margin``."""
    order = np.argsort(-sims)
    best = float(sims[order[0]])
    runner = float(sims[order[1]]) if len(people) > 1 else -1.0
    if best >= threshold and best - runner >= margin:
        seg.person_index, seg.score, seg.margin, seg.reid = people[int(order[0])], best, best - runner, True
        seg.reid_floor = threshold


def _half_of(seg: Segment) -> tuple[int, np.ndarray] | None:
    """The hidden side of a stretch and its pooled half-face embedding, when most of its embedded
    windows had the same side hidden."""
    windows = [w for w in seg.windows if w.embedding is not None]
    for side in (1, 2):
        hidden = [w.half for w in windows if w.side == side and w.half is not None]
        if hidden and len(hidden) * 2 > len(windows):
            return side, normalise(np.mean(hidden, axis=0))
    return None


def _confident_chips(
    track_segments: dict[int, list[Segment]], chips: Chips, idc: IdentificationConfig
) -> dict[int, list[tuple[float, bytes]]]:
    """The best face chips of each person's confidently named tracks (named by the facebank,
    one person on the whole track), at most ``half_reid_refs`` a person."""
    out: dict[int, list[tuple[float, bytes]]] = defaultdict(list)
    for tid, segs in track_segments.items():
        named = {seg.person_index for seg in segs if seg.person_index is not None}
        confident = any(seg.person_index is not None and not seg.reid and seg.score >= idc.threshold for seg in segs)
        if len(named) == 1 and confident and tid in chips:
            out[named.pop()].extend(chips[tid])  # type: ignore[arg-type]
    return {p: sorted(c, key=lambda qc: -qc[0])[: idc.half_reid_refs] for p, c in out.items()}


def reidentify_halves(track_segments: dict[int, list[Segment]], chips: Chips, embed: Embed, idc: IdentificationConfig) -> None:
    """Half-face re-identification: a stretch nobody claimed whose faces have one side hidden
    scores low against every whole face, however well its open half matches. Its half-face
    embedding is compared with the mean of the same half of each person's confidently named faces
    in the episode (their chips, the hidden side painted out the same way; a mean, not the
    closest chip, so a person with more chips is not favoured by chance); it takes their person
    when it clears ``half_reid_threshold`` and beats the next person by ``half_reid_margin``."""
    if idc.half_reid_threshold is None:
        return
    wanted = []
    for segs in track_segments.values():
        for seg in segs:
            half = _half_of(seg) if seg.person_index is None else None
            if half is not None:
                wanted.append((seg, half))
    if not wanted:
        return
    refs_chips = _confident_chips(track_segments, chips, idc)
    if not refs_chips:
        return
    people = sorted(refs_chips)
    crops = {p: [cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR) for _, jpg in refs_chips[p]] for p in people}
    centres: dict[int, np.ndarray] = {}  # side -> (people, D): each person's mean half-face
    for seg, (side, vec) in wanted:
        if side not in centres:
            vecs = normalise(embed(np.stack([cover_side(c, side) for p in people for c in crops[p]])))
            ends = np.cumsum([len(crops[p]) for p in people])
            centres[side] = normalise(np.stack([vecs[a:b].mean(axis=0) for a, b in zip(np.r_[0, ends[:-1]], ends)]))
        _take_if_clear(seg, centres[side] @ vec, people, idc.half_reid_threshold, idc.half_reid_margin)


def _seen_clearly(seg: Segment, idc: IdentificationConfig) -> float:
    """How well a stretch's faces were seen, in [0,1]: a cast member under a box or dark glasses
    is found by the detector with a lower score and misses the facebank, so an ``unknown``
    verdict on such faces is doubtful; on a clear face (``unknown_clear_quality``) it is not."""
    q = [w.quality for w in seg.windows if w.embedding is not None and w.good]
    if not q:
        return 0.0
    lo, hi = idc.unknown_doubt_quality, idc.unknown_clear_quality
    return float(np.clip((float(np.mean(q)) - lo) / max(hi - lo, 1e-6), 0.0, 1.0))


def name_unknowns(track_segments: dict[int, list[Segment]], idc: IdentificationConfig) -> tuple[dict[int, str], dict[int, float]]:
    """Name stretches no facebank person claimed: ``unknown_N``, N by screen time.

    Stretches with good faces are clustered (average linkage, cosine distance); those built
    only from faces that failed the quality gate stay apart, since blurred and tiny faces
    look alike to a recognizer whoever they are.
    """
    stretches = [
        seg
        for segs in track_segments.values()
        for seg in segs
        if seg.person_index is None and any(w.embedding is not None for w in seg.windows)
    ]
    if not stretches:
        return {}, {}
    embs = np.stack(
        [normalise(np.mean([w.embedding for w in seg.windows if w.embedding is not None], axis=0)) for seg in stretches]
    )
    good = np.array([any(w.good for w in seg.windows) for seg in stretches])
    labels = np.empty(len(stretches), dtype=int)
    labels[good] = cluster_unknowns(embs[good], idc.unknown_cluster_distance)
    labels[~good] = np.arange((~good).sum()) + (labels[good].max() + 1 if good.any() else 0)
    durations: dict[int, float] = defaultdict(float)
    for seg, lab in zip(stretches, labels):
        durations[int(lab)] += sum(w.covered_s for w in seg.windows)
    ranked = sorted(durations, key=lambda lab: (-durations[lab], lab))
    names = {lab: f"{idc.unknown_prefix}{i + 1}" for i, lab in enumerate(ranked)}
    out_names: dict[int, str] = {}
    out_conf: dict[int, float] = {}
    for i, (seg, lab) in enumerate(zip(stretches, labels)):
        members = embs[labels == lab]
        centre = normalise(members.mean(axis=0))
        # how far below the threshold its best facebank match is: an occluded cast member sits
        # just below it, a stranger far below, so the doubtful ones head the review queue
        not_cast = float(np.clip((idc.threshold - seg.score) / idc.unknown_cast_span, 0.0, 1.0))
        seg.score, seg.margin = float(embs[i] @ centre), 0.0
        out_names[id(seg)] = names[int(lab)]
        if good[i]:
            spread = 1.0 - float((members @ centre).mean())
            tight = float(np.clip(1.0 - spread / idc.unknown_cluster_distance, 0.0, 1.0))
            out_conf[id(seg)] = tight * not_cast * _seen_clearly(seg, idc)
        else:
            out_conf[id(seg)] = 0.0  # faces too poor to vouch for who this is
    return out_names, out_conf
