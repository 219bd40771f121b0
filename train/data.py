"""Datasets → windows + labels per task, splits and class weights (numpy only, no TensorFlow).

Features and windows come only from :mod:`formcheck.device.judging.features` and
:mod:`formcheck.device.judging.windows`, so training sees exactly what the station computes.

Tasks and their label vectors ``y`` (float32, ``NaN`` = unknown, never trained on):

- ``form``: ``[1]`` correct / ``[0]`` incorrect (the paper's binary task); clips whose
  correctness is unknown are skipped.
- ``conditions``: one value per condition of the exercise, in the exercise's order (AI-Hub's
  conditions, then formcheck's ``rom``). AI-Hub never labels ``rom``: it stays NaN there and the
  loss masks it out.
- ``exercise``: one-hot over the nine ids + ``idle``.

Window modes: ``sliding`` windows every ``spec.stride`` samples, each labelled with its clip's
label (the paper's protocol); ``rep`` one window per rep, from ``LandmarkSequence.reps``. An
AI-Hub clip (origin ``aihub-*``, 16 frames of one movement) has no rep marks: it counts as one
rep spanning the whole clip. Other sequences without reps give no rep windows (logged).

Splits: ``random-window`` shuffles windows (the paper's protocol: overlapping neighbours of the
same clip land in train and test, which inflates scores); ``grouped`` (the default) keeps every
window of a group — ``LandmarkSequence.group`` (a clip with its views), or ``subject`` —
in one split, choosing among random group assignments the one closest to 8:1:1 with the
most even label balance.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from formcheck.device.exercises import EXERCISE_IDS, EXERCISES, IDLE, OTHER
from formcheck.device.judging.features import FOOT_POINTS, FeatureSpec, mirror_features, sequence_features
from formcheck.device.judging.windows import rep_window, sliding_windows
from formcheck.device.sequences import LandmarkSequence, iter_dataset

log = logging.getLogger(__name__)

TASKS = ("form", "conditions", "exercise")
SPLITS = ("grouped", "random-window")
GROUP_BY = ("group", "subject")
EXERCISE_LABELS: tuple[str, ...] = (*EXERCISE_IDS, IDLE)
# Repeated movements that are none of the nine (OTHER): a recogniser trained on data that has
# them gets this extra output (the station counts them without a verdict).
PAPER_RATIOS = (0.8, 0.1, 0.1)


class DataError(ValueError):
    """The data cannot make the requested training set; the message says which field/option."""


@dataclass(frozen=True)
class CondLabel:
    key: str
    name: str  # the sequence's condition text (AI-Hub Korean) or "rom"
    cue: str = ""


@dataclass(frozen=True)
class LabelSpace:
    """What the model's outputs mean, in order."""

    task: str
    exercise: str  # canonical id (form/conditions), "" for the recogniser
    labels: tuple[str, ...]
    conditions: tuple[CondLabel, ...] = ()

    @property
    def k(self) -> int:
        return len(self.labels)


@dataclass
class WindowSet:
    X: np.ndarray  # (N, W, F) float32
    y: np.ndarray  # (N, K) float32, NaN = unknown
    groups: np.ndarray  # (N,) str: the split unit
    seq: np.ndarray  # (N,) int: index into ``sequences``
    space: LabelSpace
    spec: FeatureSpec
    sequences: list[str] = field(default_factory=list)  # sequence ids
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.X)

    def subset(self, idx) -> WindowSet:
        idx = np.asarray(idx)
        return WindowSet(self.X[idx], self.y[idx], self.groups[idx], self.seq[idx], self.space,
                         self.spec, self.sequences, dict(self.info))

    @property
    def mask(self) -> np.ndarray:
        return np.isfinite(self.y)

    def label_counts(self) -> dict:
        """Per label: [#true/#class, #false, #unknown] (binary) or #windows (exercise)."""
        if self.space.task == "exercise":
            idx = np.argmax(self.y, axis=1) if len(self.y) else np.zeros(0, int)
            c = Counter(int(i) for i in idx)
            return {lab: c.get(i, 0) for i, lab in enumerate(self.space.labels)}
        out = {}
        for j, lab in enumerate(self.space.labels):
            col = self.y[:, j]
            out[lab] = [int(np.sum(col == 1)), int(np.sum(col == 0)), int(np.sum(~np.isfinite(col)))]
        return out


