#!/usr/bin/env python
"""Vision pipeline speed: frames/s per stage and the whole run against decoding alone.

    python tools/bench_vision.py [VIDEO] [--facebank DIR|YAML] [--stride N] [--detector NAME]

Needs SCREENALYTICS_MODELS_DIR (defaults to ../shared/models beside the repository).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SCREENALYTICS_SHARED_DIR") or REPO.parent / "shared")
os.environ.setdefault("SCREENALYTICS_MODELS_DIR", str(SHARED / "models"))

from screenalytics.config import load_settings  # noqa: E402
from screenalytics.model.names import VISION_STAGES, Stage  # noqa: E402
from screenalytics.pipeline import Pipeline  # noqa: E402
from screenalytics.stages.decode import iter_frames, probe  # noqa: E402


def decode_only(video: Path, stride: int, repeat: int) -> tuple[float, int]:
    """Best-of-N seconds to decode and convert every sampled frame to BGR, as the pipeline does."""
    best, n = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = sum(1 for _ in iter_frames(video, stride=stride))
        best = min(best, time.perf_counter() - t0)
    return best, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", nargs="?", type=Path, default=SHARED / "media/video/short_hamilton_clip.mp4")
    ap.add_argument("--facebank", type=Path, default=REPO / "tests/data/hamilton_facebank.yaml")
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--detector", default=None)
    ap.add_argument("--recognizer-model", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    overrides: dict = {"decode": {"stride": args.stride}, "storage": {"uri": tempfile.mkdtemp()}}
    if args.detector:
        overrides["detection"] = {"detector": args.detector}
    if args.recognizer_model:
        overrides["recognition"] = {"model": args.recognizer_model}
    settings = load_settings(**overrides)
    info = probe(args.video)
    print(
        f"video: {args.video.name} {info.width}x{info.height} {info.fps:.2f} fps {info.duration_s:.1f} s; "
        f"stride {args.stride}; detector {settings.detection.detector}; recognizer {settings.recognition.model}"
    )
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")

    dec_s, n = decode_only(args.video, args.stride, args.repeat)
    print(f"\ndecode only: {n} frames in {dec_s:.2f} s = {n / dec_s:.0f} frames/s")

    pipeline = Pipeline(settings)
    bank = pipeline.enrol(args.facebank)
    best = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = pipeline.analyse(args.video, bank, stages=[Stage.IDENTIFY])  # the vision stages only
        wall = time.perf_counter() - t0
        if best is None or wall < best[0]:
            best = (wall, result)
    wall, result = best  # type: ignore[misc]
    frames = result.frames_analysed
    print(f"\n{'stage':<10}{'seconds':>9}{'frames/s':>10}{'share':>8}")
    for stage in VISION_STAGES:
        s = result.timings.get(stage, 0.0)
        fps = f"{frames / s:.0f}" if s > 0 else "-"
        print(f"{stage:<10}{s:>9.2f}{fps:>10}{s / wall:>8.0%}")
    faces = len([e for e in result.embeddings if e.owner == "track"])
    print(f"{'total':<10}{wall:>9.2f}{frames / wall:>10.0f}")
    print(
        f"\nwhole pipeline / decode only: {wall / dec_s:.1f}x the decode time "
        f"({frames / wall:.0f} vs {n / dec_s:.0f} frames/s); "
        f"{len(result.detections)} faces tracked, {faces} window embeddings; "
        f"real-time factor {wall / info.duration_s:.2f}"
    )


if __name__ == "__main__":
    main()
