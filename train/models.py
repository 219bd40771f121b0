"""Keras 3 model builders (the paper's RNN, LSTM and 1D-CNN, and the production CNN), the
masked loss and the training loop.

The paper (JIIBC 22(5), 2022) names the layer types, not every size; the paper models here
are plain versions of each: two recurrent layers of 64 units (``rnn``: SimpleRNN, ``lstm``:
LSTM), or two 3-wide convolutions of 64 filters with max pooling (``cnn``), then a 64-unit
dense layer and the head.

``prod`` is ours, sized for a Pi and for int8: per-feature standardisation (kept outside
the int8 graph, see :func:`build_model`), three Conv1D (no bias) + BatchNorm + ReLU blocks (32, 48, 64 filters; the second strided) — the converter folds each BatchNorm into its
convolution, leaving Conv+ReLU ops that quantise cleanly — then global average and max
pooling (no Flatten: the parameter count does not grow with the window) and the head: ~22k
parameters, an int8 ``.tflite`` of ~30 KB. (A 16/24/32 version, ~8k parameters, scored about
0.03 macro-F1 lower on synthetic conditions and on the AI-Hub sample.)

Heads: ``form`` one sigmoid (P(correct)); ``conditions`` one sigmoid per condition
(P(condition true)), trained with :class:`MaskedBCE`, which ignores unknown (NaN) labels —
AI-Hub's ``rom`` is never trained as true or false; ``exercise`` a softmax over the nine
ids + idle.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# TensorFlow's C++ start-up chatter drowns the progress bars; keep warnings and errors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from formcheck.device.judging.bundle import Standardization
from formcheck.device.judging.features import SpecError

from .data import DataError, Split, WindowSet, class_weights, mirrored

log = logging.getLogger(__name__)

MODELS = ("rnn", "lstm", "cnn", "prod")
STD_FLOOR = 0.01  # smallest per-feature std used to standardise (feature units)
Z_CLIP = 8.0  # standardised features are clipped to ±Z_CLIP (outliers must not set the int8 step)
PAPER_MODELS = ("rnn", "lstm", "cnn")


@keras.saving.register_keras_serializable(package="formcheck")
class MaskedBCE(keras.losses.Loss):
    """Binary cross-entropy over the known labels only (NaN in ``y_true`` = unknown).

    ``neg_weight``/``pos_weight`` (one per output) weight false/true labels for class balance.
    Each window's loss is the mean over its known labels.
    """

    def __init__(self, neg_weight=None, pos_weight=None, name="masked_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.neg_weight = None if neg_weight is None else [float(v) for v in neg_weight]
        self.pos_weight = None if pos_weight is None else [float(v) for v in pos_weight]

    def call(self, y_true, y_pred):
        ops = keras.ops
        y_true = ops.cast(y_true, "float32")
        known = ops.logical_not(ops.isnan(y_true))
        mask = ops.cast(known, "float32")
        y = ops.where(known, y_true, ops.zeros_like(y_true))
        p = ops.clip(ops.cast(y_pred, "float32"), 1e-7, 1 - 1e-7)
        bce = -(y * ops.log(p) + (1 - y) * ops.log(1 - p))
        if self.pos_weight is not None:
            pw = ops.convert_to_tensor(np.asarray(self.pos_weight, np.float32))
            nw = ops.convert_to_tensor(np.asarray(self.neg_weight, np.float32))
            bce = bce * (y * pw + (1 - y) * nw)
        return ops.sum(bce * mask, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)

    def get_config(self):
        return {**super().get_config(), "neg_weight": self.neg_weight, "pos_weight": self.pos_weight}


@keras.saving.register_keras_serializable(package="formcheck")
class Clip(keras.layers.Layer):
    """``clip(x, -limit, limit)`` (Keras has no built-in clipping layer)."""

    def __init__(self, limit: float = Z_CLIP, **kwargs):
        super().__init__(**kwargs)
        self.limit = float(limit)

    def call(self, x):
        return keras.ops.clip(x, -self.limit, self.limit)

    def get_config(self):
        return {**super().get_config(), "limit": self.limit}


# ---- builders ------------------------------------------------------------------------------

def _head(x, task: str, k: int):
    if task == "exercise":
        return keras.layers.Dense(k, activation="softmax", name="exercise")(x)
    return keras.layers.Dense(k, activation="sigmoid", name=task)(x)


# prod: (filters, kernel, stride) per Conv1D block, and the dropout before the head
PROD_BLOCKS: tuple[tuple[int, int, int], ...] = ((32, 5, 1), (48, 3, 2), (64, 3, 1))
PROD_DROPOUT = 0.2


def build_model(name: str, window: int, features: int, task: str, k: int,
                norm: tuple[np.ndarray, np.ndarray] | None = None,
                standardize: bool | None = None) -> keras.Model:
    """A model ``(N, window, features) -> (N, k)`` probabilities.

    ``standardize`` puts the per-feature standardisation (below) in front of a paper model too
    (default: ``prod`` only; ``--preset paper`` turns it on for every model).

    ``prod`` is two parts: a ``standardize`` layer (per-feature mean and variance of the
    training windows, ``norm``) and the ``core`` network. The converter keeps the
    standardisation out of the ``.tflite`` and in the bundle's metadata: the device standardises
    in float before quantising, so every feature gets the whole int8 range (raw, a feature with
    a small spread — a shrug is a few hundredths of a torso length — would fall within one
    quantisation step of the widest one).
    """
    if name not in MODELS:
        raise ValueError(f"--model: {name!r} is not one of {MODELS}")
    if standardize is None:
        standardize = name == "prod"
    L = keras.layers
    core_in = keras.Input((window, features), name="standardized" if standardize else "window")
    if name == "prod":
        x = core_in
        for filters, size, stride in PROD_BLOCKS:
            x = L.Conv1D(filters, size, strides=stride, padding="same", use_bias=False)(x)
            x = L.BatchNormalization()(x)
            x = L.ReLU()(x)
        x = L.Concatenate()([L.GlobalAveragePooling1D()(x), L.GlobalMaxPooling1D()(x)])
        x = L.Dropout(PROD_DROPOUT)(x)
    elif name == "rnn":
        x = L.SimpleRNN(64, return_sequences=True)(core_in)
        x = L.SimpleRNN(64)(x)
        x = L.Dense(64, activation="relu")(x)
        x = L.Dropout(0.3)(x)
    elif name == "lstm":
        x = L.LSTM(64, return_sequences=True)(core_in)
        x = L.LSTM(64)(x)
        x = L.Dense(64, activation="relu")(x)
        x = L.Dropout(0.3)(x)
    else:  # cnn
        x = L.Conv1D(64, 3, activation="relu")(core_in)
        x = L.Conv1D(64, 3, activation="relu")(x)
        x = L.MaxPooling1D(2)(x)
        x = L.Dropout(0.3)(x)
        x = L.Flatten()(x)
        x = L.Dense(64, activation="relu")(x)
    if not standardize:
        return keras.Model(core_in, _head(x, task, k), name=f"{name}_{task}")
    core = keras.Model(core_in, _head(x, task, k), name="core")
    inp = keras.Input((window, features), name="window")
    mean, var = norm if norm is not None else (np.zeros(features), np.ones(features))
    var = np.maximum(np.asarray(var, np.float32), STD_FLOOR ** 2)
    z = L.Normalization(axis=-1, mean=np.asarray(mean, np.float32), variance=var, name="standardize")(inp)
    z = Clip(Z_CLIP, name="standardize_clip")(z)
    return keras.Model(inp, core(z), name=f"{name}_{task}")


def split_standardizer(model: keras.Model) -> tuple[keras.Model, Standardization | None]:
    """``(core, standardization)`` for a ``prod`` model, ``(model, None)`` for the others."""
    try:
        norm = model.get_layer("standardize")
        core = model.get_layer("core")
    except ValueError:
        return model, None
    try:
        clip = float(model.get_layer("standardize_clip").limit)
    except ValueError:
        clip = None
    mean = np.asarray(keras.ops.convert_to_numpy(norm.mean), np.float32).reshape(-1)
    var = np.asarray(keras.ops.convert_to_numpy(norm.variance), np.float32).reshape(-1)
    std = np.maximum(np.sqrt(var), 1e-7).astype(np.float32)  # Keras's own floor
    return core, Standardization(mean, std, clip)


# ---- training ------------------------------------------------------------------------------

@dataclass
class TrainConfig:
    model: str = "prod"
    epochs: int = 60
    batch: int = 32
    lr: float = 1e-3
    patience: int = 12  # epochs without val-loss improvement before stopping; 0 = never stop
    seed: int = 0
    class_weight: str = "balanced"  # balanced | none
    threshold: float = 0.5
    progress: bool = True
    init: str | None = None  # a .keras model to start from (fine-tuning); same architecture
    mirror: bool = False  # add each training window's left-right mirror image (not val/test)
    standardize: bool | None = None  # per-feature standardisation in front; None: prod only

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class TrainResult:
    model: keras.Model
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    seconds: float
    params: int
    config: TrainConfig
    metrics: dict = field(default_factory=dict)  # split name -> metrics dict


class _EpochBar(keras.callbacks.Callback):
    """One tqdm bar over epochs (per-step bars would flood logs), with the latest figures."""

    def __init__(self, total: int, desc: str, enabled: bool):
        super().__init__()
        self.enabled = enabled
        self.total, self.desc, self.bar = total, desc, None

    def on_train_begin(self, logs=None):
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc=self.desc, unit="epoch", leave=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in (logs or {}).items()
                                  if k in ("loss", "val_loss", "val_f1")})

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()


class _ValF1(keras.callbacks.Callback):
    """Adds the validation macro-F1 to the logs each epoch (for learning curves)."""

    def __init__(self, val: WindowSet, threshold: float):
        super().__init__()
        self.val, self.threshold = val, threshold

    def on_epoch_end(self, epoch, logs=None):
        from .report import compute_metrics

        if logs is not None and len(self.val):
            p = predict(self.model, self.val.X)
            logs["val_f1"] = compute_metrics(self.val.space.task, self.val.y, p, self.threshold)["f1"]


class _KeepBest(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the lowest val loss and restores them when training
    ends (whether or not early stopping fired). With ``checkpoint``, the best model is also
    saved to disk — at most every ``min_interval_s`` seconds while training (saving a
    ``.keras`` file costs more than an epoch of these models) and once at the end — so an
    interrupted run still leaves its best model behind."""

    def __init__(self, checkpoint: str | Path | None = None, min_interval_s: float = 20.0):
        super().__init__()
        self.checkpoint, self.min_interval_s = checkpoint, min_interval_s

    def on_train_begin(self, logs=None):
        self.best, self.weights, self.saved = np.inf, None, True
        self.last_save = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        v = (logs or {}).get("val_loss")
        if v is not None and np.isfinite(v) and v < self.best:
            self.best, self.weights, self.saved = v, self.model.get_weights(), False
        if self.checkpoint and not self.saved and time.perf_counter() - self.last_save > self.min_interval_s:
            self._save()

    def _save(self):
        current = self.model.get_weights()
        self.model.set_weights(self.weights)
        self.model.save(self.checkpoint)
        self.model.set_weights(current)
        self.saved, self.last_save = True, time.perf_counter()

    def on_train_end(self, logs=None):
        if self.weights is not None:
            self.model.set_weights(self.weights)
            if self.checkpoint and not self.saved:
                self.model.save(self.checkpoint)


