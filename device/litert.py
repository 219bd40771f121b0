"""The TFLite interpreter from whichever runtime is installed, for the pose backend and the
classifiers alike.

The interpreter comes from the first of ``ai_edge_litert`` (LiteRT, the current wheel),
``tflite_runtime`` (older Pi images) or ``tensorflow.lite`` (a workstation with only
TensorFlow); the device never imports TensorFlow unless the other two are missing. The
runtime is looked up on each call (not cached), so a test can swap one in.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

MISSING = "no TFLite interpreter found: pip install ai-edge-litert (or tflite-runtime)"


def interpreter_class(error: type[Exception] = RuntimeError):
    """The Interpreter class of the first available runtime, and the runtime's name.

    Raises ``error`` (the caller's own error type) saying what to install when there is none.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite_runtime"
    except ImportError:
        pass
    try:  # last resort: a workstation with TensorFlow only
        from tensorflow.lite.python.interpreter import Interpreter

        log.info("using tensorflow.lite's interpreter (install ai-edge-litert for a lighter one)")
        return Interpreter, "tensorflow.lite"
    except ImportError:
        raise error(MISSING) from None


def load_interpreter(model: str | os.PathLike | bytes, threads: int = 1,
                     error: type[Exception] = RuntimeError):
    """An allocated interpreter for a ``.tflite`` path or its bytes, using ``threads`` CPU threads.

    ``error`` is raised when no runtime is installed; a model the runtime cannot load raises
    the runtime's own ``ValueError``/``RuntimeError``.
    """
    cls, _ = interpreter_class(error)
    if isinstance(model, (bytes, bytearray, memoryview)):
        interp = cls(model_content=bytes(model), num_threads=int(threads))
    else:
        interp = cls(model_path=os.fspath(model), num_threads=int(threads))
    interp.allocate_tensors()
    return interp
