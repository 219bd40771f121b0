"""Metrics and reports: ``report.md`` + PNGs for one training run and for the paper comparison.

Metrics (pure numpy, shared with the parity gate in :mod:`formcheck.convert.parity`):

- ``accuracy``: the fraction of known labels predicted right (per window for ``form`` and
  ``exercise``; per window × condition for ``conditions``).
- ``f1``: macro-F1. For a binary output, the mean of the F1 of its two classes (so a model
  that always says "incorrect" scores about 0.5, not 0.9, on AI-Hub's rare correct clips);
  for ``conditions``, the mean of that over the conditions with known labels; for
  ``exercise``, the mean over classes. A class absent from both truth and prediction is
  left out of the mean.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


# ---- metrics -------------------------------------------------------------------------------

def _f1(tp: float, fp: float, fn: float) -> float:
    d = 2 * tp + fp + fn
    return float(2 * tp / d) if d > 0 else float("nan")


def _macro_f1_from_cm(cm: np.ndarray) -> float:
    vals = []
    for c in range(len(cm)):
        tp = cm[c, c]
        fp = cm[:, c].sum() - tp
        fn = cm[c, :].sum() - tp
        if tp + fp + fn > 0:
            vals.append(_f1(tp, fp, fn))
    return float(np.mean(vals)) if vals else float("nan")


def compute_metrics(task: str, y_true: np.ndarray, prob: np.ndarray, threshold: float = 0.5,
                    labels: tuple[str, ...] | None = None) -> dict:
    """Accuracy, macro-F1, per-label figures and confusion matrices (see the module docstring)."""
    y_true = np.asarray(y_true, dtype=np.float32)
    prob = np.asarray(prob, dtype=np.float32)
    if y_true.shape != prob.shape:
        raise ValueError(f"labels {y_true.shape} and predictions {prob.shape} differ in shape")
    k = y_true.shape[1] if y_true.ndim == 2 else 1
    labels = tuple(labels) if labels else tuple(str(i) for i in range(k))
    n = len(y_true)
    if task == "exercise":
        if n == 0:
            return {"n": 0, "accuracy": float("nan"), "f1": float("nan"), "per_label": {},
                    "confusion": np.zeros((k, k), int).tolist()}
        t = np.argmax(y_true, axis=1)
        p = np.argmax(prob, axis=1)
        cm = np.zeros((k, k), np.int64)
        np.add.at(cm, (t, p), 1)
        per = {}
        for c, lab in enumerate(labels):
            tp = cm[c, c]
            per[lab] = {"f1": _f1(tp, cm[:, c].sum() - tp, cm[c, :].sum() - tp), "n": int(cm[c].sum())}
        return {"n": n, "accuracy": float(np.mean(t == p)), "f1": _macro_f1_from_cm(cm),
                "per_label": per, "confusion": cm.tolist()}
    known = np.isfinite(y_true)
    pred = prob >= threshold
    per, cms, f1s = {}, [], []
    right = total = 0
    for j, lab in enumerate(labels):
        m = known[:, j]
        t = y_true[m, j] == 1
        p = pred[m, j]
        cm = np.array([[np.sum(~t & ~p), np.sum(~t & p)], [np.sum(t & ~p), np.sum(t & p)]], np.int64)
        cms.append(cm.tolist())
        nj = int(m.sum())
        right += int(cm[0, 0] + cm[1, 1])
        total += nj
        f1 = _macro_f1_from_cm(cm) if nj else float("nan")
        if nj:
            f1s.append(f1)
        per[lab] = {"f1": f1, "accuracy": float((cm[0, 0] + cm[1, 1]) / nj) if nj else float("nan"),
                    "n": nj, "true": int(cm[1].sum()), "false": int(cm[0].sum())}
    return {
        "n": n,
        "accuracy": float(right / total) if total else float("nan"),
        "f1": float(np.mean(f1s)) if f1s else float("nan"),
        "per_label": per,
        "confusion": cms[0] if task == "form" else cms,
    }


def fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}f}"


# ---- plots ---------------------------------------------------------------------------------

def _plt():
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Korean exercise/condition names may lack a glyph in the default font: boxes, not noise.
    warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
    return plt


def plot_learning_curves(history: dict, path: Path, title: str = "") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    for key in ("loss", "val_loss"):
        if key in history:
            ax[0].plot(range(1, len(history[key]) + 1), history[key], label=key)
    ax[0].set_xlabel("epoch")
    ax[0].set_title("loss")
    ax[0].legend()
    if "val_f1" in history:
        ax[1].plot(range(1, len(history["val_f1"]) + 1), history["val_f1"], color="C2")
    ax[1].set_ylim(0, 1)
    ax[1].set_xlabel("epoch")
    ax[1].set_title("validation macro-F1")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_confusion(cm, labels, path: Path, title: str = "") -> Path:
    plt = _plt()
    cm = np.asarray(cm)
    size = max(3.0, 0.5 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(size + 0.6, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    hi = cm.max() if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > hi / 2 else "black", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_confusion_grid(cms, labels, path: Path) -> Path:
    """One false/true confusion matrix per condition, side by side in one figure."""
    plt = _plt()
    n = len(labels)
    cols = min(n, 5)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.3 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, lab, cm in zip(axes.flat, labels, cms, strict=False):
        cm = np.asarray(cm)
        ax.imshow(cm, cmap="Blues", vmin=0)
        ax.set_xticks([0, 1], ["F", "T"])
        ax.set_yticks([0, 1], ["F", "T"])
        for i in range(2):
            for j in range(2):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                        color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=8)
        ax.set_title(lab, fontsize=8)
    fig.supxlabel("predicted", fontsize=8)
    fig.supylabel("true", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_condition_f1(per_label: dict, names: dict, path: Path, title: str = "") -> Path:
    plt = _plt()
    keys = list(per_label)
    vals = [per_label[k]["f1"] if per_label[k]["n"] else 0.0 for k in keys]
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(keys) + 1.2))
    ax.barh(range(len(keys)), vals, color="C0")
    ax.set_yticks(range(len(keys)), [names.get(k, k) for k in keys])
    ax.set_xlim(0, 1)
    ax.set_xlabel("macro-F1 (held-out)")
    ax.invert_yaxis()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# ---- one run -------------------------------------------------------------------------------

def write_run_report(outdir: Path, run: dict, history: dict) -> Path:
    """``report.md`` + PNGs for one training run (``run`` is the run.json content)."""
    outdir = Path(outdir)
    task = run["task"]
    labels = run["labels"]
    name = run.get("exercise") or "recogniser"
    test = run["metrics"]["test"]
    lines = [
        f"# {name} — {task} ({run['config']['model']})",
        "",
        f"- features: `{run['feature_spec']['feature_set']}`, normalisation "
        f"`{run['feature_spec']['normalisation']}`, window {run['feature_spec']['window']} "
        f"({run['feature_spec']['window_mode']}, {run['feature_spec']['sample_rate']} Hz)",
        f"- split: `{run['split']['kind']}` (by `{run['split']['group_by']}`), seed {run['config']['seed']}; "
        f"windows train/val/test {run['split']['windows']['train']}/{run['split']['windows']['val']}/"
        f"{run['split']['windows']['test']}, groups {run['split']['groups']['train']}/"
        f"{run['split']['groups']['val']}/{run['split']['groups']['test']}",
        f"- data: {run['data'].get('datasets')} — {run['data'].get('sequences')} sequences",
        f"- model: {run['params']} parameters, {run['epochs_run']} epochs (best {run['best_epoch'] + 1}), "
        f"{run['train_seconds']:.1f} s",
        f"- class weighting: {run['config']['class_weight']}; decision threshold {run['threshold']}",
        "",
        "| split | windows | accuracy | macro-F1 |",
        "|---|---|---|---|",
    ]
    for s in ("val", "test"):
        m = run["metrics"][s]
        lines.append(f"| {s} | {m['n']} | {fmt(m['accuracy'])} | {fmt(m['f1'])} |")
    lines.append("")
    pngs = []
    p = plot_learning_curves(history, outdir / "learning_curves.png", f"{name} {task}")
    pngs.append(("learning curves", p))
    if task == "conditions":
        names = {c["key"]: f"{c['key']}" for c in run.get("conditions", [])}
        lines += ["## Per-condition (test)", "", "| condition | AI-Hub | F1 | accuracy | true/false |",
                  "|---|---|---|---|---|"]
        for c in run.get("conditions", []):
            m = test["per_label"].get(c["key"], {})
            lines.append(f"| {c['key']} | {c['name']} | {fmt(m.get('f1'))} | {fmt(m.get('accuracy'))} | "
                         f"{m.get('true', 0)}/{m.get('false', 0)} |")
        lines.append("")
        pngs.append(("per-condition F1", plot_condition_f1(test["per_label"], names,
                                                           outdir / "condition_f1.png", "per-condition F1")))
        pngs.append(("confusion per condition", plot_confusion_grid(
            test["confusion"], labels, outdir / "confusion.png")))
    elif task == "form":
        pngs.append(("confusion", plot_confusion(test["confusion"], ["incorrect", "correct"],
                                                 outdir / "confusion.png", "form (test)")))
    else:
        pngs.append(("confusion", plot_confusion(test["confusion"], labels, outdir / "confusion.png",
                                                 "exercise (test)")))
        lines += ["## Per-class (test)", "", "| class | F1 | windows |", "|---|---|---|"]
        for lab in labels:
            m = test["per_label"].get(lab, {})
            lines.append(f"| {lab} | {fmt(m.get('f1'))} | {m.get('n', 0)} |")
        lines.append("")
    lines += ["## Figures", ""] + [f"![{t}]({p.name})" for t, p in pngs]
    path = outdir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---- the paper comparison ------------------------------------------------------------------

PAPER_F1 = {"rnn": 0.49, "lstm": 0.87, "cnn": 0.98}  # the paper's overall F1 (abstract)
MODEL_NAMES = {"rnn": "RNN (SimpleRNN)", "lstm": "LSTM", "cnn": "1D-CNN", "prod": "production CNN"}
MIN_DIFF = 0.01  # F1 differences below this are a tie at these data sizes, however many seeds
# two-sided 95% quantiles of Student's t by degrees of freedom (scipy is not a dependency)
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def _mean(vals):
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else float("nan")


def _sd(vals) -> float:
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (conservative between
    table entries)."""
    if df < 1:
        return float("inf")
    keys = [k for k in _T975 if k <= df]
    return _T975[max(keys)] if df <= 30 else 1.96


