"""Voice bank: cast voices enrolled from clips, and diarized speakers matched against them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from screenalytics.config import VoicebankConfig
from screenalytics.errors import InputError
from screenalytics.model.banks import Gallery, Voicebank
from screenalytics.model.contracts import VAD, SpeakerEmbedder
from screenalytics.model.media import Audio
from screenalytics.model.speech import Diarization, Ranges
from screenalytics.model.vectors import best_match, normalise
from screenalytics.stages.decode import load_audio

PIECE_S = 5.0  # speech is embedded in pieces of at most this long, then averaged


def pieces(ranges: Ranges, piece_s: float = PIECE_S) -> list[Ranges]:
    """Cut speech ranges into items of at most ``piece_s`` seconds each (one embedding each)."""
    out: list[Ranges] = []
    for s, e in ranges:
        while e - s > 0.3:
            out.append([(s, min(e, s + piece_s))])
            s += piece_s
    return out


def embed_speech(audio: Audio, ranges: Ranges, embedder: SpeakerEmbedder, max_pieces: int = 24) -> np.ndarray | None:
    """One unit vector for all the speech in ``ranges`` (mean of piece embeddings, longest first)."""
    items = sorted(pieces(ranges), key=lambda it: -(it[0][1] - it[0][0]))[:max_pieces]
    if not items:
        return None
    return normalise(embedder.embed(audio, items).mean(axis=0))


def list_clips(path: Path, cfg: VoicebankConfig) -> list[tuple[str, Path]]:
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"voice bank not found (expected a folder {path}/<person_id>/<clip>.wav)")
    exts = {e.lower() for e in cfg.extensions}
    clips = [
        (d.name, f)
        for d in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        for f in sorted(d.iterdir())
        if f.is_file() and f.suffix.lower() in exts
    ]
    if not clips:
        raise InputError(f"voice bank {path} is empty: expected {path}/<person_id>/<clip>{'|'.join(sorted(exts))}")
    return clips


def enrol_voices(path: Path, vad: VAD, embedder: SpeakerEmbedder, sample_rate: int, cfg: VoicebankConfig) -> Voicebank:
    """Embed the speech (per the VAD) of every clip; clips without speech are listed in ``skipped``."""
    clips = list_clips(path, cfg)
    person_ids = list(dict.fromkeys(p for p, _ in clips))
    vectors, owners, sources, skipped = [], [], [], []
    for person, clip in clips:
        try:
            audio = load_audio(clip, sample_rate)
        except InputError as e:
            skipped.append(f"{clip} ({e})")
            continue
        if audio is None or audio.duration_s < 0.3:
            skipped.append(f"{clip} (no audio)")
            continue
        vec = embed_speech(audio, vad.detect(audio), embedder)
        if vec is None:
            skipped.append(f"{clip} (no speech found)")
            continue
        vectors.append(vec)
        owners.append(person_ids.index(person))
        sources.append(f"{clip}#{hashlib.sha256(clip.read_bytes()).hexdigest()[:12]}")
    if not vectors:
        raise InputError(f"no speech found in any voice bank clip under {path}: {'; '.join(skipped)}")
    return Voicebank(Gallery(person_ids, np.stack(vectors), np.array(owners)), sources, skipped)


def speaker_embeddings(audio: Audio, diarization: Diarization, embedder: SpeakerEmbedder) -> dict[str, np.ndarray]:
    """A voice vector per diarized speaker, from the parts of its turns where it speaks alone."""
    out: dict[str, np.ndarray] = {}
    for speaker in diarization.speakers:
        own = [(t.start, t.end) for t in diarization.turns if t.speaker == speaker]
        others = [(t.start, t.end) for t in diarization.turns if t.speaker != speaker]
        alone = subtract(own, others) or own
        vec = embed_speech(audio, alone, embedder)
        if vec is not None:
            out[speaker] = vec
    return out


def subtract(a: Ranges, b: Ranges) -> Ranges:
    """Parts of the ranges ``a`` not covered by any range of ``b``."""
    out: Ranges = []
    for s, e in a:
        cur = [(s, e)]
        for bs, be in b:
            cur = [piece for cs, ce in cur for piece in ((cs, min(ce, bs)), (max(cs, be), ce)) if piece[1] - piece[0] > 1e-6]
        out.extend(cur)
    return out


def identify_speakers(embeddings: dict[str, np.ndarray], bank: Voicebank, cfg: VoicebankConfig) -> dict[str, tuple[str, float]]:
    """speaker -> (person_id, score) for speakers whose voice clearly matches one cast voice."""
    found: dict[str, tuple[str, float]] = {}
    for speaker, vec in embeddings.items():
        match = best_match(bank.scores(vec), cfg.threshold, cfg.margin)
        if match is not None:
            found[speaker] = (bank.person_ids[match[0]], match[1])
    return found
