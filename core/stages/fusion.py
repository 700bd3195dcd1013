"""Sound meets picture: which person each diarized speaker is, and speaking/both seconds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from screenalytics.config import FusionConfig
from screenalytics.model.records import AVLink, ScreenTime, SpeechSegment, TranscriptWord
from screenalytics.model.speech import Turn, Word
from screenalytics.stages.screentime import VisualSample, add_speech, intersection_length, sort_rows

RESOLUTION_S = 0.02  # timeline grid for co-occurrence


@dataclass(frozen=True)
class Link:
    person_id: str
    method: str  # "voicebank" | "cooccurrence" | "unlinked"
    score: float


def talking(sample: VisualSample, cfg: FusionConfig) -> float:
    """How much a face sample looks like speech, 0..1: the active speaker model's probability,
    or (where it did not run) the face's mouth-region motion."""
    if sample.speaking is not None and sample.speaking >= 0:
        return float(sample.speaking)
    return float(np.clip(sample.mouth_motion / cfg.mouth_motion_scale, 0.0, 1.0))


def _overlaps(turns: list[Turn], samples: list[VisualSample]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(speakers, overlap, total): seconds of each face sample under each speaker's speech
    (speakers x samples) and each speaker's seconds of speech, on a 20 ms grid."""
    speakers = sorted({t.speaker for t in turns})
    overlap, total = np.zeros((len(speakers), len(samples))), np.zeros(len(speakers))
    if not speakers or not samples:
        return speakers, overlap, total
    end = max([t.end for t in turns] + [s.t + s.duration for s in samples])
    n = int(np.ceil(end / RESOLUTION_S)) + 2
    starts = np.array([int(s.t / RESOLUTION_S) for s in samples])
    stops = np.maximum(np.array([int((s.t + s.duration) / RESOLUTION_S) for s in samples]), starts + 1)
    for i, speaker in enumerate(speakers):
        active = np.zeros(n, np.float64)
        for t in turns:
            if t.speaker == speaker:
                active[int(t.start / RESOLUTION_S) : int(t.end / RESOLUTION_S)] = 1.0
        cum = np.concatenate([[0.0], np.cumsum(active)])
        overlap[i], total[i] = cum[stops] - cum[starts], active.sum()
    return speakers, overlap * RESOLUTION_S, total * RESOLUTION_S


Overlaps = tuple[list[str], np.ndarray, np.ndarray]


def cooccurrence(
    turns: list[Turn], samples: list[VisualSample], cfg: FusionConfig, overlaps: Overlaps | None = None
) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """(speakers, people, presence, score) matrices, speaker x person.

    presence: share of the speaker's speech during which the person is on screen (evidence);
    score: the same with each face sample weighted by how much it is speaking (ranking), so
    that of two people on screen the one talking wins the voice. ``overlaps``: ``_overlaps`` of
    the same turns and samples, when the caller has it already.
    """
    speakers, overlap, total = overlaps or _overlaps(turns, samples)
    people = sorted({s.person_id for s in samples})
    shape = (len(speakers), len(people))
    presence, score = np.zeros(shape), np.zeros(shape)
    if not speakers or not people:
        return speakers, people, presence, score
    weights = np.array([(1 - cfg.mouth_weight) + cfg.mouth_weight * talking(s, cfg) for s in samples])
    person_idx = np.array([people.index(s.person_id) for s in samples])
    for i in range(len(speakers)):
        if total[i] == 0:
            continue
        # a person seen on two tracks at once must not count twice: cap at the speech time
        presence[i] = np.minimum(np.bincount(person_idx, weights=overlap[i], minlength=len(people)), total[i]) / total[i]
        score[i] = np.minimum(np.bincount(person_idx, weights=overlap[i] * weights, minlength=len(people)), total[i]) / total[i]
    return speakers, people, presence, score


def speaking_share(
    turns: list[Turn], samples: list[VisualSample], overlaps: Overlaps | None = None
) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """(speakers, people, speaking, seen) speaker x person: the active speaker model's mean
    probability that the person's face speaks while the speaker talks, and over how many seconds
    of scored faces (0 where the model did not run)."""
    speakers, overlap, _ = overlaps or _overlaps(turns, samples)
    people = sorted({s.person_id for s in samples})
    shape = (len(speakers), len(people))
    speaking, seen = np.zeros(shape), np.zeros(shape)
    scored = np.array([s.speaking is not None and s.speaking >= 0 for s in samples], bool)
    if not speakers or not scored.any():
        return speakers, people, speaking, seen
    prob = np.array([s.speaking if ok else 0.0 for s, ok in zip(samples, scored)], np.float64)
    person_idx = np.array([people.index(s.person_id) for s in samples])
    for i in range(len(speakers)):
        w = overlap[i] * scored
        seen[i] = np.bincount(person_idx, weights=w, minlength=len(people))
        heard = seen[i] > 0
        speaking[i, heard] = np.bincount(person_idx, weights=w * prob, minlength=len(people))[heard] / seen[i, heard]
    return speakers, people, speaking, seen


def _seconds(turns: list[Turn]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for t in turns:
        out[t.speaker] += t.end - t.start
    return out


def group_voices(
    turns: list[Turn],
    samples: list[VisualSample],
    vectors: dict[str, np.ndarray] | None,
    cfg: FusionConfig,
    keep_apart: Iterable[str] = (),
) -> tuple[list[Turn], dict[str, np.ndarray] | None]:
    """Join speakers the diarizer split from one voice, before they are linked to faces.

    Clustering windows of a 10 s segmentation leaves one voice in several speakers (a cold or
    loud stretch, a different microphone distance); linked one speaker per person, the pieces
    then go to whoever else is on screen, a silent person first. Two speakers are one voice when
    their centroids are ``group_similarity`` close, or ``group_similarity_seen`` close and heard
    while the same faces are on screen (their co-occurrence profiles ``group_seen_with`` alike).
    (Talking at the same time does not tell voices apart: where the segmentation hears two local
    speakers in one voice, its pieces overlap.) Joined speakers take the name of the
    one who speaks longest; their turns are merged where they touch. Speakers in ``keep_apart``
    (named by the voice bank) stay as they are."""
    if not vectors or (cfg.group_similarity is None and cfg.group_similarity_seen is None):
        return turns, vectors
    fixed = set(keep_apart)
    speakers = sorted(sp for sp in {t.speaker for t in turns} if sp in vectors and sp not in fixed)
    if len(speakers) < 2:
        return turns, vectors
    seconds = _seconds(turns)
    names, _, presence, _ = cooccurrence([t for t in turns if t.speaker in speakers], samples, cfg)
    profile = {sp: presence[names.index(sp)] for sp in speakers}
    hi = cfg.group_similarity if cfg.group_similarity is not None else 2.0
    lo = cfg.group_similarity_seen if cfg.group_similarity_seen is not None else 2.0
    pairs = []
    for i, a in enumerate(speakers):
        for b in speakers[i + 1 :]:
            voice = float(vectors[a] @ vectors[b])
            if voice < min(hi, lo):
                continue
            pa, pb = profile[a], profile[b]
            norm = float(np.linalg.norm(pa) * np.linalg.norm(pb))
            seen = float(pa @ pb) / norm if norm > 0 else 0.0
            if voice >= hi or (voice >= lo and seen >= cfg.group_seen_with):
                pairs.append((voice, a, b))
    parent = {sp: sp for sp in speakers}

    def root(sp: str) -> str:
        while parent[sp] != sp:
            sp = parent[sp]
        return sp

    members = {sp: [sp] for sp in speakers}
    for _, a, b in sorted(pairs, reverse=True):  # closest voices first
        ra, rb = root(a), root(b)
        if ra == rb:
            continue
        keep, gone = (ra, rb) if sum(seconds[x] for x in members[ra]) >= sum(seconds[y] for y in members[rb]) else (rb, ra)
        parent[gone] = keep
        members[keep] += members.pop(gone)
    if len(members) == len(speakers):
        return turns, vectors
    name = {sp: root(sp) for sp in speakers}
    joined: dict[str, list[Turn]] = defaultdict(list)
    for t in sorted(turns, key=lambda t: t.start):
        sp = name.get(t.speaker, t.speaker)
        mine = joined[sp]
        if mine and t.start <= mine[-1].end:
            mine[-1].end = max(mine[-1].end, t.end)
        else:
            mine.append(Turn(t.start, t.end, sp))
    out_turns = sorted((t for ts in joined.values() for t in ts), key=lambda t: (t.start, t.speaker))
    out_vectors = {}
    for keep, group in members.items():
        v = np.sum([vectors[sp] * seconds[sp] for sp in group], axis=0)
        out_vectors[keep] = v / max(float(np.linalg.norm(v)), 1e-12)
    out_vectors.update({sp: v for sp, v in vectors.items() if sp not in name})
    return out_turns, out_vectors


def link_speakers(
    turns: list[Turn],
    samples: list[VisualSample],
    voices: dict[str, tuple[str, float]],
    cfg: FusionConfig,
    speaker_vectors: dict[str, np.ndarray] | None = None,
) -> dict[str, Link]:
    """Voice bank matches first; then one speaker per on-screen person by co-occurrence
    (Hungarian assignment); then speakers left over whose voice is that of a linked speaker (the
    diarizer split one voice); whoever is left is reported as speaker_N."""
    links = {sp: Link(person, "voicebank", score) for sp, (person, score) in voices.items()}
    rest = [t for t in turns if t.speaker not in links]
    taken = {link.person_id for link in links.values()}
    candidates = [s for s in samples if s.person_id not in taken]
    overlaps = _overlaps(rest, candidates)
    speakers, people, presence, score = cooccurrence(rest, candidates, cfg, overlaps)
    _, _, speaking, scored = speaking_share(rest, candidates, overlaps)
    seconds = _seconds(turns)
    if score.size:
        gain = score + presence
        if cfg.weight_by_speech:  # a face goes to the voice it is seen with longest, not to a fragment
            gain = gain * np.array([[seconds[sp]] for sp in speakers])
        rows, cols = linear_sum_assignment(-gain)
        for r, c in zip(rows, cols):
            # a face the active speaker model saw while this voice spoke, and saw silent, is a listener
            silent = cfg.min_speaking is not None and scored[r, c] > 0 and speaking[r, c] < cfg.min_speaking
            if presence[r, c] >= cfg.min_cooccurrence and not silent:
                links[speakers[r]] = Link(people[c], "cooccurrence", float(presence[r, c]))
    if speaker_vectors and cfg.merge_similarity is not None:
        links.update(_same_voices(links, speaker_vectors, cfg.merge_similarity, sorted(seconds)))
    seconds = {sp: secs for sp, secs in seconds.items() if sp not in links}
    for k, speaker in enumerate(sorted(seconds, key=lambda sp: (-seconds[sp], sp))):
        links[speaker] = Link(f"{cfg.unlinked_prefix}{k + 1}", "unlinked", 0.0)
    return links


def _same_voices(
    links: dict[str, Link], vectors: dict[str, np.ndarray], threshold: float, speakers: list[str]
) -> dict[str, Link]:
    """Unlinked speakers whose voice is closest to a linked speaker's, within ``threshold``."""
    linked = [sp for sp in links if sp in vectors]
    found = {}
    for sp in speakers:
        if sp in links or sp not in vectors or not linked:
            continue
        sims = [float(vectors[sp] @ vectors[other]) for other in linked]
        best = int(np.argmax(sims))
        if sims[best] >= threshold:
            link = links[linked[best]]
            found[sp] = Link(link.person_id, f"{link.method}+voice", round(sims[best] * link.score, 4))
    return found


def attribute_turns(
    turns: list[Turn], links: dict[str, Link], samples: list[VisualSample]
) -> tuple[list[SpeechSegment], list[AVLink]]:
    """Per turn: its person, whether someone else talks over it, and the on-screen track if any."""
    by_person: dict[str, list[VisualSample]] = defaultdict(list)
    for s in samples:
        by_person[s.person_id].append(s)
    segments, av = [], []
    for i, turn in enumerate(turns):
        link = links[turn.speaker]
        overlap = any(o.speaker != turn.speaker and o.start < turn.end and turn.start < o.end for o in turns)
        segments.append(SpeechSegment(i, turn.start, turn.end, turn.speaker, link.person_id, link.method, link.score, overlap))
        seen = [s for s in by_person.get(link.person_id, []) if s.t < turn.end and turn.start < s.t + s.duration]
        on_screen = intersection_length([(turn.start, turn.end)], [(s.t, s.t + s.duration) for s in seen])
        per_track: dict[int, float] = defaultdict(float)
        for s in seen:
            per_track[s.track_id] += min(turn.end, s.t + s.duration) - max(turn.start, s.t)
        track = max(per_track, key=per_track.get) if per_track else -1  # type: ignore[arg-type]
        av.append(
            AVLink(
                i,
                turn.start,
                turn.end,
                turn.speaker,
                link.person_id,
                track,
                link.method,
                link.score,
                on_screen,
                (turn.end - turn.start) - on_screen,
            )
        )
    return segments, av


def add_speaking_time(
    rows: list[ScreenTime], turns: list[Turn], links: dict[str, Link], samples: list[VisualSample]
) -> list[ScreenTime]:
    """Fill speaking_s (union of the person's turns) and both_s (speaking while visible).

    Confidence becomes the time-weighted mean of the visual confidence and the link score.
    """
    speech: dict[str, list[tuple[float, float]]] = defaultdict(list)
    link_score: dict[str, float] = {}
    for t in turns:
        link = links[t.speaker]
        speech[link.person_id].append((t.start, t.end))
        link_score[link.person_id] = max(link_score.get(link.person_id, 0.0), link.score)
    by_id = add_speech(rows, speech, samples)
    for person, row in by_id.items():
        total = row.visual_s + row.speaking_s
        if total > 0:
            row.confidence = (row.visual_s * row.confidence + row.speaking_s * link_score.get(person, 0.5)) / total
    return sort_rows(list(by_id.values()))


def attach_words(speech: list[SpeechSegment], words: list[Word]) -> tuple[list[SpeechSegment], list[TranscriptWord]]:
    """Each word goes to the shortest turn its middle falls in; returns the turns with their text
    and the words as stored rows (turn -1: in no turn)."""
    text: dict[int, str] = {}
    out = []
    for w in words:
        mid = (w.start + w.end) / 2
        inside = [seg for seg in speech if seg.start <= mid < seg.end]
        turn = min(inside, key=lambda seg: seg.end - seg.start) if inside else None
        if turn is not None:
            text[turn.turn_id] = (text[turn.turn_id] + w.text).strip() if text.get(turn.turn_id) else w.text.strip()
        out.append(TranscriptWord(turn.turn_id if turn else -1, float(w.start), float(w.end), w.text.strip(), w.probability))
    return [replace(seg, text=text[seg.turn_id]) if seg.turn_id in text else seg for seg in speech], out
