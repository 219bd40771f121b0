"""Model bundles: a ``.tflite`` plus a sidecar ``.json`` the device can trust, read, checked
and written here; the format is in ``docs/device.md``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import litert
from ..errors import BundleError, ClassifierError
from ..exercises import EXERCISE_IDS, EXERCISES, IDLE
from .features import FeatureSpec, SpecError

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "formcheck-bundle"
BUNDLE_VERSION = 1
TASKS = ("form", "conditions", "exercise")
QUANTIZATIONS = ("int8", "float16", "float32")
DTYPES = ("int8", "uint8", "float32")
FORM_LABELS = ("correct",)
EXERCISE_LABELS = (*EXERCISE_IDS, IDLE, "other")  # exercises.OTHER: none of the nine
MAX_BUNDLE_JSON = 1 << 20  # a sidecar is a few KB; refuse to parse anything absurd


@dataclass(frozen=True)
class Standardization:
    """Per-feature ``(x - mean) / std``, then clipped to ``±clip``, in float, before the model.

    Applied before int8 quantisation, it gives each feature the same share of the input's 256
    levels; the clip keeps rare outliers (a joint far out of frame) from stretching the
    quantisation step of all the others.
    """

    mean: np.ndarray
    std: np.ndarray
    clip: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "mean", np.asarray(self.mean, np.float32).reshape(-1))
        object.__setattr__(self, "std", np.asarray(self.std, np.float32).reshape(-1))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.std
        return np.clip(z, -self.clip, self.clip) if self.clip else z

    def to_dict(self) -> dict:
        # float(str(float32)): the shortest decimal that reads back as the same float32
        return {"mean": [float(str(v)) for v in self.mean], "std": [float(str(v)) for v in self.std],
                "clip": None if self.clip is None else float(self.clip)}


@dataclass(frozen=True)
class TensorInfo:
    """A model tensor: dtype, shape (batch first, -1 = any) and affine quantisation (real =
    scale * (q - zp)); as a bundle states it, or as an interpreter reports it (then also its
    ``index``, ``name`` and ``shape_signature``, which are not part of the bundle format)."""

    dtype: str
    shape: tuple[int, ...]
    scale: float = 0.0
    zero_point: int = 0
    index: int = field(default=-1, compare=False)
    name: str = field(default="", compare=False)
    shape_signature: tuple[int, ...] = field(default=(), compare=False)

    @property
    def quantized(self) -> bool:
        return self.dtype in ("int8", "uint8")

    def to_dict(self) -> dict:
        return {"dtype": self.dtype, "shape": list(self.shape), "scale": float(self.scale),
                "zero_point": int(self.zero_point)}

    @classmethod
    def from_details(cls, d: dict) -> TensorInfo:
        """From one entry of an interpreter's ``get_input_details()``/``get_output_details()``."""
        scale, zp = d.get("quantization", (0.0, 0))
        shape = tuple(int(s) for s in d["shape"])
        return cls(np.dtype(d["dtype"]).name, shape, float(scale), int(zp), index=int(d["index"]),
                   name=str(d.get("name", "")),
                   shape_signature=tuple(int(s) for s in d.get("shape_signature", shape)))


def describe_tensors(interp) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """An interpreter's input and output tensors."""
    return ([TensorInfo.from_details(d) for d in interp.get_input_details()],
            [TensorInfo.from_details(d) for d in interp.get_output_details()])


@dataclass(frozen=True)
class ConditionInfo:
    key: str
    name: str  # AI-Hub's Korean text ("rom" for formcheck's own)
    cue: str  # English, shown when the condition is false

    def to_dict(self) -> dict:
        return {"key": self.key, "name": self.name, "cue": self.cue}


