"""Training: windows and labels per task, splits, the masked loss, models, the CLI and reports.

The data here is made by :func:`toy_dataset` — simple parametric motion with a class-dependent
difference (a squat whose torso leans when ``back_neutral`` fails and that stays shallow when
``rom`` fails; a curl; standing idle) — so these tests need neither the synthetic generator
nor the AI-Hub sample. Epochs are few and models tiny: the whole file runs in well under a
minute on two shared cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from formcheck.device.exercises import EXERCISE_IDS, EXERCISES, IDLE
from formcheck.device.judging.features import FeatureSpec
from formcheck.device.sequences import LandmarkSequence, write_sequences
from formcheck.train.data import (
    DataError,
    build_windows,
    class_weights,
    jitter_spans,
    rep_spans,
    split_windows,
)
from formcheck.train.report import compute_metrics

FPS = 15.0
STAND = {
    0: (0.50, 0.20), 11: (0.44, 0.30), 12: (0.56, 0.30), 13: (0.42, 0.40), 14: (0.58, 0.40),
    15: (0.41, 0.50), 16: (0.59, 0.50), 23: (0.46, 0.55), 24: (0.54, 0.55), 25: (0.46, 0.70),
    26: (0.54, 0.70), 27: (0.46, 0.85), 28: (0.54, 0.85), 29: (0.46, 0.87), 30: (0.54, 0.87),
    31: (0.45, 0.89), 32: (0.55, 0.89),
}
UPPER = (0, 11, 12, 13, 14, 15, 16)


def toy_motion(exercise: str, n_reps: int, lean: bool, shallow: bool, rng, period=1.6, rest=0.5):
    """``(t, landmarks (T, 33, 4), reps)`` of a toy exercise; ``idle`` stands and sways."""
    total = n_reps * period + 2 * rest
    t = np.arange(0, total, 1 / FPS)
    scale = rng.uniform(0.85, 1.15)
    offset = rng.uniform(-0.08, 0.08, 2)
    base = np.zeros((33, 4), np.float32)
    base[:, 3] = 1.0
    for i in range(33):
        base[i, :2] = STAND.get(i, (0.5, 0.22))
    lm = np.repeat(base[None], len(t), axis=0)
    phase = np.clip((t - rest) / period, 0, n_reps)
    s = np.where((t > rest) & (t < rest + n_reps * period), (1 - np.cos(2 * np.pi * phase)) / 2, 0.0)
    if exercise == "squat":
        depth = 0.10 if shallow else 0.22
        lm[:, [0, 11, 12, 13, 14, 15, 16, 23, 24], 1] += (depth * s)[:, None]
        lm[:, [25, 26], 0] += np.array([-0.04, 0.04]) * s[:, None]
        lm[:, [25, 26], 1] += (0.5 * depth * s)[:, None]
        if lean:
            lm[:, UPPER, 0] += (0.09 * s)[:, None]
    elif exercise == "barbell_curl":
        lm[:, [15, 16], 1] -= (0.12 * s)[:, None]
        lm[:, [15, 16], 0] += np.array([0.03, -0.03]) * s[:, None]
        if lean:
            lm[:, UPPER, 0] -= (0.06 * s)[:, None]
    else:  # idle: sway
        lm[:, :, 0] += 0.01 * np.sin(2 * np.pi * t / 3.0)[:, None]
    lm[:, :, :2] = (lm[:, :, :2] - 0.5) * scale + 0.5 + offset
    lm[:, :, :2] += rng.normal(0, 0.003, lm[:, :, :2].shape)
    reps = [(round((rest + k * period) * FPS), round((rest + (k + 1) * period) * FPS))
            for k in range(n_reps)] if exercise != IDLE else []
    return t, lm.astype(np.float32), reps


def toy_sequence(i: int, exercise: str, lean=False, shallow=False, rng=None, origin="synthetic",
                 subject: str | None = None, n_reps=3) -> LandmarkSequence:
    rng = rng or np.random.default_rng(i)
    t, lm, reps = toy_motion(exercise, n_reps, lean, shallow, rng)
    names, values = [], []
    if exercise in EXERCISES:
        ex = EXERCISES[exercise]
        names = list(ex.condition_names)
        values = [True] * len(names)
        values[names.index("척추의 중립")] = not lean
        values[names.index("rom")] = None if origin.startswith("aihub") else not shallow
        correct = all(v for v in values if v is not None)
    else:
        correct = None
    return LandmarkSequence(
        id=f"toy-{exercise}-{i}", t=t, landmarks=lm, exercise=exercise, conditions=names,
        condition_values=values, correct=correct, origin=origin, group=f"clip{i}",
        subject=subject or f"person{i % 7}", reps=reps if origin == "synthetic" else [],
        label=IDLE if exercise == IDLE else "", image_size=(640, 480), fps=FPS,
    )


def toy_dataset(root: Path, n_per_class: int = 6, exercises=("squat",), idle: int = 0, seed=0) -> Path:
    """Write a toy dataset: per exercise ``n_per_class`` clips of each (lean, shallow) combination."""
    rng = np.random.default_rng(seed)
    i = 0
    for ex in exercises:
        for lean in (False, True):
            for shallow in (False, True):
                for _ in range(n_per_class):
                    write_sequences(root / f"{ex}-{i}.npz", [toy_sequence(i, ex, lean, shallow, rng)])
                    i += 1
    for _ in range(idle):
        write_sequences(root / f"idle-{i}.npz", [toy_sequence(i, IDLE, rng=rng)])
        i += 1
    return root


@pytest.fixture(scope="module")
def squat_dir(tmp_path_factory) -> Path:
    return toy_dataset(tmp_path_factory.mktemp("toy-squat"), n_per_class=6)


# ---- windows and labels --------------------------------------------------------------------

def test_condition_labels_rep_windows_and_unknown_rom():
    rng = np.random.default_rng(1)
    synth = [toy_sequence(i, "squat", lean=i % 2 == 1, shallow=i % 3 == 0, rng=rng) for i in range(4)]
    aihub = [toy_sequence(10 + i, "squat", lean=True, rng=rng, origin="aihub-labels", n_reps=1)
             for i in range(2)]
    spec = FeatureSpec(window_mode="rep")
    ws = build_windows(synth + aihub, spec, "conditions", "squat")
    assert ws.space.labels == tuple(c.key for c in EXERCISES["squat"].conditions)
    assert ws.X.shape[1:] == (15, spec.num_features)
    # three reps per synthetic clip; an AI-Hub clip (no rep marks) is one rep over the whole clip
    assert len(ws) == 4 * 3 + 2 * 1
    rom = ws.space.labels.index("rom")
    back = ws.space.labels.index("back_neutral")
    from_aihub = np.isin(ws.seq, [ws.sequences.index(s.id) for s in aihub])
    assert np.isnan(ws.y[from_aihub, rom]).all(), "AI-Hub's rom must stay unknown, never true/false"
    assert np.isfinite(ws.y[~from_aihub, rom]).all()
    assert (ws.y[from_aihub, back] == 0).all()
    # sliding windows: every window of a clip carries the clip's label (the paper's protocol)
    ws2 = build_windows(synth, FeatureSpec(window_mode="sliding", stride=5), "form", "squat")
    assert len(ws2) > len(synth)
    for _k, s in enumerate(synth):
        assert (ws2.y[ws2.seq == ws2.sequences.index(s.id), 0] == float(s.correct)).all()


def test_rep_windows_are_also_cut_the_way_the_station_cuts_reps():
    rng = np.random.default_rng(2)
    synth = [toy_sequence(i, "squat", lean=i % 2 == 1, rng=rng) for i in range(3)]
    aihub = [toy_sequence(10, "squat", rng=rng, origin="aihub-labels", n_reps=1)]
    spec = FeatureSpec(window_mode="rep")
    plain = build_windows(synth + aihub, spec, "conditions", "squat")
    cut = build_windows(synth + aihub, spec, "conditions", "squat", rep_jitter=2)
    # each labelled rep thrice (as labelled + two re-cuts); the AI-Hub clip is one rep, never re-cut
    assert len(plain) == 3 * 3 + 1 and len(cut) == 3 * 3 * 3 + 1
    assert cut.info["rep_jitter"] == 2
    for s in synth:
        i = cut.sequences.index(s.id)
        assert (cut.y[cut.seq == i] == plain.y[plain.seq == plain.sequences.index(s.id)][0]).all()
        spans = rep_spans(s)
        again = jitter_spans(s, spans, 2)
        assert again == jitter_spans(s, spans, 2), "re-cuts are deterministic per sequence"
        assert again[:3] == spans and len(again) == 9
        for (a, b), (a2, b2) in zip(spans * 2, again[3:], strict=True):
            d = b - a
            assert a - 0.05 * d - 1e-9 <= a2 <= a + 0.25 * d + 1e-9
            assert b - 0.25 * d - 1e-9 <= b2 <= b + 0.05 * d + 1e-9
        # the re-cut windows differ from the labelled ones: the model sees other cuts
        assert not np.allclose(cut.X[cut.seq == i][3:6], cut.X[cut.seq == i][:3])


def test_condition_never_labelled_gets_no_output():
    rng = np.random.default_rng(2)
    aihub = [toy_sequence(i, "squat", lean=i % 2 == 0, rng=rng, origin="aihub-labels", n_reps=1)
             for i in range(4)]
    ws = build_windows(aihub, FeatureSpec(window_mode="rep"), "conditions", "squat")
    assert "rom" not in ws.space.labels
    assert ws.info["unlabelled_conditions"] == ["rom"]
    assert ws.y.shape[1] == len(EXERCISES["squat"].conditions) - 1


def test_exercise_labels_and_unknown_data_errors(squat_dir):
    rng = np.random.default_rng(3)
    seqs = [toy_sequence(0, "squat", rng=rng), toy_sequence(1, "barbell_curl", rng=rng),
            toy_sequence(2, IDLE, rng=rng)]
    ws = build_windows(seqs, FeatureSpec(stride=4), "exercise")
    assert ws.space.labels == (*EXERCISE_IDS, IDLE)
    got = {ws.sequences[s]: ws.space.labels[int(np.argmax(y))] for s, y in zip(ws.seq, ws.y, strict=True)}
    assert got == {"toy-squat-0": "squat", "toy-barbell_curl-1": "barbell_curl", "toy-idle-2": IDLE}
    with pytest.raises(DataError, match="no windows"):
        build_windows(seqs, FeatureSpec(), "form", "deadlift")
    # rep mode needs rep marks: idle clips have none and are skipped, not faked
    ws_rep = build_windows(seqs, FeatureSpec(window_mode="rep"), "exercise")
    assert IDLE not in {ws_rep.space.labels[int(np.argmax(y))] for y in ws_rep.y}


def test_grouped_split_keeps_groups_apart_random_window_does_not():
    rng = np.random.default_rng(4)
    seqs = [toy_sequence(i, "squat", lean=i % 2 == 0, rng=rng) for i in range(30)]
    ws = build_windows(seqs, FeatureSpec(stride=2), "form", "squat")
    sp = split_windows(ws, "grouped", seed=0)
    parts = [set(sp.train.groups), set(sp.val.groups), set(sp.test.groups)]
    assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert len(sp.train) + len(sp.val) + len(sp.test) == len(ws)
    assert 0.7 < len(sp.train) / len(ws) < 0.9
    # both classes in the held-out part: the split balances labels across groups
    assert set(np.unique(sp.test.y)) == {0.0, 1.0}
    rw = split_windows(ws, "random-window", seed=0)
    assert set(rw.train.groups) & set(rw.test.groups), "random-window mixes clips across train/test"
    assert abs(len(rw.test) - 0.1 * len(ws)) <= 1
    # determinism
    sp2 = split_windows(ws, "grouped", seed=0)
    assert set(sp2.test.groups) == parts[2]
    with pytest.raises(DataError, match="at least 3 groups"):
        split_windows(ws.subset(np.nonzero(np.isin(ws.groups, list(parts[2])[:1] + list(parts[1])[:1]))[0]),
                      "grouped")


def test_class_weights_balance_each_condition():
    rng = np.random.default_rng(5)
    seqs = [toy_sequence(i, "squat", lean=i < 2, shallow=i % 2 == 0, rng=rng) for i in range(10)]
    ws = build_windows(seqs, FeatureSpec(window_mode="rep"), "conditions", "squat")
    w = class_weights(ws)
    back = ws.space.labels.index("back_neutral")
    pos = np.sum(ws.y[:, back] == 1)
    neg = np.sum(ws.y[:, back] == 0)
    # weighted, both classes carry the same total weight
    assert w[1, back] * pos == pytest.approx(w[0, back] * neg)
    assert w[0, back] > w[1, back]  # the rare fault is up-weighted


# ---- loss, models, metrics -----------------------------------------------------------------

def test_masked_loss_ignores_unknown_labels():
    from formcheck.train.models import MaskedBCE

    y = np.array([[1.0, np.nan, 0.0], [0.0, 1.0, np.nan]], np.float32)
    p = np.array([[0.9, 0.2, 0.3], [0.4, 0.7, 0.5]], np.float32)
    loss = MaskedBCE(reduction=None)
    got = np.asarray(loss(y, p))
    exp0 = -(np.log(0.9) + np.log(0.7)) / 2
    exp1 = -(np.log(0.6) + np.log(0.7)) / 2
    np.testing.assert_allclose(got, [exp0, exp1], rtol=1e-5)
    p2 = p.copy()
    p2[0, 1], p2[1, 2] = 0.999, 0.001  # predictions at unknown labels do not matter
    np.testing.assert_allclose(np.asarray(loss(y, p2)), got, rtol=1e-6)
    weighted = MaskedBCE(neg_weight=[2, 1, 1], pos_weight=[1, 1, 1], reduction=None)
    assert float(np.asarray(weighted(y, p))[1]) > float(got[1])


@pytest.mark.parametrize("name", ["rnn", "lstm", "cnn", "prod"])
def test_model_builders(name):
    from formcheck.train.models import build_model

    for task, k in (("form", 1), ("conditions", 5), ("exercise", 10)):
        m = build_model(name, 15, 44, task, k)
        x = np.random.default_rng(0).normal(size=(3, 15, 44)).astype(np.float32)
        p = np.asarray(m(x))
        assert p.shape == (3, k)
        assert ((p >= 0) & (p <= 1)).all()
        if task == "exercise":
            np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    if name == "prod":
        assert m.count_params() < 30_000  # Pi-sized: ~30 KB as int8


def test_metrics_macro_f1_is_honest_about_majority_guessing():
    y = np.array([[1]] * 5 + [[0]] * 95, np.float32)
    always_wrong_class = np.zeros_like(y)
    m = compute_metrics("form", y, always_wrong_class)
    assert m["accuracy"] == pytest.approx(0.95)
    assert m["f1"] < 0.5  # a majority guess is not a good model
    perfect = compute_metrics("form", y, y)
    assert perfect["f1"] == 1.0 and perfect["confusion"] == [[95, 0], [0, 5]]
    yc = np.array([[1, np.nan], [0, np.nan], [1, 1]], np.float32)
    mc = compute_metrics("conditions", yc, np.array([[0.9, 0.1], [0.2, 0.9], [0.8, 0.2]]), labels=("a", "b"))
    assert mc["per_label"]["a"]["f1"] == 1.0 and mc["per_label"]["b"]["n"] == 1
    assert mc["accuracy"] == pytest.approx(3 / 4)


# ---- the CLI: training, reports, determinism -----------------------------------------------

def test_fit_conditions_learns_faults_and_writes_report(squat_dir, tmp_path):
    from formcheck.train.cli import main

    out = tmp_path / "run"
    rc = main(["--data", str(squat_dir), "--task", "conditions", "--exercise", "squat", "--window-mode",
               "rep", "--epochs", "60", "--patience", "15", "--batch", "16", "--lr", "5e-3", "-q", "-o", str(out)])
    assert rc == 0
    run = json.loads((out / "run.json").read_text())
    test = run["metrics"]["test"]
    # the two conditions that vary in the toy data are learnt on held-out clips
    assert test["per_label"]["back_neutral"]["f1"] >= 0.8, test["per_label"]
    assert test["per_label"]["rom"]["f1"] >= 0.8, test["per_label"]
    assert run["split"]["kind"] == "grouped"
    for f in ("model.keras", "heldout.npz", "representative.npz", "report.md", "learning_curves.png",
              "condition_f1.png"):
        assert (out / f).is_file(), f
    report = (out / "report.md").read_text()
    assert "back_neutral" in report and "척추의 중립" in report
    assert len(run["history"]["val_f1"]) == run["epochs_run"]


def test_training_is_deterministic_for_a_seed(squat_dir):
    from formcheck.train.data import load_sequences
    from formcheck.train.models import TrainConfig, predict
    from formcheck.train.runs import fit_one

    seqs = load_sequences(squat_dir)
    ws = build_windows(seqs, FeatureSpec(window_mode="rep"), "form", "squat")
    cfg = TrainConfig(epochs=3, patience=0, seed=7, progress=False)
    a = fit_one(ws, cfg, "grouped", "group", None, {})
    b = fit_one(ws, cfg, "grouped", "group", None, {})
    np.testing.assert_array_equal(predict(a["_model"], ws.X), predict(b["_model"], ws.X))
    assert a["history"]["loss"] == b["history"]["loss"]


def test_mirror_teaches_the_other_side(tmp_path):
    """Faulty reps that lean only one way in training: with --mirror the model also catches the
    lean the other way (every AI-Hub condition is the same fault on either side)."""
    from formcheck.device.judging.features import mirror_features
    from formcheck.train.data import load_sequences, mirrored
    from formcheck.train.models import TrainConfig, predict
    from formcheck.train.runs import fit_one

    d = toy_dataset(tmp_path / "data", n_per_class=6, seed=3)
    ws = build_windows(load_sequences(d), FeatureSpec(window_mode="rep"), "conditions", "squat")
    both = mirrored(ws)
    assert len(both) == 2 * len(ws) and both.info["mirrored"]
    np.testing.assert_array_equal(both.y[len(ws):], ws.y)
    cfg = TrainConfig(epochs=60, patience=15, batch=16, lr=5e-3, seed=0, progress=False, mirror=True)
    run = fit_one(ws, cfg, "grouped", "group", None, {})
    test = run["_split"].test
    j = list(ws.space.labels).index("back_neutral")
    p = predict(run["_model"], mirror_features(test.X, ws.spec))[:, j]
    f1 = compute_metrics("conditions", test.y[:, [j]], p[:, None], 0.5, ("back_neutral",))["f1"]
    assert f1 >= 0.8, f1


def test_exercise_recogniser(tmp_path):
    from formcheck.train.cli import main

    d = toy_dataset(tmp_path / "data", n_per_class=2, exercises=("squat", "barbell_curl"), idle=6)
    out = tmp_path / "rec"
    assert main(["fit", "--data", str(d), "--task", "exercise", "--stride", "3", "--epochs", "25",
                 "--lr", "3e-3", "-q", "-o", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["labels"] == [*EXERCISE_IDS, IDLE]
    assert run["metrics"]["test"]["accuracy"] >= 0.85, run["metrics"]["test"]
    assert (out / "confusion.png").is_file()


def test_compare_writes_paper_tables_with_both_splits(squat_dir, tmp_path):
    from formcheck.train.cli import main

    out = tmp_path / "cmp"
    rc = main(["compare", "--data", str(squat_dir), "--exercise", "squat", "--models", "cnn,prod",
               "--feature-sets", "landmarks+angles", "--epochs", "2", "--stride", "3", "--seeds", "2",
               "-q", "-o", str(out)])
    assert rc == 0
    report = (out / "report.md").read_text()
    assert "1D-CNN — per exercise" in report and "production CNN — per exercise" in report
    assert "random-window: landmarks+angles acc" in report and "grouped: landmarks+angles acc" in report
    assert "2 seeds (0–1" in report and "mean ± sd over seeds" in report
    data = json.loads((out / "compare.json").read_text())
    rows = data["rows"]
    assert data["meta"]["seeds"] == [0, 1]
    # every cell once per seed; within a seed all models share one split (paired comparison)
    assert sorted((r["model"], r["split"], r["seed"]) for r in rows) == sorted(
        (m, s, k) for m in ("cnn", "prod") for s in ("random-window", "grouped") for k in (0, 1))
    runs = out / "runs" / "squat"
    split = {d.name: json.loads((d / "run.json").read_text())["split"] for d in runs.iterdir()}
    for sp in ("random-window", "grouped"):
        assert split[f"cnn-landmarks+angles-{sp}-seed0"] == split[f"prod-landmarks+angles-{sp}-seed0"]
    assert [split[f"cnn-landmarks+angles-grouped-seed{k}"]["seed"] for k in (0, 1)] == [0, 1]
    assert (out / "compare_f1.png").is_file()
    assert main(["compare", "--data", str(squat_dir), "--seeds", "0", "-o", str(tmp_path / "x")]) == 2


def test_paper_preset_trains_fixed_epochs():
    """The paper trains a fixed 100 epochs: its preset must not stop early (explicit flags win)."""
    from formcheck.train.cli import build_parser, make_config, make_spec, resolve

    args = resolve(build_parser().parse_args(["compare", "--data", "d", "--preset", "paper", "-o", "o"]))
    assert (args.epochs, args.batch, args.lr, args.window, args.patience) == (100, 32, 1e-3, 15, 0)
    assert (args.normalisation, args.window_mode, args.angle_unit) == ("none", "sliding", "degrees")
    assert make_spec(args).angle_unit == "degrees"
    assert make_config(args, "cnn").standardize is True
    args = resolve(build_parser().parse_args(["fit", "--data", "d", "--preset", "paper", "--patience", "5",
                                              "--no-standardize", "-o", "o"]))
    assert args.patience == 5 and args.split == "random-window"
    assert make_config(args).standardize is False


def _cmp_rows(scores: dict) -> list[dict]:
    """compare rows for scores {(model, seed): [F1 per exercise]}."""
    return [{"exercise": f"ex{i}", "model": m, "features": "landmarks", "split": "random-window", "seed": k,
             "accuracy": f1, "f1": f1, "n_test": 50, "one_class_test": False, "seconds": 1.0, "epochs": 1}
            for (m, k), f1s in scores.items() for i, f1 in enumerate(f1s)]


def test_ordering_counts_seed_noise_as_a_tie(tmp_path):
    from formcheck.train.report import paired_order, write_compare_report

    meta = {"task": "form", "epochs": 100, "patience": 0}
    # clear, consistent gaps over three seeds: the paper's ordering
    clear = {("rnn", k): [0.50 + d, 0.52 + d] for k, d in enumerate((0.0, 0.01, -0.01))}
    clear |= {("lstm", k): [0.70 + d, 0.72 + d] for k, d in enumerate((0.01, 0.0, 0.0))}
    clear |= {("cnn", k): [0.90 + d, 0.88 + d] for k, d in enumerate((0.0, -0.01, 0.01))}
    report = write_compare_report(tmp_path / "a", _cmp_rows(clear), meta).read_text()
    assert "**RNN < LSTM < CNN** — matches" in report and "3 seeds" in report
    # LSTM ahead of RNN on average but not consistently across seeds: a tie, not an ordering
    noisy = dict(clear)
    noisy |= {("rnn", 0): [0.40, 0.40], ("rnn", 1): [0.70, 0.70], ("rnn", 2): [0.55, 0.55]}
    report = write_compare_report(tmp_path / "b", _cmp_rows(noisy), meta).read_text()
    assert "**RNN ≈ LSTM < CNN** — does not match" in report
    assert "a fixed 100 epochs (no early stopping" in report
    assert paired_order({0: 0.5}, {0: 0.505})[0] == "≈"  # one seed: only the 0.01 rule
    assert paired_order({0: 0.5}, {0: 0.6})[0] == "<"
    assert paired_order({0: 0.6, 1: 0.7}, {0: 0.5, 1: 0.6})[0] == ">"
    assert paired_order({0: 0.5}, {1: 0.6})[0] == "?"  # no common seed, no comparison


def test_pooled_f1_scores_seeds_whose_test_split_has_one_class(tmp_path):
    """With one correct clip per exercise most seeds' test windows are all 'incorrect'; summing the
    confusion matrices over seeds still scores a model that finds the rare correct windows above one
    that always says 'incorrect' (whose macro-F1 is p / (1 + p))."""
    from formcheck.train.report import pooled_f1, write_compare_report

    def row(m, seed, cm):
        return {"exercise": "knee_up", "model": m, "features": "landmarks", "split": "random-window",
                "seed": seed, "accuracy": 0.0, "f1": 1.0, "n_test": int(np.sum(cm)),
                "one_class_test": cm[1] == [0, 0], "seconds": 1.0, "epochs": 1, "confusion": cm}

    rows = [row("rnn", 0, [[24, 0], [0, 0]]), row("rnn", 1, [[23, 0], [1, 0]]),   # always 'incorrect'
            row("cnn", 0, [[24, 0], [0, 0]]), row("cnn", 1, [[23, 0], [0, 1]])]   # finds it
    pooled = pooled_f1(rows)
    assert pooled["knee_up", "cnn", "landmarks", "random-window"] == 1.0
    assert abs(pooled["knee_up", "rnn", "landmarks", "random-window"] - (47 / 48) / (1 + 47 / 48)) < 1e-9
    assert pooled_f1([{k: v for k, v in r.items() if k != "confusion"} for r in rows]) == {}
    report = write_compare_report(tmp_path, rows, {"task": "form", "epochs": 100, "patience": 0}).read_text()
    assert "## Pooled over seeds" in report and "| 1D-CNN | 1.000 |" in report


def test_evaluate_on_other_data_and_fine_tune_with_init(squat_dir, tmp_path):
    """A model trained on 'synthetic' data scored on 'AI-Hub' clips (rom unknown there), then
    fine-tuned on them: the outputs stay the pre-trained model's, rom masked, not dropped."""
    from formcheck.train.cli import main

    pre = tmp_path / "pre"
    assert main(["--data", str(squat_dir), "--task", "conditions", "--exercise", "squat", "--window-mode", "rep",
                 "--epochs", "3", "-q", "-o", str(pre)]) == 0
    rng = np.random.default_rng(9)
    real = tmp_path / "real"
    for i in range(12):
        write_sequences(real / f"{i}.npz", [toy_sequence(100 + i, "squat", lean=i % 2 == 0, rng=rng,
                                                         origin="aihub-labels", n_reps=1)])
    assert main(["evaluate", str(pre), "--data", str(real), "-q", "-o", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert m["n"] == 12 and m["per_label"]["rom"]["n"] == 0 and m["per_label"]["back_neutral"]["n"] == 12
    ft = tmp_path / "ft"
    assert main(["fit", "--data", str(real), "--init", str(pre), "--epochs", "2", "-q", "-o", str(ft)]) == 0
    run = json.loads((ft / "run.json").read_text())
    before = json.loads((pre / "run.json").read_text())
    assert run["labels"] == before["labels"] and "rom" in run["labels"]
    assert run["feature_spec"] == before["feature_spec"] and run["data"]["pretrained_on"]
    # --init fixes the task (and the features, labels and architecture)
    assert main(["fit", "--data", str(real), "--init", str(pre), "--task", "form", "-o", str(tmp_path / "x")]) == 2


def test_evaluate_a_shipped_bundle_on_aihub_like_clips(tmp_path, capsys):
    """``evaluate`` scores what ships (the int8 bundle) as well as a run; AI-Hub clips carry a
    per-frame ``active`` flag, which the recogniser's windows must not read as exercising spans."""
    from formcheck.device.judging.bundle import default_bundle_dir
    from formcheck.train.cli import main

    rng = np.random.default_rng(3)
    real = tmp_path / "real"
    for i in range(8):
        seq = toy_sequence(200 + i, "squat", lean=i % 2 == 0, rng=rng, origin="aihub-labels", n_reps=1)
        seq.extra = {"active": [True] * len(seq.t)}
        write_sequences(real / f"{i}.npz", [seq])
    models = default_bundle_dir()
    assert main(["evaluate", str(models / "squat-conditions.json"), "--data", str(real), "-q",
                 "-o", str(tmp_path / "c.json")]) == 0
    m = json.loads((tmp_path / "c.json").read_text())["metrics"]
    assert m["n"] == 8 and m["per_label"]["rom"]["n"] == 0 and m["per_label"]["back_neutral"]["n"] == 8
    assert 0.0 <= m["f1"] <= 1.0
    assert main(["evaluate", str(models / "recogniser.json"), "--data", str(real), "-q",
                 "-o", str(tmp_path / "r.json")]) == 0
    r = json.loads((tmp_path / "r.json").read_text())["metrics"]
    assert r["n"] > 8 and r["per_label"]["squat"]["n"] == r["n"]  # every window labelled squat
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "missing.json"), "--data", str(real), "-q"]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_cli_reports_bad_input_by_option(squat_dir, tmp_path, capsys):
    from formcheck.train.cli import main

    assert main(["--data", str(tmp_path / "nope"), "-o", str(tmp_path / "x")]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["--data", str(squat_dir), "--exercise", "deadlift", "-o", str(tmp_path / "x")]) == 2
    assert "--exercise" in capsys.readouterr().err
    assert main(["--data", str(squat_dir), "--mirror", "--normalisation", "none", "--epochs", "1", "-q",
                 "-o", str(tmp_path / "x")]) == 2
    assert "--mirror: normalisation: 'none'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--data", str(squat_dir), "--model", "transformer", "-o", str(tmp_path / "x")])


