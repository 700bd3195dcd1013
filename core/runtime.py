"""onnxruntime sessions with the configured execution providers (CUDA when present)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import onnxruntime as ort

from screenalytics.config import RuntimeConfig
from screenalytics.errors import ModelLoadError

if TYPE_CHECKING:
    import onnx


def providers(cfg: RuntimeConfig) -> list[str]:
    """The configured providers that this onnxruntime build has, in the configured order."""
    available = set(ort.get_available_providers())
    chosen = [p for p in cfg.providers if p in available]
    return chosen or ["CPUExecutionProvider"]


# Models bigger than this are loaded from their file as they are (serialising them in memory
# would double their footprint, and protobuf cannot hold more than 2 GB).
FLUSH_MAX_BYTES = 256 * 2**20


def flush_denormals(model: onnx.ModelProto) -> int:
    """Set subnormal float32 weights to zero in place; returns how many there were.

    A weight below 1.2e-38 changes no output a float32 can show, but the CPU handles every
    multiplication by one in microcode: faceplugin-512d ships 8,938 of them, and they made it
    60 ms per face instead of 16.5 ms on one core (outputs identical).
    """
    import numpy as np
    from onnx import numpy_helper

    found = 0
    tiny = np.finfo(np.float32).tiny
    for init in model.graph.initializer:
        if init.data_type != 1 or init.data_location == 1:  # FLOAT, stored in the model itself
            continue
        weights = numpy_helper.to_array(init)
        subnormal = (weights != 0) & (np.abs(weights) < tiny)
        if subnormal.any():
            found += int(subnormal.sum())
            init.CopyFrom(numpy_helper.from_array(np.where(subnormal, np.float32(0), weights), init.name))
    return found


def _without_denormals(path: Path) -> bytes | None:
    """The model with its subnormal weights flushed, or None when it has none (load the file)."""
    import onnx

    if path.stat().st_size > FLUSH_MAX_BYTES:
        return None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # onnxruntime reports an unreadable model better
        return None
    return model.SerializeToString() if flush_denormals(model) else None


def session(model: Path | bytes, cfg: RuntimeConfig) -> ort.InferenceSession:
    """An inference session on a model file (or serialized model) with the configured providers."""
    opts = ort.SessionOptions()
    if cfg.intra_op_threads:
        opts.intra_op_num_threads = cfg.intra_op_threads
    opts.log_severity_level = 3
    label = "(rewritten in memory)" if isinstance(model, bytes) else model
    if isinstance(model, Path) and cfg.flush_denormals:
        model = _without_denormals(model) or model
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, sess_options=opts, providers=providers(cfg))
    except Exception as e:  # onnxruntime's own types: InvalidProtobuf, Fail, NoSuchFile...
        raise ModelLoadError.of(label, e) from None


def uses_gpu(cfg: RuntimeConfig) -> bool:
    return any(p != "CPUExecutionProvider" for p in providers(cfg))


def with_dynamic_batch(path: Path) -> bytes | None:
    """The model rewritten to take any batch size, or None if it cannot be.

    Exported recognizers often fix the batch at 1 and flatten with ``Reshape(x, [1, -1])``;
    marking the batch dimension symbolic and turning that 1 into 0 ("copy this dimension")
    gives identical outputs for a whole batch in one call, which is what a GPU wants.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Reshape":
            continue
        if node.input[1] not in inits:
            return None  # a computed shape: leave the model alone
        shape = numpy_helper.to_array(inits[node.input[1]])
        if shape.size and shape[0] == 1:
            fixed = np.concatenate([[0], shape[1:]]).astype(shape.dtype)
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(fixed, node.input[1]))
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = "N"
    del model.graph.value_info[:]
    flush_denormals(model)
    return model.SerializeToString()