@dataclass
class Split:
    train: WindowSet
    val: WindowSet
    test: WindowSet
    kind: str
    seed: int
    group_by: str = "group"

    def describe(self) -> dict:
        return {
            "kind": self.kind, "seed": self.seed, "group_by": self.group_by,
            "windows": {k: len(getattr(self, k)) for k in ("train", "val", "test")},
            "groups": {k: len(set(getattr(self, k).groups)) for k in ("train", "val", "test")},
            "labels": {k: getattr(self, k).label_counts() for k in ("train", "val", "test")},
        }


# ---- loading -------------------------------------------------------------------------------

def load_sequences(dirs: Sequence[str | os.PathLike] | str | os.PathLike) -> list[LandmarkSequence]:
    """All sequences under one or more dataset directories (see ``formcheck.device.sequences``)."""
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    seqs: list[LandmarkSequence] = []
    for d in dirs:
        if not os.path.exists(d):
            raise DataError(f"--data: {d} does not exist")
        got = list(iter_dataset(d))
        log.info("%s: %d sequences", d, len(got))
        seqs.extend(got)
    if not seqs:
        raise DataError(f"--data: no sequences found under {', '.join(map(str, dirs))}")
    return seqs


def is_idle(seq: LandmarkSequence) -> bool:
    return seq.exercise == IDLE or seq.label == IDLE


def exercises_in(seqs: Iterable[LandmarkSequence]) -> list[str]:
    """Exercise names present (canonical ids first, in the paper's order, then others)."""
    names = {s.exercise for s in seqs if s.exercise and not is_idle(s) and s.exercise != OTHER}
    return [e for e in EXERCISE_IDS if e in names] + sorted(names - set(EXERCISE_IDS))


def _norm(s: str) -> str:
    return s.strip()


def label_space(task: str, exercise: str, seqs: Sequence[LandmarkSequence]) -> LabelSpace:
    if task not in TASKS:
        raise DataError(f"--task: {task!r} is not one of {TASKS}")
    if task == "exercise":
        has_other = any(s.exercise == OTHER and not is_idle(s) for s in seqs)
        return LabelSpace("exercise", "", (*EXERCISE_LABELS, OTHER) if has_other else EXERCISE_LABELS)
    if task == "form":
        return LabelSpace("form", exercise, ("correct",))
    if exercise in EXERCISES:
        conds = tuple(CondLabel(c.key, c.name, c.cue) for c in EXERCISES[exercise].conditions)
    else:  # an AI-Hub exercise outside the nine: take its condition texts from the data
        names: list[str] = []
        for s in seqs:
            if s.exercise == exercise:
                for n in map(_norm, s.conditions):
                    if n not in names:
                        names.append(n)
        if not names:
            raise DataError(f"--exercise: no condition labels for {exercise!r} in the data")
        conds = tuple(CondLabel(f"c{i}", n) for i, n in enumerate(names))
    return LabelSpace("conditions", exercise, tuple(c.key for c in conds), conds)


def sequence_label(seq: LandmarkSequence, space: LabelSpace) -> np.ndarray | None:
    """The label vector of a sequence under ``space``; None when the sequence has no label."""
    if space.task == "exercise":
        name = IDLE if is_idle(seq) else seq.exercise
        if name not in space.labels:
            return None
        y = np.zeros(space.k, np.float32)
        y[space.labels.index(name)] = 1.0
        return y
    if seq.exercise != space.exercise:
        return None
    if space.task == "form":
        return None if seq.correct is None else np.array([float(seq.correct)], np.float32)
    values = {_norm(n): v for n, v in zip(seq.conditions, seq.condition_values, strict=False)}
    y = np.full(space.k, np.nan, np.float32)
    for j, c in enumerate(space.conditions):
        v = values.get(_norm(c.name), values.get(c.key))
        if v is not None:
            y[j] = float(bool(v))
    return None if not np.isfinite(y).any() else y