# ---- real data -----------------------------------------------------------------------------

@pytest.mark.shared_data
@pytest.mark.slow
def test_conditions_on_aihub_sample_clip_grouped(aihub_sample_dir, tmp_path):
    """Condition models on the real AI-Hub sample, split by clip (all five views together)."""
    pytest.importorskip("formcheck.train.aihub")
    from formcheck.train.aihub import load_sequences as load_aihub
    from formcheck.train.models import TrainConfig
    from formcheck.train.runs import fit_one

    seqs = [s for p in sorted(aihub_sample_dir.glob("*.json")) for s in load_aihub(p)]
    results = {}
    for ex in ("barbell_curl", "side_raise"):
        ws = build_windows(seqs, FeatureSpec(), "conditions", ex)
        assert "rom" not in ws.space.labels  # AI-Hub never labels it: no output, never trained
        run = fit_one(ws, TrainConfig(epochs=80, patience=15, seed=0, progress=False), "grouped",
                      "group", None, {})
        sp = run["_split"]
        assert not set(sp.train.groups) & set(sp.test.groups)
        results[ex] = run["metrics"]["test"]["f1"]
    print("AI-Hub sample, clip-grouped condition macro-F1:", results)
    assert np.mean(list(results.values())) > 0.5


def test_recogniser_labels_the_pauses_of_an_exercise_clip_idle():
    """Standing before the first rep and resting between sets is idle, not the clip's exercise;
    windows straddling a set's edge are left out."""
    from formcheck.device.judging.features import FeatureSpec
    from formcheck.train import synth
    from formcheck.train.data import build_windows

    seq = synth.make_clip(synth.ClipSpec("squat", seed=2, index=0, fps=15, noise=0.0)).sequences[0]
    spans = seq.extra["active"]
    assert spans and seq.t[spans[0][0]] > 1.5  # the clip starts with the person standing
    spec = FeatureSpec(window_mode="sliding", stride=1)
    ws = build_windows([seq], spec, "exercise")
    labels = [ws.space.labels[i] for i in ws.y.argmax(1)]
    assert set(labels) == {"squat", "idle"}
    assert labels[0] == "idle" and labels.count("squat") > labels.count("idle")
    # every window kept lies wholly outside the sets (idle) or mostly inside one (squat)
    unlabelled = build_windows([seq], spec, "form", "squat")  # same windows, no relabelling
    assert len(ws) < len(unlabelled)