@dataclass
class Bundle:
    name: str
    task: str
    exercise: str
    labels: tuple[str, ...]
    conditions: tuple[ConditionInfo, ...]
    spec: FeatureSpec
    input: TensorInfo
    output: TensorInfo
    quantization: str
    threshold: float
    sha256: str
    model_bytes: bytes = field(repr=False)
    training_data: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    created: str = ""
    path: Path | None = None  # the .json, when loaded from disk
    format_version: int = BUNDLE_VERSION
    standardize: Standardization | None = field(default=None, repr=False)

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    @property
    def size_bytes(self) -> int:
        return len(self.model_bytes)

    def condition(self, key: str) -> ConditionInfo:
        for c in self.conditions:
            if c.key == key:
                return c
        raise KeyError(f"bundle {self.name} has no condition {key!r}")

    def metadata(self, model_file: str | None = None) -> dict:
        """The sidecar JSON object."""
        return {
            "format": BUNDLE_FORMAT,
            "format_version": self.format_version,
            "name": self.name,
            "model_file": model_file or f"{self.name}.tflite",
            "sha256": self.sha256,
            "task": self.task,
            "exercise": self.exercise,
            "labels": list(self.labels),
            "conditions": [c.to_dict() for c in self.conditions],
            "feature_spec": self.spec.to_dict(),
            "input_standardization": None if self.standardize is None else self.standardize.to_dict(),
            "input": self.input.to_dict(),
            "output": self.output.to_dict(),
            "quantization": self.quantization,
            "threshold": float(self.threshold),
            "training_data": self.training_data,
            "metrics": self.metrics,
            "created": self.created,
        }


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def conditions_for(exercise: str, keys: list[str] | None = None) -> tuple[ConditionInfo, ...]:
    """The device's own condition records for an exercise (all, or those ``keys`` in order)."""
    ex = EXERCISES[exercise]
    by_key = {c.key: c for c in ex.conditions}
    keys = list(by_key) if keys is None else keys
    return tuple(ConditionInfo(by_key[k].key, by_key[k].name, by_key[k].cue) for k in keys)


# ---- writing -------------------------------------------------------------------------------

def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; bundles are read by the station's own user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_NUMBER_LIST = re.compile(r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]")


