"""The device's bundle loader and classifier: a good bundle loads and scores; a corrupted or
mismatched one is refused with a message naming the field; the device never needs TensorFlow."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_train import toy_sequence  # the toy motion generator (tests/ is on sys.path)

from formcheck.device.judging.bundle import (
    Bundle,
    BundleError,
    TensorInfo,
    conditions_for,
    default_bundle_dir,
    load_bundle,
    load_bundles,
    load_default_bundles,
    sha256_hex,
    write_bundle,
)
from formcheck.device.judging.classifier import Classifier, TFLiteModel, interpreter_class
from formcheck.device.judging.features import FeatureSpec

NAME = "squat-conditions"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A real int8 bundle of an (untrained, seeded) production CNN, plus its windows."""
    import keras

    from formcheck.convert.quantize import convert_for_device
    from formcheck.train.data import build_windows
    from formcheck.train.models import build_model

    keras.utils.set_random_seed(0)
    spec = FeatureSpec(window_mode="rep")
    rng = np.random.default_rng(0)
    ws = build_windows([toy_sequence(i, "squat", lean=i % 2 == 0, rng=rng) for i in range(6)], spec,
                       "conditions", "squat")
    flat = ws.X.reshape(-1, ws.X.shape[-1])
    model = build_model("prod", spec.window, spec.num_features, "conditions", ws.space.k,
                        norm=(flat.mean(0), flat.var(0)))
    dm = convert_for_device(model, "int8", ws.X)
    data = dm.model_bytes
    lite = TFLiteModel(data)
    conds = conditions_for("squat")
    b = Bundle(name=NAME, task="conditions", exercise="squat", labels=tuple(c.key for c in conds),
               conditions=conds, spec=spec,
               input=TensorInfo("int8", (-1, spec.window, spec.num_features), lite.input.scale,
                                lite.input.zero_point),
               output=TensorInfo("int8", (-1, len(conds)), lite.output.scale, lite.output.zero_point),
               quantization="int8", threshold=0.5, sha256=sha256_hex(data), model_bytes=data,
               training_data={"datasets": ["toy"]}, metrics={"keras": {"f1": 0.5}},
               standardize=dm.standardize)
    d = tmp_path_factory.mktemp("bundle")
    write_bundle(b, d)
    return d, model, ws.X


@pytest.fixture
def bundle_dir(made, tmp_path) -> Path:
    d = tmp_path / "b"
    shutil.copytree(made[0], d)
    return d


def _edit(d: Path, fn) -> Path:
    p = d / f"{NAME}.json"
    meta = json.loads(p.read_text())
    fn(meta)
    p.write_text(json.dumps(meta, ensure_ascii=False))
    return p


def _set_model(d: Path, data: bytes, update_sha: bool) -> Path:
    (d / f"{NAME}.tflite").write_bytes(data)
    if update_sha:
        return _edit(d, lambda m: m.update(sha256=sha256_hex(data)))
    return d / f"{NAME}.json"


