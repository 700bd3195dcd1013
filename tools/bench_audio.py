#!/usr/bin/env python
"""Audio pipeline speed: real-time factor of each stage on a 10-minute soundtrack.

    python tools/bench_audio.py [--minutes 10] [--diarizer pyannote-onnx]

The soundtrack is the shared recordings (pyannote_sample, dev00, dev01) repeated to length.
Real-time factor = processing seconds / audio seconds (lower is faster; goal: all stages
together <= 0.25 on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SCREENALYTICS_SHARED_DIR") or REPO.parent / "shared")
os.environ.setdefault("SCREENALYTICS_MODELS_DIR", str(SHARED / "models"))

from screenalytics.config import load_settings  # noqa: E402
from screenalytics.model.media import Audio  # noqa: E402
from screenalytics.pipeline import Pipeline  # noqa: E402
from screenalytics.stages.decode import load_audio  # noqa: E402
from screenalytics.stages.voicebank import speaker_embeddings  # noqa: E402


def soundtrack(minutes: float) -> Audio:
    parts = [load_audio(SHARED / "media/audio" / n) for n in ("pyannote_sample.wav", "dev00.wav", "dev01.wav")]
    one = np.concatenate([p.samples for p in parts if p is not None])
    n = int(minutes * 60 * 16000)
    return Audio(np.resize(one, n).astype(np.float32), 16000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--diarizer", default=None)
    args = ap.parse_args()
    overrides = {"diarization": {"diarizer": args.diarizer}} if args.diarizer else {}
    pipeline = Pipeline(load_settings(**overrides))
    audio = soundtrack(args.minutes)
    s = pipeline.settings
    asr = s.options_for(type(pipeline.plugin("transcriber")))
    print(
        f"soundtrack: {audio.duration_s / 60:.1f} min; diarizer {s.diarization.diarizer} (step {s.diarization.step_s} s); "
        f"ASR {s.transcription.transcriber} {asr.model} ({asr.compute_type})"
    )
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    for stage in ("vad", "speaker_embedder", "diarizer", "transcriber"):
        pipeline.plugin(stage)  # load models outside the timings

    rows = []
    t0 = time.perf_counter()
    regions = pipeline.plugin("vad").detect(audio)
    rows.append(("vad", time.perf_counter() - t0))
    t0 = time.perf_counter()
    diarization = pipeline.plugin("diarizer").diarize(audio)
    rows.append(("diarization", time.perf_counter() - t0))
    t0 = time.perf_counter()
    _ = diarization.speaker_embeddings or speaker_embeddings(audio, diarization, pipeline.plugin("speaker_embedder"))
    rows.append(("voice ids", time.perf_counter() - t0))
    t0 = time.perf_counter()
    words = pipeline.plugin("transcriber").transcribe(audio, regions)
    rows.append(("asr", time.perf_counter() - t0))

    speech = sum(e - s for s, e in regions)
    print(f"\n{'stage':<12}{'seconds':>9}{'RTF':>8}")
    for name, secs in rows:
        print(f"{name:<12}{secs:>9.1f}{secs / audio.duration_s:>8.3f}")
    total = sum(secs for _, secs in rows)
    print(f"{'all audio':<12}{total:>9.1f}{total / audio.duration_s:>8.3f}   (goal <= 0.25)")
    print(
        f"\n{speech / audio.duration_s:.0%} of the soundtrack is speech; {len(diarization.turns)} turns, "
        f"{len(diarization.speakers)} speakers, {len(words)} words"
    )


if __name__ == "__main__":
    main()