def test_recogniser_sparse_copies_see_several_reps_and_the_sets_end_in_one_window():
    """--recogniser-sparse: sped-up copies of a clip (AI-Hub's labelled frames are that far
    apart) add windows that span several reps, labelled by the same rule as real-time ones;
    the copies are the same on every run and only the exercise task's sliding windows get them."""
    from formcheck.device.judging.features import FeatureSpec
    from formcheck.train import synth
    from formcheck.train.data import SPARSE_SPEED, build_windows, sparse_copies

    seq = synth.make_clip(synth.ClipSpec("squat", seed=2, index=0, fps=15, noise=0.0)).sequences[0]
    copies = sparse_copies(seq, 3)
    speeds = [seq.t[-1] / c.t[-1] for c in copies]
    assert len(copies) == 3 and all(SPARSE_SPEED[0] <= k <= SPARSE_SPEED[1] for k in speeds)
    assert [c.t[-1] for c in sparse_copies(seq, 3)] == [c.t[-1] for c in copies]
    assert all(c.landmarks is seq.landmarks for c in copies) and sparse_copies(seq, 0) == []
    spec = FeatureSpec(window_mode="sliding", stride=1)
    real = build_windows([seq], spec, "exercise")
    both = build_windows([seq], spec, "exercise", sparse=3)
    assert len(both) > len(real) and both.info["sparse"] == 3 and real.info["sparse"] == 0
    assert np.array_equal(both.X[:len(real)], real.X)  # the real-time windows first, unchanged
    extra = [both.space.labels[i] for i in both.y[len(real):].argmax(1)]
    assert set(extra) <= {"squat", "idle"} and "squat" in extra
    # one sped-up window spans more than one rep of the clip
    assert (SPARSE_SPEED[0] * (spec.window - 1) / spec.sample_rate
            > max(seq.t[b] - seq.t[a] for a, b in seq.reps))
    assert len(build_windows([seq], FeatureSpec(window_mode="rep"), "form", "squat", sparse=3)) == len(seq.reps)


