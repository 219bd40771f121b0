"""Run a bundle's model: one LiteRT interpreter per bundle, int8 quantisation handled inside.

:meth:`Classifier.predict`: float32 windows ``(N, W, F)`` in, probabilities ``(N, K)`` out in
the bundle's label order.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from .. import litert
from ..errors import ClassifierError
from .bundle import Standardization, TensorInfo, check_tensors, describe_tensors

__all__ = ["Classifier", "ClassifierError", "Standardization", "TFLiteModel", "describe_tensors"]

log = logging.getLogger(__name__)

MAX_BATCH = 1024  # windows per invoke; bounds the interpreter's arena on big offline batches




def interpreter_class():
    """The Interpreter class of the first available runtime, and the runtime's name
    (:func:`formcheck.device.litert.interpreter_class`, raising :class:`ClassifierError`)."""
    return litert.interpreter_class(ClassifierError)


def load_interpreter(model: str | os.PathLike | bytes, threads: int = 1):
    """An allocated interpreter for a ``.tflite`` path or its bytes, using ``threads`` CPU threads."""
    return litert.load_interpreter(model, threads, ClassifierError)


def quantize(x: np.ndarray, t: TensorInfo) -> np.ndarray:
    info = np.iinfo(t.dtype)
    q = np.round(x / t.scale) + t.zero_point
    return np.clip(q, info.min, info.max).astype(t.dtype)


def dequantize(q: np.ndarray, t: TensorInfo) -> np.ndarray:
    return ((q.astype(np.float32) - t.zero_point) * t.scale).astype(np.float32)


class TFLiteModel:
    """A single-input, single-output TFLite model with float32 in and out, whatever its dtypes.

    ``standardize`` (:class:`Standardization`) is applied in float before the input is
    quantised, so an int8 model spends its 256 levels on each feature's own spread.
    """

    def __init__(self, model: str | os.PathLike | bytes, threads: int = 1,
                 standardize: Standardization | None = None):
        self.interp = load_interpreter(model, threads)
        self.standardize = standardize
        ins, outs = describe_tensors(self.interp)
        if len(ins) != 1 or len(outs) != 1:
            raise ClassifierError(f"expected one input and one output tensor, found {len(ins)} and {len(outs)}")
        self.input, self.output = ins[0], outs[0]
        self._batch = self.input.shape[0]
        self._dynamic = self.input.shape_signature[0] == -1

    def _resize(self, n: int) -> None:
        if n != self._batch:
            self.interp.resize_tensor_input(self.input.index, [n, *self.input.shape[1:]])
            self.interp.allocate_tensors()
            self._batch = n

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self.input.quantized:
            x = quantize(x, self.input)
        else:
            x = x.astype(self.input.dtype, copy=False)
        self.interp.set_tensor(self.input.index, x)
        self.interp.invoke()
        y = self.interp.get_tensor(self.output.index)
        return dequantize(y, self.output) if self.output.quantized else y.astype(np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != len(self.input.shape) or tuple(x.shape[1:]) != self.input.shape[1:]:
            raise ValueError(f"input shape {x.shape} does not fit the model's input "
                             f"(N, {', '.join(map(str, self.input.shape[1:]))})")
        if not np.isfinite(x).all():
            raise ValueError("input windows contain NaN/inf; invalid samples must never reach the model")
        if self.standardize is not None:
            x = self.standardize(x)
        n = len(x)
        k = self.output.shape[1:]
        if n == 0:
            return np.zeros((0, *k), np.float32)
        if not self._dynamic:  # fixed batch: pad the last chunk
            b = self._batch
            out = []
            for i in range(0, n, b):
                chunk = x[i:i + b]
                if len(chunk) < b:
                    chunk = np.concatenate([chunk, np.repeat(chunk[-1:], b - len(chunk), axis=0)])
                out.append(self._run(chunk)[: min(b, n - i)])
            return np.concatenate(out)
        out = []
        for i in range(0, n, MAX_BATCH):
            chunk = x[i:i + MAX_BATCH]
            self._resize(len(chunk))
            out.append(self._run(chunk).copy())
        return np.concatenate(out)


class Classifier:
    """One bundle's model, ready to score windows (see the module docstring)."""

    def __init__(self, bundle, threads: int = 1):
        check_tensors(bundle, bundle.name)
        self.bundle = bundle
        self.spec = bundle.spec
        self.labels = bundle.labels
        self.model = TFLiteModel(bundle.model_bytes, threads, bundle.standardize)

    @property
    def task(self) -> str:
        return self.bundle.task

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, K)`` float32 for windows ``(N, window, num_features)``."""
        w = np.asarray(windows, dtype=np.float32)
        if w.ndim == 2:
            w = w[None]
        if w.ndim != 3 or w.shape[1:] != (self.spec.window, self.spec.num_features):
            raise ValueError(f"{self.bundle.name}: windows of shape {tuple(w.shape)}; the bundle expects "
                             f"(N, {self.spec.window}, {self.spec.num_features})")
        return self.model.predict(w)
