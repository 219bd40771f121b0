"""Conversion: int8/float16/float32 TFLite, the parity gate through the real LiteRT interpreter,
bundle writing, and the ``defaults`` regeneration command — on a tiny model trained here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_train import toy_dataset  # the toy motion generator (tests/ is on sys.path)

from formcheck.device.exercises import EXERCISES
from formcheck.device.judging.bundle import load_bundle, load_bundles, sha256_hex
from formcheck.device.judging.classifier import Classifier, TFLiteModel


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from formcheck.train.cli import main

    root = tmp_path_factory.mktemp("convert")
    data = toy_dataset(root / "data", n_per_class=6)
    out = root / "run"
    rc = main(["fit", "--data", str(data), "--task", "conditions", "--exercise", "squat", "--window-mode",
               "rep", "--epochs", "40", "--patience", "15", "--batch", "16", "--lr", "5e-3", "-q",
               "-o", str(out)])
    assert rc == 0
    return out


def _keras(run_dir):
    from formcheck.convert.cli import load_run

    run, model, X, y, rep = load_run(run_dir)
    return run, model, X, y, rep


def test_int8_bundle_passes_gate_and_loads_on_the_device(run_dir, tmp_path, capsys):
    from formcheck.convert.cli import main
    from formcheck.train.models import predict

    out = tmp_path / "bundles"
    assert main([str(run_dir), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Keras acc" in printed and "int8 acc" in printed and "PASS" in printed
    b = load_bundle(out / "squat-conditions.json")
    assert b.quantization == "int8" and b.input.dtype == "int8" and b.output.dtype == "int8"
    assert b.size_bytes <= 64 * 1024
    assert b.sha256 == sha256_hex((out / "squat-conditions.tflite").read_bytes())
    assert b.labels == tuple(c.key for c in EXERCISES["squat"].conditions)
    back = b.condition("back_neutral")
    assert back.name == "척추의 중립" and back.cue == "keep your back neutral"
    assert b.spec.window_mode == "rep" and b.spec.num_features == 44
    meta = json.loads((out / "squat-conditions.json").read_text())
    assert meta["metrics"]["keras"]["f1"] is not None and "int8" in meta["metrics"]
    assert meta["training_data"]["split"] == "grouped"
    # the device's classifier reproduces Keras on the held-out windows
    _run, model, X, _y, _ = _keras(run_dir)
    p_keras = predict(model, X)
    p_dev = Classifier(b).predict(X)
    assert p_dev.dtype == np.float32 and p_dev.shape == p_keras.shape
    assert np.max(np.abs(p_dev - p_keras)) < 0.06
    assert np.mean((p_dev >= 0.5) == (p_keras >= 0.5)) >= 0.97


@pytest.mark.parametrize("variant, tol", [("float32", 1e-5), ("float16", 5e-3)])
def test_float_variants_match_keras(run_dir, variant, tol):
    from formcheck.convert.quantize import convert_for_device
    from formcheck.train.models import predict

    _, model, X, _, _ = _keras(run_dir)
    dm = convert_for_device(model, variant)
    lite = TFLiteModel(dm.model_bytes, standardize=dm.standardize)
    assert lite.input.dtype == "float32"
    np.testing.assert_allclose(lite.predict(X), predict(model, X), atol=tol)


def test_gate_refuses_a_broken_calibration_and_writes_nothing(run_dir, tmp_path, capsys):
    """A representative dataset with a wildly wrong range ruins int8: refused.

    Calibrating on windows squeezed to a thousandth of their spread sets a quantisation step a
    thousand times too fine: every real window saturates the int8 input. (Outliers the other
    way, x1000, are absorbed by the bundle's clipped standardisation.)"""
    from formcheck.convert.cli import main

    bad = tmp_path / "bad-run"
    shutil.copytree(run_dir, bad)
    with np.load(bad / "representative.npz") as z:
        X = z["X"]
    np.savez_compressed(bad / "representative.npz", X=(X - X.mean(axis=(0, 1))) * 1e-3 + X.mean(axis=(0, 1)))
    out = tmp_path / "out"
    assert main([str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr()
    assert "FAIL" in err.out and "parity gate FAILED" in err.err and "Nothing written" in err.err
    assert not out.exists() or not any(out.iterdir())
    # --force writes it anyway (the user's explicit choice)
    assert main([str(bad), "-o", str(out), "--force"]) == 0
    assert (out / "squat-conditions.tflite").is_file()


def test_gate_catches_corrupted_weights(run_dir):
    """A conversion of damaged weights (here: scrambled) must not pass for the original."""
    import keras

    from formcheck.convert.parity import parity_check
    from formcheck.convert.quantize import convert_for_device

    run, model, X, y, rep = _keras(run_dir)
    broken = keras.models.clone_model(model)
    rng = np.random.default_rng(0)
    broken.set_weights([rng.permutation(w.ravel()).reshape(w.shape) for w in model.get_weights()])
    res = parity_check(model, convert_for_device(broken, "int8", rep), X, y, "conditions", labels=run["labels"])
    assert not res.passed
    good = parity_check(model, convert_for_device(model, "int8", rep), X, y, "conditions", labels=run["labels"])
    assert good.passed and good.loss_f1 <= 0.01


def test_incomplete_run_is_reported_by_file(run_dir, tmp_path, capsys):
    from formcheck.convert.cli import main

    bad = tmp_path / "no-heldout"
    shutil.copytree(run_dir, bad)
    (bad / "heldout.npz").unlink()
    assert main([str(bad), "-o", str(tmp_path / "o")]) == 2
    assert "heldout.npz" in capsys.readouterr().err
    assert main([str(tmp_path / "nowhere"), "-o", str(tmp_path / "o")]) == 2


def test_defaults_command_writes_loadable_bundles(tmp_path, capsys):
    """The shipped-defaults pipeline end to end, on one toy exercise + the recogniser (the
    conditions path is the one the tests above convert)."""
    from formcheck.train.cli import main

    data = toy_dataset(tmp_path / "data", n_per_class=5, exercises=("squat", "barbell_curl"), idle=6)
    out = tmp_path / "models"
    work = tmp_path / "work"
    rc = main(["defaults", "--data", str(data), "--exercises", "squat", "--tasks", "form,exercise",
               "--epochs", "8", "--patience", "5", "--candidates", "2", "--work", str(work), "-q", "-o", str(out)])
    cap = capsys.readouterr()
    printed = cap.out
    assert rc == 0, printed
    bundles = {b.name: b for b in load_bundles(out)}
    assert set(bundles) == {"squat-form", "recogniser"}
    assert all(b.quantization == "int8" and b.size_bytes <= 64 * 1024 for b in bundles.values())
    assert bundles["squat-form"].spec.window_mode == "rep"
    assert bundles["recogniser"].spec.window_mode == "sliding"
    assert "| squat-form | form |" in printed and "int8 F1" in printed
    # two candidates for the form model, one recogniser; the one shipped is the best on validation
    assert sorted(p.name for p in (work / "squat-form").iterdir()) == ["seed0", "seed1000"]
    assert [p.name for p in (work / "recogniser").iterdir()] == ["seed0"]
    val = {}
    for d in (work / "squat-form").iterdir():
        r = json.loads((d / "run.json").read_text())
        val[r["config"]["seed"]] = r["history"]["val_f1"][r["best_epoch"]]
    # the best on validation ships, unless int8 rounding failed its parity gate (said on stderr)
    shipped = bundles["squat-form"].training_data["seed"]
    best = max(val, key=lambda k: (val[k], -k))
    if shipped != best:
        assert f"squat-form: int8 parity gate failed with seed {best}" in cap.err, cap.err
    assert bundles["squat-form"].training_data["rep_jitter"] == 2  # the defaults re-cut reps