def test_standardize_makes_a_paper_model_blind_to_feature_units(squat_dir):
    """--standardize: the paper's CNN trained on the features in other units (angles x180, as
    plain degrees) learns the same model; without it, the units change what it learns."""
    import dataclasses

    from formcheck.train.data import load_sequences
    from formcheck.train.models import STD_FLOOR, TrainConfig, predict, split_standardizer
    from formcheck.train.runs import fit_one

    ws = build_windows(load_sequences(squat_dir), FeatureSpec(window_mode="rep"), "form", "squat")
    flat = ws.X.reshape(-1, ws.X.shape[-1])
    scale = np.where(flat.std(axis=0) >= 2 * STD_FLOOR, 180.0, 1.0).astype(np.float32)
    assert (scale > 1).sum() > 10
    big = dataclasses.replace(ws, X=ws.X * scale)
    preds = {}
    for standardize in (True, False):
        cfg = TrainConfig(model="cnn", epochs=4, patience=0, seed=3, progress=False, standardize=standardize)
        a = fit_one(ws, cfg, "grouped", "group", None, {})
        b = fit_one(big, cfg, "grouped", "group", None, {})
        preds[standardize] = predict(a["_model"], ws.X), predict(b["_model"], big.X)
        core, std = split_standardizer(a["_model"])
        assert (std is not None) == standardize and (core is not a["_model"]) == standardize
    np.testing.assert_allclose(*preds[True], atol=2e-3)
    assert np.abs(preds[False][0] - preds[False][1]).max() > 0.05