def rep_spans(seq: LandmarkSequence) -> list[tuple[float, float]]:
    """Rep (start, end) times: the sequence's marks, or the whole clip for AI-Hub clips."""
    n = len(seq.t)
    if seq.reps:
        return [(float(seq.t[max(0, a)]), float(seq.t[min(n - 1, b)])) for a, b in seq.reps if b > a]
    if seq.origin.startswith("aihub") and n >= 2:
        return [(float(seq.t[0]), float(seq.t[-1]))]
    return []


# Where the station's rep counter cuts a rep, against the labelled span (synthetic clips, as a
# fraction of the rep's duration): it sees the onset late and the return to rest early, by
# 5-20% at each end. Rep windows for training are also cut that way (see ``jitter_spans``).
CUT_IN = (-0.05, 0.25)


def jitter_spans(seq: LandmarkSequence, spans: list[tuple[float, float]], n: int) -> list[tuple[float, float]]:
    """``spans`` followed by ``n`` copies of each cut in or out at both ends by a random
    fraction in :data:`CUT_IN` of its duration, as the station's rep counter may cut it
    (deterministic per sequence id)."""
    if n <= 0 or not spans:
        return list(spans)
    rng = np.random.default_rng(zlib.crc32(seq.id.encode()))
    out = list(spans)
    for _ in range(n):
        for a, b in spans:
            d = b - a
            out.append((a + d * rng.uniform(*CUT_IN), b - d * rng.uniform(*CUT_IN)))
    return out


def sequence_windows(seq: LandmarkSequence, spec: FeatureSpec, ends: list | None = None,
                     rep_jitter: int = 0) -> np.ndarray:
    """The windows of one sequence under ``spec`` (its window mode), ``(n, W, F)`` float32.
    Sliding windows' end times are appended to ``ends`` when it is given; ``rep_jitter`` adds
    that many re-cut copies of each rep window (see :func:`jitter_spans`)."""
    feats, valid = sequence_features(seq.t, seq.landmarks, spec, seq.image_size or None)
    if spec.window_mode == "sliding":
        X, e = sliding_windows(seq.t, feats, valid, spec)
        if ends is not None:
            ends.extend(e)
        return X
    spans = rep_spans(seq)
    if seq.reps:  # a whole AI-Hub clip is one rep by definition: nothing to re-cut
        spans = jitter_spans(seq, spans, rep_jitter)
    out = [rep_window(seq.t, feats, valid, a, b, spec) for a, b in spans]
    out = [w for w in out if w is not None]
    if not out:
        return np.zeros((0, spec.window, spec.num_features), np.float32)
    return np.stack(out).astype(np.float32)


def _idle_outside_sets(seq: LandmarkSequence, X: np.ndarray, Y: np.ndarray, ends: np.ndarray,
                       spec: FeatureSpec, space: LabelSpace) -> tuple[np.ndarray, np.ndarray]:
    """Recogniser labels from the clip's exercising spans (``extra["active"]``, synthetic clips):
    a window mostly inside a set is the exercise, one wholly outside (standing before the first
    rep, resting between sets) is ``idle``, one straddling the edge is left out. Without this
    the recogniser learns that standing still is whichever exercise the clip is of."""
    spans = seq.extra.get("active") if isinstance(seq.extra, dict) else None
    # AI-Hub's extra["active"] is a per-frame flag, not spans: such clips keep their label
    if not spans or len(X) == 0 or not all(isinstance(s, (list, tuple)) and len(s) == 2 for s in spans):
        return X, Y
    n = len(seq.t)
    t_spans = [(float(seq.t[max(0, int(a))]), float(seq.t[min(n - 1, int(b))])) for a, b in spans]
    length = (spec.window - 1) / spec.sample_rate
    start = ends - length
    inside = np.zeros(len(ends))
    for a, b in t_spans:
        inside += np.clip(np.minimum(ends, b) - np.maximum(start, a), 0.0, None)
    frac = inside / max(length, 1e-9)
    idle = np.zeros(space.k, np.float32)
    idle[space.labels.index(IDLE)] = 1.0
    Y = Y.copy()
    Y[frac <= 0.05] = idle
    keep = (frac >= 0.5) | (frac <= 0.05)
    return X[keep], Y[keep]


