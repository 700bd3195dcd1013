#!/usr/bin/env python
"""Whole-pipeline speed on a long episode: decode-only and `screenalytics run`, in one invocation.

    python tools/bench.py [--minutes 60] [--cache DIR] [--repeat N] [--config FILE] [--fps F | --stride N]
                          [--json PATH]
    python tools/bench.py --video EPISODE.mp4 [--facebank DIR|YAML] ...

Without --video an episode of --minutes (1280x720, 25 fps, H.264 + AAC 48 kHz stereo, with speech)
is built from the shared media: tools/episode_builder.py composes --seeds different episodes of
--segment-s seconds (640x360, faces, voices, cuts), which are scaled to 720p and played one after
the other until the episode is long enough; their facebanks together are the facebank. The
episode is kept in --cache and reused by the next run with the same shape.

Each repeat times:
- decode only: PyAV (threaded) decoding the file to BGR frames at the sampling the run uses
  (every --stride-th frame, or --fps frames per second), nothing else;
- the pipeline: `python -m screenalytics run` in a child process with the default settings (or
  --config), a fresh store and output folder; wall time, and peak memory of the whole process tree
  (resident set sizes added up every 0.1 s from /proc, Linux) and of its largest process
  (getrusage, exact).
Reported: per-stage seconds from run.json (the median over repeats), frames/s, the real-time
factor (wall / episode length), the vision stages against decode only, what ran each model
(run.json `providers`), the machine and the date. --json writes the same figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SCREENALYTICS_SHARED_DIR") or REPO.parent / "shared").resolve()
sys.path.insert(0, str(Path(__file__).resolve().parent))

import episode_builder  # noqa: E402

W, H, FPS, SR = 1280, 720, 25, 48000
COMPOSE_VERSION = 1  # bump when the composition changes, so cached episodes are rebuilt
VISION = ("decode", "shots", "detect", "align", "track", "embed", "identify")
AUDIO = ("vad", "diarize", "voices", "transcribe", "fusion")


# --- the episode -----------------------------------------------------------------------------------


def build_episode(minutes: float, cache: Path, seeds: int, segment_s: float) -> tuple[Path, Path]:
    """The cached episode of ``minutes`` and its facebank, built on first use."""
    total_frames = max(1, round(minutes * 60 * FPS))
    n_bases = max(1, min(seeds, -(-total_frames // round(segment_s * FPS))))  # no more bases than the episode plays
    base_s = max(12.0, min(segment_s, total_frames / FPS))  # the builder needs about 12 s for its shot kinds
    name = f"episode_{minutes:g}min_{W}x{H}_{FPS}fps_{n_bases}x{base_s:g}s_v{COMPOSE_VERSION}.{episode_builder.VERSION}"
    video, facebank = cache / f"{name}.mp4", cache / f"{name}_facebank"
    if video.is_file() and facebank.is_dir():
        return video, facebank
    bases = [episode_builder.build_episode(seed, base_s, cache / "base") for seed in range(1, n_bases + 1)]
    for base in bases:  # the facebanks together: every cast member of every base episode
        for photo in (base / "facebank").glob("*/*"):
            (facebank / photo.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(photo, facebank / photo.parent.name / photo.name)
    part = video.with_suffix(".part.mp4")
    compose(bases, part, total_frames)
    part.replace(video)  # only a finished file is ever reused
    return video, facebank


def base_audio(folder: Path) -> np.ndarray:
    """A base episode's soundtrack at 48 kHz mono, exactly as long as its video."""
    with av.open(str(folder / "episode.mp4")) as c:
        frames = c.streams.video[0].frames
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
        pieces = [r.to_ndarray().reshape(-1) for f in c.decode(audio=0) for r in resampler.resample(f)]
        pieces += [r.to_ndarray().reshape(-1) for r in resampler.resample(None)]
    samples = np.concatenate(pieces).astype(np.float32)
    n = frames * SR // FPS
    return np.pad(samples[:n], (0, max(0, n - len(samples))))


def compose(bases: list[Path], out: Path, total_frames: int) -> None:
    """Play the base episodes one after another, scaled to WxH, until ``total_frames``; the sound
    follows frame by frame (1/FPS s of audio per video frame), so picture and speech stay in sync."""
    per_frame = SR // FPS
    sounds = [base_audio(b) for b in bases]
    with av.open(str(out), "w") as dst:
        vs = dst.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"crf": "23", "preset": "veryfast"}
        aus = dst.add_stream("aac", rate=SR)
        aus.layout = "stereo"
        n = 0
        while n < total_frames:
            for base, sound in zip(bases, sounds):
                with av.open(str(base / "episode.mp4")) as src:
                    stream = src.streams.video[0]
                    stream.thread_type = "AUTO"
                    for i, frame in enumerate(src.decode(stream)):
                        if n >= total_frames:
                            break
                        big = frame.reformat(width=W, height=H, format="yuv420p", interpolation="BICUBIC")
                        big.pts, big.time_base = n, Fraction(1, FPS)
                        for packet in vs.encode(big):
                            dst.mux(packet)
                        chunk = sound[i * per_frame : (i + 1) * per_frame]
                        chunk = np.pad(chunk, (0, per_frame - len(chunk)))
                        sound_frame = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
                        sound_frame.sample_rate, sound_frame.pts, sound_frame.time_base = SR, n * per_frame, Fraction(1, SR)
                        for packet in aus.encode(sound_frame):
                            dst.mux(packet)
                        n += 1
                if n >= total_frames:
                    break
        for stream in (vs, aus):
            for packet in stream.encode():
                dst.mux(packet)


