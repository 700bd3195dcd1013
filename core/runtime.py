"""onnxruntime sessions with the configured execution providers (CUDA when present)."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from screenalytics.config import RuntimeConfig


def providers(cfg: RuntimeConfig) -> list[str]:
    """The configured providers that this onnxruntime build has, in the configured order."""
    available = set(ort.get_available_providers())
    chosen = [p for p in cfg.providers if p in available]
    return chosen or ["CPUExecutionProvider"]


def session(path: Path, cfg: RuntimeConfig) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    if cfg.intra_op_threads:
        opts.intra_op_num_threads = cfg.intra_op_threads
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers(cfg))