def _dumps(meta: dict) -> str:
    """Indented JSON with lists of numbers on one line (a spec's 44 means and stds stay short)."""
    text = json.dumps(meta, indent=1, ensure_ascii=False)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def write_bundle(bundle: Bundle, directory: str | os.PathLike) -> Path:
    """Write ``NAME.tflite`` and ``NAME.json`` into ``directory``; returns the JSON path.

    The model is written first and the JSON last (each atomically), so a reader never sees a
    sidecar whose model is missing or half written.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    if sha256_hex(bundle.model_bytes) != bundle.sha256:
        raise BundleError(f"bundle {bundle.name}: field 'sha256' does not match the model bytes")
    model_path = d / f"{bundle.name}.tflite"
    json_path = d / f"{bundle.name}.json"
    _atomic_write(model_path, bundle.model_bytes)
    text = _dumps(bundle.metadata(model_path.name))
    _atomic_write(json_path, text.encode("utf-8"))
    bundle.path = json_path
    return json_path


# ---- reading and validation ----------------------------------------------------------------

def _need(meta: dict, key: str, types, where: str):
    if key not in meta:
        raise BundleError(f"{where}: missing field {key!r}")
    v = meta[key]
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
        raise BundleError(f"{where}: field {key!r} has the wrong type ({type(v).__name__})")
    return v


def _tensor_info(meta: dict, key: str, where: str) -> TensorInfo:
    t = _need(meta, key, dict, where)
    dtype = t.get("dtype")
    if dtype not in DTYPES:
        raise BundleError(f"{where}: field '{key}.dtype' is {dtype!r}, not one of {DTYPES}")
    shape = t.get("shape")
    if not isinstance(shape, list) or not all(isinstance(s, int) for s in shape):
        raise BundleError(f"{where}: field '{key}.shape' must be a list of integers")
    try:
        scale = float(t.get("scale", 0.0))
        zp = int(t.get("zero_point", 0))
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity, or beyond a float
        raise BundleError(f"{where}: field '{key}.scale'/'{key}.zero_point' must be numbers") from None
    if not math.isfinite(scale):
        raise BundleError(f"{where}: field '{key}.scale' must be finite, got {scale}")
    lo, hi = {"int8": (-128, 127), "uint8": (0, 255)}.get(dtype, (-(2**31), 2**31 - 1))
    if not lo <= zp <= hi:
        raise BundleError(f"{where}: field '{key}.zero_point' {zp!s:.20} is outside {dtype}'s {lo}..{hi}")
    if dtype in ("int8", "uint8") and not scale > 0:
        raise BundleError(f"{where}: field '{key}.scale' must be > 0 for a quantised {dtype} tensor")
    return TensorInfo(dtype, tuple(shape), scale, zp)


def _find_json(path: Path) -> Path:
    if path.suffix == ".json":
        return path
    if path.suffix == ".tflite":
        return path.with_suffix(".json")
    raise BundleError(f"{path}: a bundle is NAME.json (+ NAME.tflite beside it)")


def parse_bundle(meta: dict, model_bytes: bytes, where: str = "bundle") -> Bundle:
    """Validate sidecar metadata and the model bytes against each other and this device."""
    if not isinstance(meta, dict):
        raise BundleError(f"{where}: metadata must be a JSON object")
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{where}: field 'format' is {meta.get('format')!r}, expected {BUNDLE_FORMAT!r}")
    version = meta.get("format_version")
    if version != BUNDLE_VERSION:
        raise BundleError(f"{where}: field 'format_version': unsupported bundle version {version!r} "
                          f"(this device reads {BUNDLE_VERSION})")
    name = _need(meta, "name", str, where)
    digest = _need(meta, "sha256", str, where)
    actual = sha256_hex(model_bytes)
    if digest.lower() != actual:
        raise BundleError(f"{where}: field 'sha256' does not match the model file "
                          f"(expected {digest[:12]}…, file has {actual[:12]}…): corrupt or replaced model")

    task = _need(meta, "task", str, where)
    if task not in TASKS:
        raise BundleError(f"{where}: field 'task' is {task!r}, not one of {TASKS}")
    exercise = _need(meta, "exercise", str, where)
    labels = tuple(_need(meta, "labels", list, where))
    if not labels or not all(isinstance(s, str) for s in labels):
        raise BundleError(f"{where}: field 'labels' must be a non-empty list of strings")
    conds_meta = _need(meta, "conditions", list, where)
    conditions: tuple[ConditionInfo, ...] = ()
    if task in ("form", "conditions"):
        if exercise not in EXERCISES:
            raise BundleError(f"{where}: field 'exercise': unknown exercise {exercise!r} "
                              f"(this device knows {', '.join(EXERCISE_IDS)})")
    if task == "form" and labels != FORM_LABELS:
        raise BundleError(f"{where}: field 'labels' must be {list(FORM_LABELS)} for task 'form'")
    if task == "conditions":
        ex = EXERCISES[exercise]
        known = {c.key: c for c in ex.conditions}
        conds = []
        for i, c in enumerate(conds_meta):
            if not isinstance(c, dict) or not all(isinstance(c.get(k), str) for k in ("key", "name", "cue")):
                raise BundleError(f"{where}: field 'conditions[{i}]' needs string key, name and cue")
            dev = known.get(c["key"])
            if dev is None:
                raise BundleError(f"{where}: field 'conditions[{i}].key': {exercise} has no condition "
                                  f"{c['key']!r} on this device (known: {', '.join(known)})")
            if dev.name != c["name"].strip():
                raise BundleError(f"{where}: field 'conditions[{i}].name' is {c['name']!r}, the device "
                                  f"has {dev.name!r} for {c['key']!r}")
            conds.append(ConditionInfo(c["key"], c["name"], c["cue"]))
        conditions = tuple(conds)
        if labels != tuple(c.key for c in conditions):
            raise BundleError(f"{where}: field 'labels' must list the condition keys in output order")
    if task == "exercise":
        unknown = [s for s in labels if s not in EXERCISE_LABELS]
        if unknown:
            raise BundleError(f"{where}: field 'labels': unknown exercise {unknown[0]!r} "
                              f"(this device knows {', '.join(EXERCISE_LABELS)})")
        if exercise:
            raise BundleError(f"{where}: field 'exercise' must be empty for the recogniser")

    try:
        spec = FeatureSpec.from_dict(_need(meta, "feature_spec", dict, where))
    except SpecError as e:
        raise BundleError(f"{where}: field 'feature_spec': {e}") from None
    except TypeError as e:
        raise BundleError(f"{where}: field 'feature_spec': {e}") from None

    inp = _tensor_info(meta, "input", where)
    out = _tensor_info(meta, "output", where)
    quant = _need(meta, "quantization", str, where)
    if quant not in QUANTIZATIONS:
        raise BundleError(f"{where}: field 'quantization' is {quant!r}, not one of {QUANTIZATIONS}")
    threshold = _need(meta, "threshold", (int, float), where)
    if not 0.0 < threshold < 1.0:  # (no float(): a JSON integer may be too large for one)
        raise BundleError(f"{where}: field 'threshold' must be within (0, 1), got {threshold!r}")

    # The metadata must describe the spec the device computes...
    if len(inp.shape) != 3 or inp.shape[1] != spec.window:
        raise BundleError(f"{where}: field 'input.shape' {list(inp.shape)} does not match "
                          f"feature_spec.window={spec.window}")
    if inp.shape[2] != spec.num_features:
        raise BundleError(f"{where}: field 'input.shape' has {inp.shape[2]} features per sample; this "
                          f"device computes {spec.num_features} for the bundle's feature_spec "
                          f"(feature count mismatch)")
    if len(out.shape) != 2 or out.shape[1] != len(labels):
        raise BundleError(f"{where}: field 'output.shape' {list(out.shape)} does not match "
                          f"{len(labels)} labels")

    standardize = None
    st = meta.get("input_standardization")
    if st is not None:
        try:
            mean = np.asarray(st["mean"], np.float64)
            std = np.asarray(st["std"], np.float64)
        except (TypeError, KeyError, ValueError, OverflowError):
            raise BundleError(f"{where}: field 'input_standardization' needs numeric lists 'mean' and 'std'") from None
        if mean.shape != (spec.num_features,) or std.shape != (spec.num_features,):
            raise BundleError(f"{where}: field 'input_standardization' has {mean.size}/{std.size} values; the "
                              f"feature_spec gives {spec.num_features} features (feature count mismatch)")
        f32 = float(np.finfo(np.float32).max)  # the model's inputs are float32
        if not ((np.abs(mean) < f32).all() and (np.abs(std) < f32).all() and (std > 0).all()):
            raise BundleError(f"{where}: field 'input_standardization' must be finite (float32) with std > 0")
        clip = st.get("clip")
        if clip is not None and (not isinstance(clip, (int, float)) or isinstance(clip, bool) or not 0 < clip < f32):
            raise BundleError(f"{where}: field 'input_standardization.clip' must be a number > 0 or null")
        standardize = Standardization(mean, std, None if clip is None else float(clip))

    return Bundle(
        name=name, task=task, exercise=exercise, labels=labels, conditions=conditions, spec=spec,
        input=inp, output=out, quantization=quant, threshold=float(threshold), sha256=actual,
        model_bytes=model_bytes, training_data=meta.get("training_data") or {},
        metrics=meta.get("metrics") or {}, created=str(meta.get("created", "")),
        format_version=version, standardize=standardize,
    )


def check_tensors(bundle: Bundle, where: str = "bundle") -> None:
    """Open the model in LiteRT and compare its tensors with the metadata."""
    if len(bundle.model_bytes) < 8 or bundle.model_bytes[4:8] != b"TFL3":
        raise BundleError(f"{where}: field 'model_file': not a TFLite flatbuffer (corrupt model file)")
    try:
        interp = litert.load_interpreter(bundle.model_bytes, 1, ClassifierError)
    except ClassifierError:
        raise
    except Exception as e:  # LiteRT raises ValueError/RuntimeError for broken flatbuffers
        raise BundleError(f"{where}: field 'model_file': corrupt TFLite model ({str(e).strip()})") from None
    ins, outs = describe_tensors(interp)
    if len(ins) != 1 or len(outs) != 1:
        raise BundleError(f"{where}: field 'model_file': expected one input and one output tensor, "
                          f"found {len(ins)} and {len(outs)}")
    for key, meta_t, real in (("input", bundle.input, ins[0]), ("output", bundle.output, outs[0])):
        if real.dtype != meta_t.dtype:
            raise BundleError(f"{where}: field '{key}.dtype' says {meta_t.dtype} but the model's {key} "
                              f"tensor is {real.dtype}")
        if tuple(real.shape[1:]) != tuple(meta_t.shape[1:]):
            raise BundleError(f"{where}: field '{key}.shape' says {list(meta_t.shape)} but the model's "
                              f"{key} tensor is {list(real.shape)}")
        if real.quantized and not (np.isclose(real.scale, meta_t.scale, rtol=1e-5)
                                   and real.zero_point == meta_t.zero_point):
            raise BundleError(f"{where}: field '{key}.scale'/'{key}.zero_point' ({meta_t.scale}, "
                              f"{meta_t.zero_point}) disagree with the model ({real.scale}, {real.zero_point})")


def load_bundle(path: str | os.PathLike, check_model: bool = True) -> Bundle:
    """Load and validate a bundle from ``NAME.json`` (or ``NAME.tflite``); raises BundleError.

    ``check_model`` also opens the model in LiteRT to compare its tensors with the metadata.
    """
    json_path = _find_json(Path(path))
    where = str(json_path)
    try:
        raw = json_path.read_bytes()
    except OSError as e:
        raise BundleError(f"{where}: cannot read the bundle metadata ({e.strerror})") from None
    if len(raw) > MAX_BUNDLE_JSON:
        raise BundleError(f"{where}: metadata is {len(raw)} bytes; not a bundle sidecar")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except ValueError as e:  # not UTF-8, not JSON, or a number past Python's parsing limit
        raise BundleError(f"{where}: corrupt metadata, not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise BundleError(f"{where}: metadata must be a JSON object")
    model_file = meta.get("model_file")
    if not isinstance(model_file, str) or not model_file or Path(model_file).name != model_file:
        raise BundleError(f"{where}: field 'model_file' must be a file name beside the JSON")
    try:
        model_bytes = (json_path.parent / model_file).read_bytes()
    except OSError as e:
        raise BundleError(f"{where}: field 'model_file': cannot read {model_file} ({e.strerror})") from None
    bundle = parse_bundle(meta, model_bytes, where)
    if check_model:
        check_tensors(bundle, where)
    bundle.path = json_path
    return bundle


def default_bundle_dir() -> Path:
    """The bundles shipped inside the package (``formcheck/device/models``)."""
    return Path(__file__).resolve().parents[1] / "models"


def load_bundles(directory: str | os.PathLike, check_model: bool = True) -> list[Bundle]:
    """Every valid bundle in ``directory`` (sorted by name); bad ones are logged and skipped."""
    out = []
    for p in sorted(Path(directory).glob("*.json")):
        try:
            out.append(load_bundle(p, check_model=check_model))
        except BundleError as e:
            log.error("skipping bundle: %s", e)
    return out


def load_default_bundles(check_model: bool = True) -> list[Bundle]:
    return load_bundles(default_bundle_dir(), check_model=check_model)


def find_bundle(bundles: list[Bundle], task: str, exercise: str = "") -> Bundle | None:
    """The first bundle for ``task`` (and ``exercise``, for form/conditions)."""
    for b in bundles:
        if b.task == task and (task == "exercise" or b.exercise == exercise):
            return b
    return None