def test_recogniser_feet_unseen_copies_show_the_feet_as_unknown():
    """--recogniser-feet-unseen F: about F of the clips also train with the feet out of view
    (visibility 0), which a ``shins_down`` spec turns into shins drawn straight down from the
    knees, as the station does when the picture cuts the feet off; the choice of clips is the
    same on every run and other tasks get no copies."""
    from formcheck.device.judging.features import FOOT_POINTS, FeatureSpec
    from formcheck.train import synth
    from formcheck.train.data import build_windows, feet_unseen_copy

    seqs = [synth.make_clip(synth.ClipSpec("squat", seed=2, index=i, fps=15, noise=0.0)).sequences[0]
            for i in range(8)]
    picked = [s.id for s in seqs if feet_unseen_copy(s, 0.5)]
    assert 0 < len(picked) < len(seqs)  # about half, by id
    assert picked == [s.id for s in seqs if feet_unseen_copy(s, 0.5)]
    assert all(feet_unseen_copy(s, 0.0) == [] for s in seqs)
    assert all(feet_unseen_copy(s, 1.0) for s in seqs)
    (copy,) = feet_unseen_copy(seqs[0], 1.0)
    assert (copy.landmarks[:, list(FOOT_POINTS), 3] == 0).all()
    assert np.array_equal(copy.landmarks[:, :27], seqs[0].landmarks[:, :27], equal_nan=True)
    assert (seqs[0].landmarks[:, list(FOOT_POINTS), 3] > 0).any()  # the original is untouched
    spec = FeatureSpec(window_mode="sliding", stride=1, unseen_feet="shins_down")
    real = build_windows(seqs[:1], spec, "exercise")
    both = build_windows(seqs[:1], spec, "exercise", feet_unseen=1.0)
    assert len(both) == 2 * len(real) and both.info["feet_unseen"] == 1.0 and "feet_unseen" not in real.info
    assert np.array_equal(both.X[:len(real)], real.X)
    assert not np.allclose(both.X[len(real):], real.X)  # the copy's feet are drawn from the knees
    rep = FeatureSpec(window_mode="rep", unseen_feet="shins_down")
    assert len(build_windows(seqs[:1], rep, "form", "squat", feet_unseen=1.0)) == len(seqs[0].reps)