def group_key(seq: LandmarkSequence, by: str = "group") -> str:
    if by not in GROUP_BY:
        raise DataError(f"--group-by: {by!r} is not one of {GROUP_BY}")
    first, second = (seq.group, seq.subject) if by == "group" else (seq.subject, seq.group)
    return first or second or seq.id


# How much faster than real time the sparse copies of a clip play (see ``sparse_copies``):
# AI-Hub's 16 labelled frames of a clip sample several reps and the set's end, about two frames
# a rep, where a 15 Hz window sees a rep in 15-40 samples: so 6-20 times faster.
SPARSE_SPEED = (6.0, 20.0)


def sparse_copies(seq: LandmarkSequence, n: int) -> list[LandmarkSequence]:
    """``n`` copies of ``seq`` played faster by a random factor in :data:`SPARSE_SPEED`
    (deterministic per sequence id): sliding windows over them see frames far apart, several
    reps and the ends of the set in one window, as sparse real samples do."""
    if n <= 0 or len(seq.t) < 2:
        return []
    rng = np.random.default_rng(zlib.crc32(b"sparse:" + seq.id.encode()))
    return [replace(seq, t=seq.t / rng.uniform(*SPARSE_SPEED)) for _ in range(n)]


def feet_unseen_copy(seq: LandmarkSequence, fraction: float) -> list[LandmarkSequence]:
    """For about ``fraction`` of the sequences (deterministic per id), a copy whose feet are out
    of view on every frame (their visibility 0): under a spec with ``unseen_feet =
    "shins_down"`` its features show the feet as unknown, as the station's do when the picture
    cuts them off."""
    if fraction <= 0 or zlib.crc32(b"feet:" + seq.id.encode()) / 2**32 >= fraction:
        return []
    lm = np.array(seq.landmarks, copy=True)
    lm[:, list(FOOT_POINTS), 3] = 0.0
    return [replace(seq, landmarks=lm)]


