"""onnxruntime sessions with the configured execution providers (CUDA when present)."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from screenalytics.config import RuntimeConfig
from screenalytics.errors import ModelLoadError


def providers(cfg: RuntimeConfig) -> list[str]:
    """The configured providers that this onnxruntime build has, in the configured order."""
    available = set(ort.get_available_providers())
    chosen = [p for p in cfg.providers if p in available]
    return chosen or ["CPUExecutionProvider"]


def session(model: Path | bytes, cfg: RuntimeConfig) -> ort.InferenceSession:
    """An inference session on a model file (or serialized model) with the configured providers."""
    opts = ort.SessionOptions()
    if cfg.intra_op_threads:
        opts.intra_op_num_threads = cfg.intra_op_threads
    opts.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, sess_options=opts, providers=providers(cfg))
    except Exception as e:  # onnxruntime's own types: InvalidProtobuf, Fail, NoSuchFile...
        raise ModelLoadError.of("(rewritten in memory)" if isinstance(model, bytes) else model, e) from None


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
    return model.SerializeToString()