def test_bundle_round_trip_and_classifier_matches_keras(made, bundle_dir):
    _, model, X = made
    b = load_bundle(bundle_dir / f"{NAME}.json")
    assert (b.task, b.exercise, b.quantization) == ("conditions", "squat", "int8")
    assert b.spec == FeatureSpec(window_mode="rep")
    assert b.condition("heels_down").cue == "keep heels down" and b.condition("heels_down").name == "발바닥 지면 고정"
    assert load_bundle(bundle_dir / f"{NAME}.tflite").sha256 == b.sha256  # either file names the bundle
    clf = Classifier(b)
    assert clf.bundle is b and clf.spec is b.spec
    p = clf.predict(X)
    assert p.dtype == np.float32 and p.shape == (len(X), b.num_outputs)
    assert ((p >= 0) & (p <= 1)).all()
    # int8 quantisation is handled inside: probabilities agree with the float Keras model
    np.testing.assert_allclose(p, np.asarray(model(X, training=False)), atol=0.05)
    np.testing.assert_allclose(clf.predict(X[0]), p[:1], atol=1e-6)  # one window, batch of one
    with pytest.raises(ValueError, match=r"expects \(N, 15, 44\)"):
        clf.predict(np.zeros((2, 10, 44), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.full((1, 15, 44), np.nan, np.float32))


def _flip_middle(data: bytes) -> bytes:
    b = bytearray(data)
    b[64:len(b) - 64] = bytes(len(b) - 128)
    return bytes(b)


REFUSALS = {
    "corrupt tflite, old sha256": (lambda d, data: _set_model(d, _flip_middle(data), False), r"'sha256'"),
    "corrupt tflite, matching sha256": (lambda d, data: _set_model(d, _flip_middle(data), True),
                                        r"'model_file'.*corrupt"),
    "truncated tflite": (lambda d, data: _set_model(d, data[: len(data) // 2], True), r"'model_file'"),
    "not a tflite": (lambda d, data: _set_model(d, b"hello world, not a model", True), r"'model_file'"),
    "missing tflite": (lambda d, data: (d / f"{NAME}.tflite").unlink(), r"'model_file'"),
    "unknown spec version": (lambda d, data: _edit(d, lambda m: m["feature_spec"].update(version=2)),
                             r"'feature_spec'.*'version'"),
    "unknown spec field": (lambda d, data: _edit(d, lambda m: m["feature_spec"].update(fps=3)),
                           r"'feature_spec'.*'fps'"),
    "feature-count mismatch": (lambda d, data: _edit(d, lambda m: m["feature_spec"].update(
        feature_set="landmarks")), r"'input.shape'.*feature count mismatch"),
    "window mismatch": (lambda d, data: _edit(d, lambda m: m["feature_spec"].update(window=20)),
                        r"'input.shape'.*window=20"),
    "tensor/metadata mismatch": (lambda d, data: _edit(d, lambda m: m.update(
        input={**m["input"], "shape": [-1, 15, 34]},
        feature_spec={**m["feature_spec"], "feature_set": "landmarks"},
        input_standardization={**m["input_standardization"], "mean": m["input_standardization"]["mean"][:34],
                               "std": m["input_standardization"]["std"][:34]})),
                                 r"'input.shape'.*model's input tensor is \[1, 15, 44\]"),
    "dtype mismatch": (lambda d, data: _edit(d, lambda m: m["input"].update(dtype="float32")),
                       r"'input.dtype'"),
    "quantisation mismatch": (lambda d, data: _edit(d, lambda m: m["input"].update(scale=0.5)),
                              r"'input.scale'"),
    "standardisation length": (lambda d, data: _edit(d, lambda m: m["input_standardization"]["std"].pop()),
                               r"'input_standardization'.*feature count mismatch"),
    "standardisation zero std": (lambda d, data: _edit(d, lambda m: m["input_standardization"]["std"].__setitem__(
        0, 0.0)), r"'input_standardization'.*std > 0"),
    "standardisation clip": (lambda d, data: _edit(d, lambda m: m["input_standardization"].update(clip=-1)),
                             r"'input_standardization.clip'"),
    "unknown exercise": (lambda d, data: _edit(d, lambda m: m.update(exercise="bench_press")),
                         r"'exercise'.*bench_press"),
    "unknown task": (lambda d, data: _edit(d, lambda m: m.update(task="pose")), r"'task'"),
    "unknown condition": (lambda d, data: _edit(d, lambda m: m["conditions"][0].update(key="smile")),
                          r"'conditions\[0\].key'"),
    "labels vs outputs": (lambda d, data: _edit(d, lambda m: (m["labels"].pop(), m["conditions"].pop())),
                          r"'output.shape'"),
    "unknown format version": (lambda d, data: _edit(d, lambda m: m.update(format_version=99)),
                               r"'format_version'"),
    "bad threshold": (lambda d, data: _edit(d, lambda m: m.update(threshold=1.5)), r"'threshold'"),
    # numbers JSON can hold but the device cannot: found by tests/test_fuzz.py
    "threshold too large for a float": (lambda d, data: _edit(d, lambda m: m.update(threshold=10**400)),
                                        r"'threshold'"),
    "landmark id not whole": (lambda d, data: _edit(d, lambda m: m["feature_spec"]["landmarks"].__setitem__(0, 1.5)),
                              r"'feature_spec'.*not a whole number"),
    "landmark id infinite": (lambda d, data: _edit(d, lambda m: m["feature_spec"]["landmarks"].__setitem__(
        0, float("inf"))), r"'feature_spec'.*not a whole number"),
    "standardisation beyond float32": (lambda d, data: _edit(d, lambda m: m["input_standardization"]["mean"].__setitem__(
        0, 1e308)), r"'input_standardization'.*float32"),
    "standardisation clip too large": (lambda d, data: _edit(d, lambda m: m["input_standardization"].update(
        clip=10**400)), r"'input_standardization.clip'"),
    "corrupt json": (lambda d, data: (d / f"{NAME}.json").write_text('{"format": "formcheck-bun'),
                     r"not JSON"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_loader_refuses_bad_bundles_naming_the_field(made, bundle_dir, case):
    mutate, pattern = REFUSALS[case]
    data = (bundle_dir / f"{NAME}.tflite").read_bytes()
    mutate(bundle_dir, data)
    with pytest.raises(BundleError, match=pattern) as e:
        load_bundle(bundle_dir / f"{NAME}.json")
    assert str(bundle_dir) in str(e.value)  # and the file


def test_load_bundles_skips_a_bad_one_and_keeps_the_good(made, bundle_dir, caplog):
    meta = json.loads((bundle_dir / f"{NAME}.json").read_text())
    meta.update(name="broken", sha256="0" * 64)  # a sidecar whose model is not the one it names
    (bundle_dir / "broken.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.ERROR):
        got = load_bundles(bundle_dir)
    assert [b.name for b in got] == [NAME]
    assert "broken.json" in caplog.text and "'sha256'" in caplog.text


def test_default_bundles_are_in_the_package_and_all_valid():
    import formcheck.device

    d = default_bundle_dir()
    assert d == Path(formcheck.device.__file__).resolve().parent / "models"
    shipped = sorted(d.glob("*.json"))
    got = load_default_bundles()
    assert len(got) == len(shipped), "a shipped bundle fails to load"
    for b in got:
        assert b.size_bytes <= 64 * 1024
        Classifier(b).predict(np.zeros((1, b.spec.window, b.spec.num_features), np.float32))


def test_device_side_runs_without_tensorflow(bundle_dir):
    code = (
        "import sys, numpy as np\n"
        "from formcheck.device.judging.bundle import load_bundle\n"
        "from formcheck.device.judging.classifier import Classifier, interpreter_class\n"
        f"b = load_bundle({str(bundle_dir / (NAME + '.json'))!r})\n"
        "p = Classifier(b).predict(np.zeros((3, 15, 44), np.float32))\n"
        "assert p.shape == (3, 5), p.shape\n"
        "print(interpreter_class()[1], 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ai_edge_litert", "False"]


def test_interpreter_shim_falls_back_in_order(monkeypatch):
    assert interpreter_class()[1] == "ai_edge_litert"
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    assert interpreter_class()[1] == "tensorflow.lite"