def build_windows(seqs: Sequence[LandmarkSequence], spec: FeatureSpec, task: str, exercise: str = "",
                  group_by: str = "group", progress: bool = False,
                  space: LabelSpace | None = None, rep_jitter: int = 0, sparse: int = 0,
                  feet_unseen: float = 0.0) -> WindowSet:
    """Windows and labels of every usable sequence for one task (and exercise).

    ``space`` fixes the outputs (evaluating a trained model on other data); otherwise it comes
    from the exercise, minus conditions the data never labels. ``rep_jitter``: re-cut copies
    of each labelled rep (rep windows only; ignored for sliding ones; see :func:`jitter_spans`).
    ``sparse``: sliding windows of the exercise task also over that many sped-up copies of each
    sequence (see :func:`sparse_copies`), labelled the same way. ``feet_unseen``: the exercise
    task also over a copy of that fraction of the sequences with the feet out of view (see
    :func:`feet_unseen_copy`).
    """
    fixed = space is not None
    space = space or label_space(task, exercise, seqs)
    Xs, ys, gs, ss, ids = [], [], [], [], []
    skipped: Counter = Counter()
    origins: Counter = Counter()
    it = seqs
    if progress:
        from tqdm import tqdm

        it = tqdm(seqs, desc=f"windows {exercise or task}", unit="seq", leave=False)
    for s in it:
        y = sequence_label(s, space)
        if y is None:
            continue
        if spec.window_mode == "rep" and not rep_spans(s):
            skipped["no reps"] += 1
            continue
        sliding_exercise = space.task == "exercise" and spec.window_mode == "sliding"
        parts = []
        copies = [*sparse_copies(s, sparse), *feet_unseen_copy(s, feet_unseen)] if sliding_exercise else []
        for s_ in [s, *copies]:
            ends: list = []
            X = sequence_windows(s_, spec, ends, rep_jitter)
            Y = np.repeat(y[None], len(X), axis=0)
            if sliding_exercise and not is_idle(s_):
                X, Y = _idle_outside_sets(s_, X, Y, np.asarray(ends), spec, space)
            parts.append((X, Y))
        X = np.concatenate([p[0] for p in parts])
        Y = np.concatenate([p[1] for p in parts])
        if len(X) == 0:
            skipped["no valid window"] += 1
            continue
        i = len(ids)
        ids.append(s.id)
        origins[s.origin or "?"] += 1
        Xs.append(X)
        ys.append(Y)
        gs.extend([group_key(s, group_by)] * len(X))
        ss.extend([i] * len(X))
    for why, n in skipped.items():
        log.warning("%s/%s: %d labelled sequences skipped (%s)", task, exercise or "all", n, why)
    if not Xs:
        raise DataError(f"no windows for task {task!r}"
                        + (f", exercise {exercise!r}" if exercise else "")
                        + f" with window mode {spec.window_mode!r}"
                        + (f" ({dict(skipped)})" if skipped else ""))
    info = {"sequences": len(ids), "origins": dict(origins), "skipped": dict(skipped),
            "rep_jitter": rep_jitter if spec.window_mode == "rep" else 0,  # sliding windows: no reps to re-cut
            "sparse": sparse if space.task == "exercise" and spec.window_mode == "sliding" else 0}
    if feet_unseen and space.task == "exercise" and spec.window_mode == "sliding":
        info["feet_unseen"] = feet_unseen
    y_all = np.concatenate(ys).astype(np.float32)
    if space.task == "conditions" and not fixed:
        # A condition nobody labelled (AI-Hub's rom) gets no output at all: an untrained head
        # would emit noise that the station would show as a cue.
        known = np.isfinite(y_all).any(axis=0)
        if not known.all():
            dropped = [c.key for c, k in zip(space.conditions, known, strict=True) if not k]
            log.info("%s: no labels for %s in the data; leaving them out of the model", exercise, dropped)
            info["unlabelled_conditions"] = dropped
            conds = tuple(c for c, k in zip(space.conditions, known, strict=True) if k)
            space = LabelSpace(space.task, space.exercise, tuple(c.key for c in conds), conds)
            y_all = y_all[:, known]
    return WindowSet(np.concatenate(Xs).astype(np.float32), y_all,
                     np.array(gs, dtype=object), np.array(ss, dtype=np.int64), space, spec, ids, info)


def mirrored(ws: WindowSet) -> WindowSet:
    """``ws`` followed by the left-right mirror image of every window, with the same labels.

    None of the tasks' labels depends on the side (a good rep mirrored is a good rep, a squat
    a squat), so the mirror doubles the training data and shows the model each pose with the
    other leg working, the other arm lifting, the camera on the other side.
    """
    n = len(ws)
    out = ws.subset(np.concatenate([np.arange(n), np.arange(n)]))
    out.X[n:] = mirror_features(ws.X, ws.spec)
    out.info["mirrored"] = True
    return out


# ---- splits --------------------------------------------------------------------------------

def _label_profile(ws: WindowSet) -> np.ndarray:
    """Per-window numbers whose split means should match the whole set (label balance)."""
    y = np.where(np.isfinite(ws.y), ws.y, 0.5)
    return y


