"""Measured form conditions: how often each one is right, per exercise, on people nobody tuned on.

Prints one table per exercise × condition (measure, how it decides, views it judges, and on
held-out synthetic people: share judged, F1, catch rate, false alarms on good reps; on the
AI-Hub sample's real people: the same on the half kept out of threshold choice), then the
rep-level figures per exercise, the real dev clips with a form label, and the built-in demo.

- Synthetic: a fresh set from ``formcheck-synth`` (``--seed``, new bodies and cameras; the
  thresholds were chosen on another seed), each labelled rep span judged (the rep counter is
  measured elsewhere), views estimated from the pose.
- AI-Hub: the label files' 2-D keypoints, 16 frames per view (about one second: judged as one
  span), five cameras; files with an odd index in name order are the held-out half (the even
  half is where thresholds were checked).
- Dev clips: the videos through the project's pose pipeline (``--backend``, default litert)
  or a landmark cache (``--cache DIR`` of ``<stem>.npz`` with ``t``, ``lm``, ``world``,
  ``size``), reps from the station's rep counter; the clip is incorrect when any rep fails.

    python bench/conditions.py                       # 40 fresh clips per exercise, all real data
    python bench/conditions.py --clips 80 --cache CACHE_DIR
    python bench/conditions.py --generator           # the generator check: each fault's measure, per view
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from formcheck.device.exercises import EXERCISE_IDS, EXERCISES
from formcheck.device.judging import measures as M
from formcheck.device.judging.conditions import ConditionConfig, judge_conditions
from formcheck.device.judging.reps import count_reps
from formcheck.device.judging.view import estimate_view
from formcheck.device.sequences import iter_dataset, read_sequences

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FORMCHECK_SHARED_DATA", REPO.parent / "shared" / "data"))
DEMO = REPO / "device" / "demo" / "demo.npz"
FAULT_THRESHOLD = 0.25  # the generator's severity at which a condition is labelled false

# Words of a dev clip's form label -> the conditions that name that fault.
FORM_WORDS = {"swing": ("back_neutral",), "momentum": ("back_neutral",), "elbow": ("elbows_still",),
              "heel": ("feet_flat", "heels_down"), "knee": ("knees_in_line", "knees_over_toes"),
              "depth": ("rom",), "shallow": ("rom",)}


def how(cid: str, cfg: ConditionConfig) -> str:
    return "measure" if cid in cfg.measured else "fail-only" if cid in cfg.fail_only else "model"


def scored(v, cid: str, cfg: ConditionConfig) -> bool:
    """Whether a verdict counts as a call: judged, or a fail-only measure that saw no fault (the
    rep passes it, as the verdict will)."""
    return v.judged or (cid in cfg.fail_only and v.value is not None and v.reason.startswith("no "))


class Tally:
    """Counts of one condition: judged or not, truth (fault) against call (fails)."""

    def __init__(self):
        self.n = self.judged = self.tp = self.fp = self.fn = self.tn = 0

    def add(self, judged: bool, fault: bool, fails: bool | None) -> None:
        self.n += 1
        if not judged:
            return
        self.judged += 1
        if fault:
            self.tp += bool(fails)
            self.fn += not fails
        else:
            self.fp += bool(fails)
            self.tn += not fails

    def _r(self, a, b):
        return a / (a + b) if a + b else float("nan")

    @property
    def catch(self):
        return self._r(self.tp, self.fn)

    @property
    def fa(self):
        return self._r(self.fp, self.tn)

    @property
    def balanced(self):
        c, f = self.catch, self.fa
        return (c + 1 - f) / 2 if np.isfinite(c) and np.isfinite(f) else float("nan")

    @property
    def f1(self):
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else float("nan")

    @property
    def share(self):
        return self.judged / self.n if self.n else float("nan")


def pct(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{x:.0%}"


# ---- synthetic ---------------------------------------------------------------------------------

def synth_data(out: Path, clips: int, seed: int) -> Path:
    from formcheck.train.synth.cli import main as synth

    rc = synth(["-o", str(out), "--clips-per-exercise", str(clips), "--idle-clips", "0", "--seed",
                str(seed), "--views-per-clip", "2", "--no-progress", "--workers", "1"])
    if rc != 0:
        raise SystemExit(f"formcheck-synth failed ({rc})")
    return out


def run_synth(data: Path, cfg: ConditionConfig, max_reps: int, gen: dict | None):
    """Per condition tallies, per exercise rep-level tallies, and (for --generator) values."""
    cond: dict[str, Tally] = defaultdict(Tally)
    reps: dict[str, dict] = defaultdict(lambda: dict(good=0, good_flag=0, bad=0, bad_caught=0,
                                                     bad_judged=0, flagged=0, cue_ok=0))
    for seq in iter_dataset(data):
        if seq.exercise not in EXERCISE_IDS or not seq.reps:
            continue
        sev = seq.extra.get("severity", {})
        for a, b in seq.reps[:max_reps]:
            sel = (seq.t >= seq.t[a]) & (seq.t <= seq.t[b])
            view = estimate_view(seq.landmarks[sel], seq.image_size)
            vs = judge_conditions(seq.exercise, seq.t, seq.landmarks, None, seq.image_size, seq.t[a],
                                  seq.t[b], view, cfg)
            truth = {k: v >= FAULT_THRESHOLD for k, v in sev.items()}
            for v in vs:
                cid = f"{seq.exercise}.{v.key}"
                cond[cid].add(scored(v, cid, cfg), truth.get(v.key, False), v.judged and not v.holds)
                if gen is not None and cid in M.BY_ID and v.value is not None:
                    gen[(cid, view.view, truth.get(v.key, False))].append(v.value)
            failed = [v.key for v in vs if v.judged and not v.holds]
            judged_faults = [v.key for v in vs if v.judged and truth.get(v.key)]
            r = reps[seq.exercise]
            if not any(truth.values()):
                r["good"] += 1
                r["good_flag"] += bool(failed)
            else:
                r["bad"] += 1
                r["bad_caught"] += bool(failed)
                if judged_faults:
                    r["bad_judged"] += 1
            if failed:
                r["flagged"] += 1
                r["cue_ok"] += all(truth.get(k) for k in failed)
    return cond, reps


# ---- AI-Hub ------------------------------------------------------------------------------------

def run_aihub(folder: Path, cfg: ConditionConfig) -> dict[str, Tally]:
    from formcheck.train.aihub import load_sequences

    cond: dict[str, Tally] = defaultdict(Tally)
    for i, f in enumerate(sorted(folder.glob("*.json"))):
        if i % 2 == 0:
            continue  # the calibration half
        for seq in load_sequences(f):
            if seq.exercise not in EXERCISES:
                continue
            ex = EXERCISES[seq.exercise]
            labels = dict(zip(seq.conditions, seq.condition_values, strict=True))
            vs = judge_conditions(seq.exercise, seq.t, seq.landmarks, None, seq.image_size, config=cfg)
            for c, v in zip(ex.conditions, vs, strict=True):
                holds = labels.get(c.name)
                if holds is None:
                    continue  # rom: AI-Hub never labels it
                cid = f"{seq.exercise}.{v.key}"
                cond[cid].add(scored(v, cid, cfg), not holds, v.judged and not v.holds)
    return cond


# ---- real clips --------------------------------------------------------------------------------

def clip_landmarks(video: Path, cache: Path | None, backend: str):
    """(t, landmarks, world or None, image size) of a video: from the cache when given."""
    if cache is not None:
        p = cache / f"{video.stem}.npz"
        if p.exists():
            z = np.load(p)
            return z["t"], z["lm"], (z["world"] if "world" in z else None), tuple(int(v) for v in z["size"])
    from formcheck.device.pose.landmarks import create_estimator
    from formcheck.train.videos import ClipLabels, video_sequence

    est = create_estimator(backend)
    try:
        seq = video_sequence(video, est, group=video.stem, labels=ClipLabels(
            exercise="", label="", conditions=[], condition_values=[], correct=None))
    finally:
        est.close()
    return seq.t, seq.landmarks, None, seq.image_size


def run_clips(videos: Path, cfg: ConditionConfig, cache: Path | None, backend: str, all_clips: bool):
    labels = json.loads((videos / "LABELS.json").read_text())["clips"]
    rows = []
    for name, lab in sorted(labels.items()):
        if lab.get("form") is None and not all_clips:
            continue
        ex = lab["exercise"]
        t, lm, world, size = clip_landmarks(videos / name, cache, backend)
        reps = count_reps(t, lm, ex, image_size=size)
        spans = [(r.start_t, r.end_t) for r in reps]
        note = ""
        if not spans:
            spans, note = [(float(t[0]), float(t[-1]))], "no rep counted: whole clip judged"
        failed: dict[str, str] = {}
        views = []
        for a, b in spans:
            sel = (t >= a) & (t <= b)
            view = estimate_view(lm[sel], size, None if world is None else world[sel])
            views.append(view.view)
            for v in judge_conditions(ex, t, lm, world, size, a, b, view, cfg):
                if v.judged and not v.holds:
                    failed.setdefault(v.key, v.cue)
        form = lab.get("form") or ""
        expect = None if not form else not form.startswith("incorrect")
        want = {k for w, ks in FORM_WORDS.items() if w in form.lower().split("(")[0] for k in ks}
        right = None
        if expect is not None:
            right = (not failed) if expect else bool(failed) and (not want or bool(want & set(failed)))
        rows.append((name, ex, "/".join(sorted(set(views))), len(reps), lab["reps"], expect, failed, right, note))
    return rows


# ---- demo --------------------------------------------------------------------------------------

def run_demo(cfg: ConditionConfig):
    rows = []
    for s in read_sequences(DEMO):
        labelled = [c.key for c, ok in zip(EXERCISES[s.exercise].conditions, s.condition_values, strict=True)
                    if ok is False]
        reps = count_reps(s.t, s.landmarks, s.exercise, image_size=s.image_size)
        got = []
        for r in reps:
            vs = judge_conditions(s.exercise, s.t, s.landmarks, None, s.image_size, r.start_t, r.end_t,
                                  config=cfg)
            got.append([v.key for v in vs if v.judged and not v.holds])
        ok = len(reps) == len(s.reps) and all(g == labelled for g in got)
        rows.append((s.id, s.view, labelled, got, ok))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synth", type=Path, help="labelled synthetic dataset (default: generate a fresh one)")
    ap.add_argument("--clips", type=int, default=40, help="clips per exercise to generate (default 40)")
    ap.add_argument("--seed", type=int, default=4040, help="seed of the generated set (default 4040; "
                    "thresholds were checked on seed 3001)")
    ap.add_argument("--reps", type=int, default=4, help="reps judged per synthetic sequence (default 4)")
    ap.add_argument("--videos", type=Path, default=SHARED / "videos")
    ap.add_argument("--aihub", type=Path, default=SHARED / "aihub-sample")
    ap.add_argument("--cache", type=Path, help="landmark cache of the videos (skips pose)")
    ap.add_argument("--backend", default="litert", help="pose backend for the videos (default litert)")
    ap.add_argument("--all-clips", action="store_true", help="list every dev clip, not only form-labelled ones")
    ap.add_argument("--generator", action="store_true", help="print each fault's measure per view")
    args = ap.parse_args(argv)
    cfg = ConditionConfig()

    tmp = None
    data = args.synth
    if data is None:
        tmp = tempfile.TemporaryDirectory(prefix="formcheck-conditions-")
        data = synth_data(Path(tmp.name) / "data", args.clips, args.seed)
    gen: dict | None = defaultdict(list) if args.generator else None
    syn, reps = run_synth(data, cfg, args.reps, gen)
    if tmp is not None:
        tmp.cleanup()
    ai = run_aihub(args.aihub, cfg) if args.aihub.is_dir() else {}

    print(f"synthetic: {data if args.synth else f'fresh, seed {args.seed}, {args.clips} clips/exercise'}; "
          f"AI-Hub held-out half: {args.aihub if ai else 'absent'}")
    print()
    print("| exercise | condition | measure | decides | views | synth judged | synth F1 | catch | false alarms "
          "| AI-Hub judged | AI-Hub balanced | AI-Hub catch | AI-Hub false alarms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for ex in EXERCISE_IDS:
        for c in EXERCISES[ex].conditions:
            cid = f"{ex}.{c.key}"
            d = M.BY_ID.get(cid)
            s, a = syn.get(cid, Tally()), ai.get(cid)
            views = "/".join(v for v in ("front", "oblique", "side", "back") if d and v in d.views)
            aistr = (f"{a.judged}/{a.n} | {pct(a.balanced)} | {pct(a.catch)} | {pct(a.fa)}" if a
                     else "– | – | – | –")
            print(f"| {ex} | {c.key} | {d.quantity if d else '–'} ({d.unit if d else ''}) | {how(cid, cfg)} | "
                  f"{views or '–'} | {pct(s.share)} | {pct(s.f1)} | {pct(s.catch)} | {pct(s.fa)} | {aistr} |")
    print()
    print("Reps (synthetic held-out, decided conditions only):")
    print()
    print("| exercise | good reps | false alarms on good reps | faulty reps | caught | caught where the fault "
          "was judged | balanced | cue right |")
    print("|---|---|---|---|---|---|---|---|")
    tot = defaultdict(int)
    for ex in EXERCISE_IDS:
        r = reps[ex]
        for k, v in r.items():
            tot[k] += v
        fa = r["good_flag"] / r["good"] if r["good"] else float("nan")
        cat = r["bad_caught"] / r["bad"] if r["bad"] else float("nan")
        catj = r["bad_caught"] / r["bad_judged"] if r["bad_judged"] else float("nan")
        print(f"| {ex} | {r['good']} | {pct(fa)} | {r['bad']} | {pct(cat)} | {pct(min(catj, 1.0))} | "
              f"{pct((cat + 1 - fa) / 2)} | {pct(r['cue_ok'] / r['flagged'] if r['flagged'] else float('nan'))} |")
    fa = tot["good_flag"] / max(tot["good"], 1)
    cat = tot["bad_caught"] / max(tot["bad"], 1)
    print(f"| all | {tot['good']} | {pct(fa)} | {tot['bad']} | {pct(cat)} | "
          f"{pct(min(tot['bad_caught'] / max(tot['bad_judged'], 1), 1.0))} | {pct((cat + 1 - fa) / 2)} | "
          f"{pct(tot['cue_ok'] / max(tot['flagged'], 1))} |")

    if ai:
        print()
        print("AI-Hub held-out half, per exercise (decided conditions with both classes judged):")
        print()
        print("| exercise | conditions | mean balanced | false alarms on good | catch |")
        print("|---|---|---|---|---|")
        for ex in EXERCISE_IDS:
            ts = [(k, t) for k, t in ai.items() if k.startswith(ex + ".") and np.isfinite(t.balanced)]
            if not ts:
                continue
            fp = sum(t.fp for _, t in ts)
            tn = sum(t.tn for _, t in ts)
            tp = sum(t.tp for _, t in ts)
            fn = sum(t.fn for _, t in ts)
            print(f"| {ex} | {', '.join(k.split('.')[1] for k, _ in ts)} | "
                  f"{pct(float(np.mean([t.balanced for _, t in ts])))} | {pct(fp / max(fp + tn, 1))} | "
                  f"{pct(tp / max(tp + fn, 1))} |")

    if args.videos.is_dir():
        print()
        print(f"Dev clips ({'cache ' + str(args.cache) if args.cache else args.backend + ' pose on the videos'}):")
        print()
        print("| clip | view | reps (counted/labelled) | label | failed conditions | right |")
        print("|---|---|---|---|---|---|")
        for name, _ex, views, n, n_lab, expect, failed, right, note in run_clips(
                args.videos, cfg, args.cache, args.backend, args.all_clips):
            lab = "–" if expect is None else "correct" if expect else "incorrect"
            fl = "; ".join(f"{k}: {cue}" for k, cue in failed.items()) or "none"
            print(f"| {name} | {views} | {n}/{n_lab}{' (' + note + ')' if note else ''} | {lab} | {fl} | "
                  f"{'–' if right is None else 'yes' if right else 'NO'} |")

    print()
    print("Built-in demo (reps from the rep counter):")
    print()
    print("| sequence | camera | labelled faults | failed per rep | right |")
    print("|---|---|---|---|---|")
    for sid, view, labelled, got, ok in run_demo(cfg):
        print(f"| {sid} | {view} | {', '.join(labelled) or 'none'} | {got} | {'yes' if ok else 'NO'} |")

    if gen is not None:
        print()
        print("Generator check: each condition's measure on good vs faulty reps, per estimated view "
              "(median [10th-90th percentile]); * = a view the condition is judged from")
        print()
        print("| condition | view | good reps | faulty reps | n good/faulty |")
        print("|---|---|---|---|---|")
        for cid in [d.id for d in M.CONDITIONS]:
            for v in ("front", "oblique", "side", "back"):
                g, f = gen.get((cid, v, False), []), gen.get((cid, v, True), [])
                if len(g) < 5 or len(f) < 5:
                    continue

                def q(x):
                    return f"{np.median(x):.3g} [{np.percentile(x, 10):.3g}, {np.percentile(x, 90):.3g}]"

                star = "*" if v in M.BY_ID[cid].views else ""
                print(f"| {cid} | {v}{star} | {q(g)} | {q(f)} | {len(g)}/{len(f)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