def predict(model: keras.Model, X: np.ndarray, batch: int = 2048) -> np.ndarray:
    """Probabilities for windows ``X`` (inference mode). Calls the model directly: for the
    small arrays here ``model.predict``'s per-call set-up costs ten times the computation."""
    if len(X) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    out = [np.asarray(model(X[i:i + batch], training=False), dtype=np.float32)
           for i in range(0, len(X), batch)]
    return np.concatenate(out)


def train_model(split: Split, cfg: TrainConfig, checkpoint: str | Path | None = None,
                desc: str = "") -> TrainResult:
    """Train ``cfg.model`` on ``split.train`` with early stopping on ``split.val``.

    Deterministic for a seed: seeds Python, numpy and TensorFlow and enables TF's
    deterministic ops. The returned model has the best epoch's weights (lowest val loss);
    ``checkpoint`` (a ``.keras`` path) receives the best model as training goes.
    """
    import tensorflow as tf

    keras.utils.set_random_seed(cfg.seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # older TF: determinism is best effort
        pass
    tr, va = split.train, split.val
    if cfg.mirror:
        try:
            tr = mirrored(tr)
        except SpecError as e:
            raise DataError(f"--mirror: {e}") from None
    task, k = tr.space.task, tr.space.k
    if cfg.init:  # fine-tuning: the pre-trained model, its standardisation included
        model = keras.models.load_model(cfg.init, compile=False)
        if tuple(model.input_shape[1:]) != tr.X.shape[1:] or model.output_shape[-1] != k:
            raise DataError(f"--init: {cfg.init} takes {model.input_shape} -> {model.output_shape}, "
                             f"the data gives {tr.X.shape[1:]} -> {k} outputs")
    else:
        flat = tr.X.reshape(-1, tr.X.shape[-1])
        model = build_model(cfg.model, tr.spec.window, tr.spec.num_features, task, k,
                            norm=(flat.mean(axis=0), flat.var(axis=0)), standardize=cfg.standardize)
    sample_weight = None
    if task == "exercise":
        loss = keras.losses.CategoricalCrossentropy()
        if cfg.class_weight == "balanced":
            w = class_weights(tr)
            sample_weight = w[np.argmax(tr.y, axis=1)]
    else:
        if cfg.class_weight == "balanced":
            w = class_weights(tr)
            loss = MaskedBCE(neg_weight=w[0], pos_weight=w[1])
        else:
            loss = MaskedBCE()
    model.compile(optimizer=keras.optimizers.Adam(cfg.lr), loss=loss)

    has_val = len(va) > 0
    callbacks: list = []
    if has_val:
        callbacks.append(_ValF1(va, cfg.threshold))
        if checkpoint is not None:
            Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
        callbacks.append(_KeepBest(checkpoint))
        if cfg.patience > 0:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience))
    callbacks.append(_EpochBar(cfg.epochs, desc or f"{cfg.model}/{task}", cfg.progress))

    # tf.data pipelines rather than numpy arrays: Keras rebuilds its numpy adapter every
    # epoch, which costs more than an epoch of these small models. Seeded shuffle: deterministic.
    parts = (tr.X, tr.y) if sample_weight is None else (tr.X, tr.y, sample_weight.astype(np.float32))
    train_ds = (tf.data.Dataset.from_tensor_slices(parts)
                .shuffle(len(tr.X), seed=cfg.seed, reshuffle_each_iteration=True)
                .batch(cfg.batch).prefetch(2))
    val_ds = tf.data.Dataset.from_tensor_slices((va.X, va.y)).batch(1024) if has_val else None
    t0 = time.perf_counter()
    hist = model.fit(train_ds, epochs=cfg.epochs, validation_data=val_ds, shuffle=False,
                     verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - t0
    history = {k_: [float(v) for v in vals] for k_, vals in hist.history.items()}
    if has_val and "val_loss" in history:
        best = int(np.nanargmin(history["val_loss"]))
    else:
        best = len(history.get("loss", [])) - 1
        if checkpoint is not None:
            model.save(checkpoint)
    return TrainResult(model, history, best, len(history.get("loss", [])), seconds,
                       int(model.count_params()), cfg)