def split_windows(ws: WindowSet, kind: str = "grouped", seed: int = 0,
                  ratios: tuple[float, float, float] = PAPER_RATIOS, trials: int = 300,
                  group_by: str = "group") -> Split:
    if kind not in SPLITS:
        raise DataError(f"--split: {kind!r} is not one of {SPLITS}")
    rng = np.random.default_rng(seed)
    n = len(ws)
    r = np.asarray(ratios, dtype=np.float64) / np.sum(ratios)
    if kind == "random-window":
        if n < 3:
            raise DataError(f"random-window split needs at least 3 windows, got {n}")
        perm = rng.permutation(n)
        a = max(1, round(r[0] * n))
        b = max(a + 1, round((r[0] + r[1]) * n))
        b = min(b, n - 1)
        parts = perm[:a], perm[a:b], perm[b:]
    else:
        groups, inv = np.unique(ws.groups.astype(str), return_inverse=True)
        g = len(groups)
        if g < 3:
            raise DataError(f"grouped split needs at least 3 groups (field '{group_by}'), found {g}; "
                            "use --split random-window or more data")
        counts = np.bincount(inv, minlength=g).astype(np.float64)
        prof = _label_profile(ws)
        gsum = np.zeros((g, prof.shape[1]))
        np.add.at(gsum, inv, prof)
        overall = prof.mean(axis=0)
        best, best_score = None, np.inf
        for _ in range(trials):
            order = rng.permutation(g)
            cum = np.cumsum(counts[order]) / n
            # cut after the group that crosses each boundary, keeping every split non-empty
            a = int(np.clip(np.searchsorted(cum, r[0] - 1e-9) + 1, 1, g - 2))
            b = int(np.clip(np.searchsorted(cum, r[0] + r[1] - 1e-9) + 1, a + 1, g - 1))
            assign = np.empty(g, np.int64)
            assign[order[:a]], assign[order[a:b]], assign[order[b:]] = 0, 1, 2
            score = 0.0
            for k in range(3):
                sel = assign == k
                m = counts[sel].sum()
                score += abs(m / n - r[k]) * 2
                score += np.abs(gsum[sel].sum(axis=0) / m - overall).mean() if m else 10
            if score < best_score:
                best, best_score = assign, score
        win_assign = best[inv]
        parts = tuple(np.nonzero(win_assign == k)[0] for k in range(3))
    train, val, test = (ws.subset(np.sort(p)) for p in parts)
    return Split(train, val, test, kind, seed, group_by)


# ---- class weights -------------------------------------------------------------------------

def class_weights(ws: WindowSet, clip: float = 20.0) -> np.ndarray:
    """Balanced weights from the training windows.

    Binary tasks: ``(2, K)`` — row 0 the weight of a false label, row 1 of a true label, per
    output (``n / (2 n_c)``), so each class of each condition contributes equally to the loss.
    ``exercise``: ``(K,)`` per class ``n / (K n_c)``. Clipped to ``[1/clip, clip]``.
    """
    if ws.space.task == "exercise":
        counts = ws.y.sum(axis=0)
        present = counts > 0
        w = np.ones(ws.space.k)
        w[present] = counts[present].sum() / (present.sum() * counts[present])
        return np.clip(w, 1 / clip, clip).astype(np.float32)
    known = np.isfinite(ws.y)
    pos = np.sum(ws.y == 1, axis=0).astype(np.float64)
    neg = np.sum(ws.y == 0, axis=0).astype(np.float64)
    tot = known.sum(axis=0).astype(np.float64)
    w = np.ones((2, ws.space.k))
    with np.errstate(divide="ignore", invalid="ignore"):
        w[1] = np.where(pos > 0, tot / (2 * pos), 1.0)
        w[0] = np.where(neg > 0, tot / (2 * neg), 1.0)
    return np.clip(w, 1 / clip, clip).astype(np.float32)


def representative_sample(ws: WindowSet, n: int = 500, seed: int = 0) -> np.ndarray:
    """Up to ``n`` training windows for int8 calibration, spread over the whole set."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(ws), size=min(n, len(ws)), replace=False)
    return ws.X[np.sort(idx)]


def describe_data(dirs: Sequence[str | os.PathLike], seqs: Sequence[LandmarkSequence]) -> dict:
    """A short, path-free description of the training data for reports and bundles."""
    return {
        "datasets": [os.path.basename(os.path.normpath(str(d))) for d in dirs],
        "sequences": len(seqs),
        "origins": dict(Counter(s.origin or "?" for s in seqs)),
        "exercises": dict(Counter(s.exercise or "?" for s in seqs)),
    }
