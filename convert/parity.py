"""The parity gate: a converted model must score like its Keras original on held-out windows.

Both run on the same windows — Keras in TensorFlow, the ``.tflite`` through the real LiteRT
interpreter via the device's own :class:`~formcheck.device.judging.classifier.TFLiteModel` (so the
int8 quantise/dequantise path checked here is the one the station runs). The gate fails when
the converted model loses more than ``max_loss`` macro-F1 *or* accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from formcheck.device.judging.classifier import TFLiteModel
from formcheck.train.report import compute_metrics

from .quantize import DeviceModel

DEFAULT_MAX_LOSS = 0.01


@dataclass
class ParityResult:
    task: str
    n: int
    keras: dict
    tflite: dict
    max_loss: float
    max_abs_diff: float  # largest probability difference over all windows and outputs

    @property
    def loss_f1(self) -> float:
        return _loss(self.keras["f1"], self.tflite["f1"])

    @property
    def loss_accuracy(self) -> float:
        return _loss(self.keras["accuracy"], self.tflite["accuracy"])

    @property
    def passed(self) -> bool:
        return self.loss_f1 <= self.max_loss + 1e-12 and self.loss_accuracy <= self.max_loss + 1e-12

    def summary(self, name: str = "", variant: str = "tflite") -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (f"{name:<24} {self.n:>6} windows  Keras acc {self.keras['accuracy']:.4f} F1 {self.keras['f1']:.4f}"
                f"  |  {variant} acc {self.tflite['accuracy']:.4f} F1 {self.tflite['f1']:.4f}"
                f"  |  loss acc {self.loss_accuracy:+.4f} F1 {self.loss_f1:+.4f} (max {self.max_loss})"
                f"  max|Δp| {self.max_abs_diff:.3f}  {verdict}")


def _loss(ref, got) -> float:
    """How much worse ``got`` is than ``ref``; a NaN figure where the reference had one fails."""
    if ref is None or (isinstance(ref, float) and math.isnan(ref)):
        return 0.0
    if got is None or (isinstance(got, float) and math.isnan(got)):
        return float("inf")
    return float(ref - got)


def parity_check(keras_model, converted: DeviceModel, X: np.ndarray, y: np.ndarray, task: str,
                 threshold: float = 0.5, labels=None, max_loss: float = DEFAULT_MAX_LOSS,
                 keras_prob: np.ndarray | None = None) -> ParityResult:
    """Score the Keras model and the converted model on the same raw windows ``X`` (labels ``y``);
    the converted one runs as the device runs it (standardise, quantise, LiteRT, dequantise)."""
    from formcheck.train.models import predict

    if len(X) == 0:
        raise ValueError("parity gate: no held-out windows to compare on")
    if keras_prob is None:
        keras_prob = predict(keras_model, X)
    lite_prob = TFLiteModel(converted.model_bytes, standardize=converted.standardize).predict(X)
    km = compute_metrics(task, y, keras_prob, threshold, labels)
    tm = compute_metrics(task, y, lite_prob, threshold, labels)
    diff = float(np.max(np.abs(keras_prob - lite_prob))) if keras_prob.size else 0.0
    return ParityResult(task, len(X), km, tm, float(max_loss), diff)
