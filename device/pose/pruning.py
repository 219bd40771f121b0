"""Drop the outputs the station never reads from a TFLite model, with the operators only they need.

The BlazePose landmark models also compute a 256×256 segmentation mask. Nothing here reads
it, and its upsampling decoder is memory-bound: it takes a large share of every invoke
(README, Benchmarks, "Pose models"). Pruning happens in memory at load time. The files on disk
stay byte-identical to their upstream releases and keep their sha256 check. The remaining
outputs are bit-for-bit the same; `tests/test_pose_litert.py` checks this on a real frame.

Pruning needs the TFLite flatbuffer schema that ``ai_edge_litert`` ships
(``schema_py_generated``, with ``flatbuffers``, one of its dependencies). Under a runtime
without it (``tflite_runtime``), the model loads whole, and the pose backend logs that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def _schema():
    try:
        import flatbuffers
        from ai_edge_litert import schema_py_generated
    except ImportError:
        return None, None
    return schema_py_generated, flatbuffers


def available() -> bool:
    """Whether this runtime can prune a model (the flatbuffer schema is importable)."""
    return _schema()[0] is not None


def without_outputs(model: bytes, drop: Callable[[Sequence[int]], bool]) -> tuple[bytes, int]:
    """``model`` with every output of its first subgraph whose shape ``drop(shape)`` accepts
    removed, together with every operator no remaining output depends on.

    Returns the new model bytes and how many operators were removed (0 and the input bytes
    unchanged when nothing matches or the schema is not available). Raises ``ValueError`` for
    bytes that are not a TFLite model.
    """
    schema, flatbuffers = _schema()
    if schema is None:
        return model, 0
    if len(model) < 8 or model[4:8] != b"TFL3":
        raise ValueError("not a TFLite flatbuffer (no TFL3 identifier)")
    m = schema.ModelT.InitFromPackedBuf(model, 0)
    sg = m.subgraphs[0]
    keep_outputs = [o for o in sg.outputs if not drop(tuple(int(d) for d in sg.tensors[o].shape))]
    if len(keep_outputs) == len(sg.outputs):
        return model, 0
    producer = {t: i for i, op in enumerate(sg.operators) for t in op.outputs}
    needed: set[int] = set()
    stack = list(keep_outputs)
    while stack:  # walk back from the kept outputs to the operators that feed them
        op_index = producer.get(stack.pop())
        if op_index is not None and op_index not in needed:
            needed.add(op_index)
            stack.extend(t for t in sg.operators[op_index].inputs if t >= 0)
    removed = len(sg.operators) - len(needed)
    sg.operators = [op for i, op in enumerate(sg.operators) if i in needed]
    sg.outputs = keep_outputs
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), removed
