"""Keras → TFLite: float32, float16 and full-integer int8 post-training quantisation.

The Keras 3 model is exported as a SavedModel with a dynamic batch dimension and converted
from there (converting a Keras 3 model's concrete function directly leaves READ_VARIABLE ops
that break calibration). int8 is *full* integer: every op, the input and the output are
int8, calibrated on a representative sample of the training windows — the model a Pi runs
fastest, and the one the parity gate (:mod:`formcheck.convert.parity`) must clear.

:func:`convert_for_device` converts what a bundle ships: for the production CNN only its
``core`` (the per-feature standardisation goes into the bundle metadata and the device applies
it in float before quantising), calibrated on standardised training windows.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from formcheck.device.judging.bundle import Standardization

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger(__name__)

VARIANTS = ("int8", "float16", "float32")


class ConvertError(RuntimeError):
    """A model cannot be converted as asked."""


def _representative(X: np.ndarray, n: int, seed: int):
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3 or len(X) == 0:
        raise ConvertError(f"int8 needs a representative dataset of windows (N, W, F); got {X.shape}")
    if not np.isfinite(X).all():
        raise ConvertError("the representative dataset contains NaN/inf")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=min(n, len(X)), replace=False)

    def gen():
        for i in idx:
            yield [X[i:i + 1]]

    return gen


def convert_keras(model, variant: str = "int8", representative: np.ndarray | None = None,
                  calibration_windows: int = 500, seed: int = 0) -> bytes:
    """Convert a Keras model ``(N, W, F) -> (N, K)`` to TFLite bytes (see VARIANTS)."""
    if variant not in VARIANTS:
        raise ConvertError(f"--quant: {variant!r} is not one of {VARIANTS}")
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="formcheck-convert-") as d:
        model.export(d, format="tf_saved_model", verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(d)
        if variant == "float16":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.target_spec.supported_types = [tf.float16]
        elif variant == "int8":
            if representative is None:
                raise ConvertError("int8 needs a representative dataset (training windows)")
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = _representative(representative, calibration_windows, seed)
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        try:
            return bytes(conv.convert())
        except Exception as e:  # the converter raises many types; give one clear error
            raise ConvertError(f"TFLite conversion ({variant}) failed: {e}") from e


@dataclass
class DeviceModel:
    """A converted model as a bundle ships it."""

    model_bytes: bytes
    variant: str
    standardize: Standardization | None  # applied in float before the model (device side)


def convert_for_device(model, variant: str = "int8", representative: np.ndarray | None = None,
                       calibration_windows: int = 500, seed: int = 0) -> DeviceModel:
    """Convert a trained model for a bundle (see the module docstring)."""
    from formcheck.train.models import split_standardizer

    core, standardize = split_standardizer(model)
    rep = representative
    if standardize is not None and rep is not None:
        rep = standardize(np.asarray(rep, np.float32)).astype(np.float32)
    return DeviceModel(convert_keras(core, variant, rep, calibration_windows, seed), variant, standardize)