# --- decode only -----------------------------------------------------------------------------------


def decode_only(video: Path, stride: int, fps: float | None, threads: int) -> tuple[float, int]:
    """Seconds and frames to decode the video to BGR arrays at the run's sampling, as the pipeline's
    decoder does (threaded PyAV, every ``stride``-th frame or one frame per 1/``fps`` s)."""
    t0 = time.perf_counter()
    n = 0
    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        if threads:
            stream.thread_count = threads
        tb, start, next_t = stream.time_base or Fraction(1, 1), stream.start_time or 0, -1.0
        for i, frame in enumerate(c.decode(stream)):
            if fps:
                t = float((frame.pts - start) * tb) if frame.pts is not None else i / FPS
                if t < next_t - 1e-6:
                    continue
                next_t = (int(t * fps + 1e-6) + 1) / fps
            elif i % stride:
                continue
            frame.to_ndarray(format="bgr24")
            n += 1
    return time.perf_counter() - t0, n


# --- the pipeline in a child process ----------------------------------------------------------------


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants, from /proc (0 where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo, page = 0, [root], os.sysconf("SC_PAGE_SIZE")
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        todo += children.get(pid, [])
    return total


def run_pipeline(video: Path, facebank: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One `screenalytics run` in a child process: wall time, peak memory and its run.json."""
    out = work / "out"
    cmd = [sys.executable, "-m", "screenalytics", "run", str(video), "--facebank", str(facebank)]
    cmd += ["--out", str(out), "--episode-id", "bench", "--quiet"]
    cmd += ["--config", str(args.config)] if args.config else []
    cmd += ["--fps", str(args.fps)] if args.fps else ["--stride", str(args.stride)] if args.stride else []
    env = {**os.environ, "SCREENALYTICS_STORAGE__URI": str(work / "store")}
    env.setdefault("SCREENALYTICS_MODELS_DIR", str(SHARED / "models"))
    log = work / "run.log"
    peak = [0]
    with log.open("w") as sink:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env)
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss(proc.pid))
                done.wait(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)  # rusage of this child and what it waited for
        wall = time.perf_counter() - t0
        done.set()
        watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise SystemExit(f"`{' '.join(cmd)}` failed with exit code {proc.returncode}:\n{tail}")
    run = json.loads((out / "run.json").read_text())
    largest = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB on Linux
    return {"wall_s": wall, "peak_rss_bytes": max(peak[0], largest), "peak_rss_largest_process_bytes": largest, "run": run}


# --- the machine -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import onnxruntime as ort

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")
        )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    from screenalytics.cli.doctor import gpu_name

    return {
        "cpu": cpu,
        "cores": cores,
        "ram_gb": round(ram / 2**30, 1),
        "gpu": gpu_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "available_providers": ort.get_available_providers(),
    }


def describe(video: Path) -> dict[str, Any]:
    with av.open(str(video)) as c:
        v = c.streams.video[0]
        duration = float(v.duration * v.time_base) if v.duration and v.time_base else (c.duration or 0) / av.time_base
        return {
            "path": str(video),
            "width": v.width,
            "height": v.height,
            "fps": float(v.average_rate or 0),
            "duration_s": round(duration, 3),
            "size_mb": round(video.stat().st_size / 1e6, 1),
            "audio": bool(c.streams.audio),
        }


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


# --- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=None, help="Benchmark this file instead of building an episode.")
    ap.add_argument("--facebank", type=Path, default=None, help="With --video [default: the Hamilton facebank].")
    ap.add_argument("--minutes", type=float, default=60.0, help="Length of the built episode [default: 60].")
    ap.add_argument("--cache", type=Path, default=REPO / "out" / "bench", help="Where built episodes are kept.")
    ap.add_argument("--seeds", type=int, default=3, help="Different base episodes in a built episode [default: 3].")
    ap.add_argument("--segment-s", type=float, default=120.0, help="Length of each base episode, s [default: 120].")
    ap.add_argument("--repeat", type=int, default=1, help="Runs of each measurement; medians are reported.")
    ap.add_argument("--config", type=Path, default=None, help="Settings for the run (passed to `run --config`).")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--fps", type=float, default=None, help="Passed to `run --fps` (and decode only samples the same).")
    group.add_argument("--stride", type=int, default=None, help="Passed to `run --stride`.")
    ap.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = ap.parse_args(argv)
    os.environ.setdefault("SCREENALYTICS_MODELS_DIR", str(SHARED / "models"))

    from screenalytics.config import load_settings

    decode = {k: v for k, v in (("stride", args.stride), ("fps", args.fps)) if v is not None}
    settings = load_settings(args.config, **({"decode": decode} if decode else {}))  # as `run` builds them
    stride, fps = settings.decode.stride, settings.decode.fps
    if args.video:
        video = args.video
        facebank = args.facebank or REPO / "tests" / "data" / "hamilton_facebank.yaml"
    else:
        t0 = time.perf_counter()
        video, facebank = build_episode(args.minutes, args.cache, args.seeds, args.segment_s)
        print(f"episode: {video} (ready in {time.perf_counter() - t0:.0f} s)", flush=True)
    info = describe(video)
    sampling = f"{fps:g} fps" if fps else f"stride {stride}"
    print(f"video: {info['width']}x{info['height']} {info['fps']:g} fps, {info['duration_s'] / 60:.1f} min; sampling {sampling}")

    decodes, runs = [], []
    for i in range(max(1, args.repeat)):
        seconds, frames = decode_only(video, stride, fps, settings.decode.threads)
        decodes.append((seconds, frames))
        print(f"[{i + 1}] decode only: {frames} frames in {seconds:.1f} s", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-") as work:
            runs.append(run_pipeline(video, facebank, args, Path(work)))
        print(
            f"[{i + 1}] pipeline: {runs[-1]['wall_s']:.1f} s, peak RSS {runs[-1]['peak_rss_bytes'] / 2**20:.0f} MiB", flush=True
        )

    decode_s, decoded = median([s for s, _ in decodes]), decodes[0][1]
    wall = median([r["wall_s"] for r in runs])
    last = runs[-1]["run"]
    stages = sorted({k for r in runs for k in r["run"]["timings_s"]}, key=lambda k: (VISION + AUDIO + (k,)).index(k))
    timings = {k: round(median([r["run"]["timings_s"].get(k, 0.0) for r in runs]), 3) for k in stages}
    vision = sum(timings.get(k, 0.0) for k in VISION)
    frames = int(last["frames_analysed"])
    figures = {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "video": info,
        "settings": {"config": str(args.config) if args.config else None, "stride": stride, "fps": fps, "repeat": len(runs)},
        "decode_only": {
            "seconds": round(decode_s, 3),
            "frames": decoded,
            "frames_per_s": round(decoded / decode_s, 1) if decode_s else None,
            "runs_s": [round(s, 3) for s, _ in decodes],
        },
        "pipeline": {
            "wall_s": round(wall, 3),
            "frames_analysed": frames,
            "frames_per_s": round(frames / wall, 1) if wall else None,
            "real_time_factor": round(wall / info["duration_s"], 4) if info["duration_s"] else None,
            "peak_rss_mb": round(max(r["peak_rss_bytes"] for r in runs) / 2**20),
            "peak_rss_largest_process_mb": round(max(r["peak_rss_largest_process_bytes"] for r in runs) / 2**20),
            "timings_s": timings,
            "vision_s": round(vision, 3),
            "runs_s": [round(r["wall_s"], 3) for r in runs],
            "audio": last.get("audio"),
        },
        "vision_to_decode": round(vision / decode_s, 2) if decode_s else None,
        "wall_to_decode": round(wall / decode_s, 2) if decode_s else None,
        "providers": last.get("providers", {}),
    }
    report(figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def report(f: dict[str, Any]) -> None:
    m, v, p, d = f["machine"], f["video"], f["pipeline"], f["decode_only"]
    print(f"\n{f['date']}  {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, GPU: {m['gpu'] or 'none'}")
    print(f"python {m['python']}, onnxruntime {m['onnxruntime']} ({', '.join(m['available_providers'])})")
    print(f"video: {v['path']} {v['width']}x{v['height']} {v['fps']:g} fps {v['duration_s']:.0f} s")
    print(f"\n{'stage':<12}{'seconds':>10}{'frames/s':>10}{'share':>8}")
    for stage, seconds in p["timings_s"].items():
        rate = f"{p['frames_analysed'] / seconds:.0f}" if stage in VISION and seconds > 0 else "-"
        print(f"{stage:<12}{seconds:>10.1f}{rate:>10}{seconds / p['wall_s']:>8.0%}")
    print(f"{'wall':<12}{p['wall_s']:>10.1f}{p['frames_per_s']:>10.1f}")
    print(
        f"\ndecode only: {d['frames']} frames in {d['seconds']:.1f} s ({d['frames_per_s']} frames/s)\n"
        f"pipeline: {p['frames_analysed']} frames in {p['wall_s']:.1f} s ({p['frames_per_s']} frames/s), "
        f"real-time factor {p['real_time_factor']:.3f}, peak RSS {p['peak_rss_mb']} MiB "
        f"(largest process {p['peak_rss_largest_process_mb']} MiB)\n"
        f"vision stages / decode only: {f['vision_to_decode']}x; wall / decode only: {f['wall_to_decode']}x"
    )
    ran = "; ".join(
        f"{name} on {info['used'][0] if info['used'] else '?'}"
        + ("" if info["runtime"] == "onnxruntime" else f" ({info['runtime']})")
        for name, info in f["providers"].items()
    )
    print(f"models: {ran or 'not reported'}")


if __name__ == "__main__":
    main()