def paired_order(a: dict, b: dict, min_diff: float = MIN_DIFF) -> tuple[str, float, float, int]:
    """Is ``b`` better than ``a``? Both map seed -> score; compared on their common seeds, paired
    (a seed is one split and one initialisation shared by both models).

    Returns ``(sign, mean b-a, half-width of its 95% confidence interval, seeds)``; sign is ``<``
    (b better), ``>`` (a better) or ``≈`` — a tie when the mean difference is under
    ``min_diff`` or within the interval (with one seed there is no interval: only ``min_diff``).
    """
    common = sorted(k for k in a if k in b and not math.isnan(a[k]) and not math.isnan(b[k]))
    if not common:
        return "?", float("nan"), float("nan"), 0
    d = np.array([b[k] - a[k] for k in common], dtype=np.float64)
    mean = float(d.mean())
    half = float(t975(len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
    if abs(mean) < max(min_diff, half):
        return "≈", mean, half, len(d)
    return ("<" if mean > 0 else ">"), mean, half, len(d)


def _fmt_sd(mean: float, sd: float) -> str:
    return fmt(mean) if math.isnan(sd) else f"{fmt(mean)} ± {sd:.3f}"


def pooled_f1(rows: list[dict]) -> dict:
    """Macro-F1 of the test confusion matrices summed over seeds, per (exercise, model,
    features, split), for rows that carry a 2x2 ``confusion`` (the ``form`` task)."""
    sums: dict = {}
    for r in rows:
        cm = r.get("confusion")
        if cm is None or np.shape(cm) != (2, 2):
            continue
        key = (r["exercise"], r["model"], r["features"], r["split"])
        sums[key] = sums.get(key, 0) + np.asarray(cm, np.int64)
    return {k: _macro_f1_from_cm(v) for k, v in sums.items()}


def write_compare_report(outdir: Path, rows: list[dict], meta: dict) -> Path:
    """The paper's Tables 5–7 layout — per model, exercises × feature set — with the paper's
    random-window protocol and the grouped split side by side.

    ``rows``: dicts with exercise, model, features, split, seed (optional), accuracy, f1,
    n_test, one_class_test, seconds. With several seeds each cell is the mean ± sd over seeds,
    and an ordering between two models is claimed only when their paired per-seed difference
    is clear of its 95% confidence interval and of :data:`MIN_DIFF`.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    models = [m for m in ("rnn", "lstm", "cnn", "prod") if any(r["model"] == m for r in rows)]
    feats = [f for f in ("landmarks", "landmarks+angles") if any(r["features"] == f for r in rows)]
    splits = [s for s in ("random-window", "grouped") if any(r["split"] == s for r in rows)]
    exercises = list(dict.fromkeys(r["exercise"] for r in rows))
    seeds = sorted({int(r.get("seed", meta.get("seed") or 0)) for r in rows})
    cell: dict = defaultdict(list)  # (exercise, model, features, split) -> rows over seeds
    for r in rows:
        cell[r["exercise"], r["model"], r["features"], r["split"]].append(r)

    def ok(r) -> bool:  # a test split with one class only (†) says nothing about macro-F1
        return not r.get("one_class_test")

    # per (split, model, features): seed -> mean over exercises (accuracy, F1)
    per_seed: dict = {}
    for s, m, f in itertools.product(splits, models, feats):
        by_seed: dict = defaultdict(list)
        for e in exercises:
            for r in cell.get((e, m, f, s), []):
                if ok(r):
                    by_seed[int(r.get("seed", seeds[0]))].append(r)
        per_seed[s, m, f] = {k: (_mean([r["accuracy"] for r in v]), _mean([r["f1"] for r in v]))
                             for k, v in by_seed.items()}

    epochs = (f"a fixed {meta.get('epochs')} epochs (no early stopping; the epoch with the lowest "
              "validation loss is kept)" if not meta.get("patience") else
              f"{meta.get('epochs')} epochs max (early stopping on val loss, patience {meta.get('patience')})")
    seed_txt = (f"seed {seeds[0]}" if len(seeds) == 1 else
                f"{len(seeds)} seeds ({seeds[0]}–{seeds[-1]}; each seed is one split and one "
                "initialisation, shared by every model), cells mean ± sd over seeds")
    lines = [f"# Paper comparison — task `{meta.get('task', 'form')}`", "",
             f"Data: {meta.get('data')}. Window {meta.get('window')} ({meta.get('window_mode')}"
             + (f", stride {meta['stride']}" if meta.get("stride", 1) != 1 else "")
             + f"), normalisation `{meta.get('normalisation')}`, angles `{meta.get('angle_unit', 'unit')}`, "
             + ("features standardised (training mean and sd) in front of every model, "
                if meta.get("standardize") else "")
             + (f"class weights `{meta['class_weight']}`, " if meta.get("class_weight") else "")
             + f"{epochs}, batch {meta.get('batch')}, "
             f"Adam (lr {meta.get('lr', 1e-3):g}), (masked) binary cross-entropy, split 8:1:1, {seed_txt}.", "",
             "`random-window` is the paper's protocol (windows shuffled before splitting: overlapping "
             "neighbours of one clip sit in train and test); `grouped` keeps each clip (all its views) "
             "in one split — the honest figure for a person the model has never seen. "
             "F1 is macro-F1 (see `formcheck.train.report`).", ""]

    # Summary: mean over exercises (per seed), then mean ± sd over seeds
    lines += ["## Summary (mean over exercises" + (", then mean ± sd over seeds" if len(seeds) > 1 else "")
              + "; † cells left out)", "",
              "| model | " + " | ".join(f"{s} · {f} acc / F1" for s in splits for f in feats) + " | paper F1 |",
              "|---|" + "---|" * (len(splits) * len(feats)) + "---|"]
    summary: dict = defaultdict(dict)
    for m in models:
        cells = []
        for s in splits:
            for f in feats:
                v = per_seed[s, m, f]
                acc = _mean([a for a, _ in v.values()])
                f1s = [b for _, b in v.values()]
                summary[s][m, f] = (_mean(f1s), _sd(f1s))
                cells.append(f"{fmt(acc)} / {_fmt_sd(*summary[s][m, f])}")
        lines.append(f"| {MODEL_NAMES.get(m, m)} | " + " | ".join(cells) + f" | {PAPER_F1.get(m, '–')} |")
    lines.append("")
    pooled = pooled_f1(rows)
    if pooled:
        # One correct clip per exercise leaves most seeds' 8:1:1 test split with one class only;
        # summing the test confusion matrices over seeds scores every seed's windows instead.
        lines += ["## Pooled over seeds (test confusion matrices summed over seeds, then macro-F1; "
                  "mean over exercises)", "",
                  "| model | " + " | ".join(f"{s} · {f}" for s in splits for f in feats) + " | paper F1 |",
                  "|---|" + "---|" * (len(splits) * len(feats)) + "---|"]
        for m in models:
            cells = [fmt(_mean([v for (e, mm, ff, ss), v in pooled.items() if (mm, ff, ss) == (m, f, s)]))
                     for s in splits for f in feats]
            lines.append(f"| {MODEL_NAMES.get(m, m)} | " + " | ".join(cells) + f" | {PAPER_F1.get(m, '–')} |")
        lines += ["", "A model that always answers the majority class scores p / (1 + p) here, where p is "
                  "the majority's share of the test windows (0.49 at p = 0.96).", ""]
    paper = [m for m in ("rnn", "lstm", "cnn") if m in models]
    if len(paper) == 3:
        lines += ["## The paper's ordering (RNN < LSTM < CNN)", "",
                  ("`<` only where the paired per-seed difference of the mean F1 is larger than its 95% "
                   f"confidence half-width (Student's t over {len(seeds)} seeds) and than {MIN_DIFF}; "
                   "otherwise the two are tied (`≈`)." if len(seeds) > 1 else
                   f"One seed: differences under {MIN_DIFF} are ties, larger ones are NOT tested against "
                   "seed-to-seed noise (run with `--seeds N`)."), ""]
        for s in splits:
            for f in feats:
                scores = {m: {k: b for k, (_, b) in per_seed[s, m, f].items()} for m in paper}
                if any(not scores[m] for m in paper):
                    lines.append(f"- `{s}` · `{f}`: no ordering — some model has no F1 with both classes "
                                 "in its test split.")
                    continue
                ranked = sorted(paper, key=lambda m: summary[s][m, f][0])
                order = ranked[0].upper() + "".join(
                    f" {paired_order(scores[a], scores[b])[0]} {b.upper()}" for a, b in itertools.pairwise(ranked))
                diffs = []
                for a, b in (("rnn", "lstm"), ("lstm", "cnn"), ("rnn", "cnn")):
                    _, d, half, _n = paired_order(scores[a], scores[b])
                    diffs.append(f"{b.upper()}−{a.upper()} {d:+.3f}" + (f" ± {half:.3f}" if len(seeds) > 1 else ""))
                match = (paired_order(scores["rnn"], scores["lstm"])[0] == "<"
                         and paired_order(scores["lstm"], scores["cnn"])[0] == "<")
                figures = ", ".join(f"{m.upper()} {_fmt_sd(*summary[s][m, f])}" for m in paper)
                lines.append(f"- `{s}` · `{f}`: {figures} → **{order}** — "
                             f"{'matches' if match else 'does not match'} the paper's RNN < LSTM < CNN "
                             f"(paired differences: {'; '.join(diffs)}).")
        lines.append("")

    # Tables 5-7: one per model
    for m in models:
        lines += [f"## {MODEL_NAMES.get(m, m)} — per exercise (the paper's Tables 5–7 layout)", "",
                  "| exercise | " + " | ".join(f"{s}: {f} acc | F1" for s in splits for f in feats) + " |",
                  "|---|" + "---|---|" * (len(splits) * len(feats))]
        for e in exercises:
            cells = []
            for s in splits:
                for f in feats:
                    rs = cell.get((e, m, f, s), [])
                    if not rs:
                        cells.append("– | –")
                        continue
                    good = [r for r in rs if ok(r)] or rs  # all one-class: show them, marked
                    mark = "†" if len(good) < len(rs) or not ok(good[0]) else ""
                    f1s = [r["f1"] for r in good]
                    cells.append(f"{fmt(_mean([r['accuracy'] for r in good]))} | "
                                 f"{_fmt_sd(_mean(f1s), _sd(f1s))}{mark}")
            lines.append(f"| {e} | " + " | ".join(cells) + " |")
        lines.append("")

    # bar chart of the summary
    plt = _plt()
    fig, axes = plt.subplots(1, len(splits), figsize=(4.5 * len(splits), 3.2), squeeze=False)
    for ax, s in zip(axes[0], splits, strict=True):
        width = 0.8 / max(1, len(feats))
        for i, f in enumerate(feats):
            vals = [summary[s].get((m, f), (0.0, 0.0)) for m in models]
            ax.bar(np.arange(len(models)) + i * width, [0.0 if math.isnan(v) else v for v, _ in vals], width,
                   yerr=[0.0 if math.isnan(sd) else sd for _, sd in vals], capsize=3, label=f)
        ax.set_xticks(np.arange(len(models)) + width * (len(feats) - 1) / 2, models)
        ax.set_ylim(0, 1)
        ax.set_title(f"{s}: mean macro-F1" + (" (± sd over seeds)" if len(seeds) > 1 else ""))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(outdir / "compare_f1.png", dpi=90)
    plt.close(fig)
    if any(not ok(r) for r in rows):
        lines += ["† the test split holds windows of one class only in some or all seeds (e.g. the "
                  "exercise's single correct clip fell in train): those runs are left out of the F1 "
                  "(shown, marked, when every seed is)."
                  , ""]
    lines += ["![mean F1 per model](compare_f1.png)", "",
              "Per-run reports (confusion matrices, learning curves) are in the `runs/` folders; every "
              "run's figures are in `compare.json`."]
    path = outdir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
