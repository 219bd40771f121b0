"""Realism report: real clips through BlazePose next to synthetic clips of the same exercise.

For each real video in a folder (``../shared/data/videos`` by default) the report extracts
landmarks with the mediapipe backend (cached), guesses the camera side (front-ish or
side-on from the shoulder width), generates synthetic clips of the same exercise from matching
views at the same frame rate and image size, and compares, side by side:

- joint-angle ranges (5th-95th percentile of each default angle, image-plane, as the models
  see them) and the share of the real range the synthetic range covers;
- bone-length ratios (segment length / torso length, medians);
- frame-to-frame jitter (median absolute second difference of each landmark, in torso lengths,
  by landmark group);
- visibility distributions by landmark group;
- BlazePose's depth (z) spread by landmark group.

Outputs in ``OUT``: ``report.md`` (a short table per clip), ``angles.png``, ``bones.png``,
``jitter.png``, ``visibility.png``, a fault gallery ``faults/<exercise>.png`` (every condition
next to a correct rep, noise-free) and ``stats.json`` with every number.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from formcheck.device.exercises import EXERCISE_IDS
from formcheck.device.judging.features import ANGLE_NAMES, aspect_corrected, joint_angles
from formcheck.device.sequences import LandmarkSequence, read_sequences, write_sequences

from . import synth

log = logging.getLogger(__name__)

GROUPS: dict[str, tuple[int, ...]] = {
    "face": tuple(range(11)), "shoulders": (11, 12), "elbows": (13, 14), "wrists": (15, 16),
    "hands": (17, 18, 19, 20, 21, 22), "hips": (23, 24), "knees": (25, 26), "ankles": (27, 28),
    "feet": (29, 30, 31, 32),
}
BONES: dict[str, tuple[int, int]] = {
    "shoulder_width": (11, 12), "hip_width": (23, 24), "upper_arm": (11, 13), "forearm": (13, 15),
    "thigh": (23, 25), "shank": (25, 27), "foot": (27, 31), "wrist_index": (15, 19),
}
DEFAULT_CACHE = Path("/tmp/formcheck-synth-cache")


# ---- real clips --------------------------------------------------------------------------------

def extract_real(videos_dir, cache_dir=DEFAULT_CACHE) -> list[LandmarkSequence]:
    """BlazePose (mediapipe backend) landmarks of every video in ``videos_dir``, cached by file
    content in ``cache_dir``; a video that fails is logged and skipped."""
    from formcheck.device.pose.landmarks import create_estimator

    from .videos import VIDEO_EXTENSIONS, labels_from_path, video_sequence

    videos_dir, cache_dir = Path(videos_dir), Path(cache_dir)
    files = sorted(p for p in videos_dir.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    out, est = [], None
    for p in files:
        digest = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        cached = cache_dir / f"{p.stem}-{digest}.npz"
        if cached.exists():
            try:
                out.extend(read_sequences(cached))
                continue
            except Exception as e:  # a damaged cache entry is rebuilt
                log.warning("rebuilding damaged cache %s: %s", cached, e)
        try:
            if est is None:
                # BlazePose Full through LiteRT: mediapipe's landmarks without needing mediapipe
                est = create_estimator("litert", model="full")
            seq = video_sequence(p, est, labels=labels_from_path(p.name), group=p.stem)
        except Exception as e:
            log.warning("skipping %s: %s", p, e)
            continue
        seq.id = p.stem
        write_sequences(cached, [seq])
        out.append(seq)
    if est is not None:
        est.close()
    return out


# ---- statistics ----------------------------------------------------------------------------

def _iso(seq: LandmarkSequence) -> np.ndarray:
    return aspect_corrected(seq.landmarks, seq.image_size)


def torso_lengths(xyz: np.ndarray) -> np.ndarray:
    sh = (xyz[:, 11, :2] + xyz[:, 12, :2]) / 2
    hp = (xyz[:, 23, :2] + xyz[:, 24, :2]) / 2
    return np.linalg.norm(sh - hp, axis=-1)


def side_on(seq: LandmarkSequence) -> bool:
    """Filmed from the side: shoulders or hips look narrow next to the torso (the hips decide
    when something held at the shoulders, a barbell's plates, confuses the shoulders)."""
    xyz = _iso(seq)
    torso = np.maximum(torso_lengths(xyz), 1e-6)
    sw = np.nanmedian(np.linalg.norm(xyz[:, 11, :2] - xyz[:, 12, :2], axis=-1) / torso)
    hw = np.nanmedian(np.linalg.norm(xyz[:, 23, :2] - xyz[:, 24, :2], axis=-1) / torso)
    return bool(sw < 0.45 or hw < 0.3)


def facing_right(seq: LandmarkSequence) -> bool:
    """In a side view: the nose is right of the ears' midpoint (image right)."""
    lm = seq.landmarks
    return bool(np.nanmedian(lm[:, 0, 0] - (lm[:, 7, 0] + lm[:, 8, 0]) / 2) > 0)


@dataclass
class Stats:
    angles: dict  # name -> (p5, p50, p95)
    bones: dict  # name -> median ratio to torso
    jitter: dict  # group -> median |second difference| / torso
    visibility: dict  # group -> visibility samples (subsampled)
    z: dict  # group -> median |z| / torso (same units)
    present: float


def sequence_stats(seqs: list[LandmarkSequence], max_vis: int = 4000) -> Stats:
    ang_all, bones, jit, vis, zs, pres = [], {k: [] for k in BONES}, {g: [] for g in GROUPS}, \
        {g: [] for g in GROUPS}, {g: [] for g in GROUPS}, []
    for s in seqs:
        xyz = _iso(s)
        ok = np.isfinite(xyz[:, :, :2]).all(axis=(1, 2))
        pres.append(ok.mean())
        if ok.sum() < 3:
            continue
        torso = torso_lengths(xyz)
        tmed = float(np.nanmedian(torso[ok]))
        ang_all.append(joint_angles(xyz[ok]))
        for k, (i, j) in BONES.items():
            bones[k].append(np.linalg.norm(xyz[ok, i, :2] - xyz[ok, j, :2], axis=-1) / torso[ok])
        # jitter on runs of consecutive found frames
        d2 = np.linalg.norm(xyz[2:, :, :2] - 2 * xyz[1:-1, :, :2] + xyz[:-2, :, :2], axis=-1) / tmed
        good = ok[2:] & ok[1:-1] & ok[:-2]
        for g, ids in GROUPS.items():
            jit[g].append(d2[good][:, list(ids)].ravel())
            vis[g].append(s.landmarks[ok][:, list(ids), 3].ravel())
            zs[g].append(np.abs(xyz[ok][:, list(ids), 2]).ravel() / tmed)
    angles = {}
    A = np.concatenate(ang_all) if ang_all else np.full((1, len(ANGLE_NAMES)), np.nan)
    for i, n in enumerate(ANGLE_NAMES):
        v = A[:, i][np.isfinite(A[:, i])]
        angles[n] = tuple(float(x) for x in np.percentile(v, [5, 50, 95])) if len(v) else (np.nan,) * 3
    rng = np.random.default_rng(0)

    def cat(d):
        return {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in d.items()}

    vis_c = cat(vis)
    vis_c = {k: (rng.choice(v, max_vis, replace=False) if len(v) > max_vis else v) for k, v in vis_c.items()}
    return Stats(
        angles=angles,
        bones={k: float(np.nanmedian(np.concatenate(v))) if v else float("nan") for k, v in bones.items()},
        jitter={k: float(np.nanmedian(v)) if len(v) else float("nan") for k, v in cat(jit).items()},
        visibility={k: v.astype(float) for k, v in vis_c.items()},
        z={k: float(np.nanmedian(v)) if len(v) else float("nan") for k, v in cat(zs).items()},
        present=float(np.mean(pres)) if pres else 0.0,
    )


def range_overlap(real: tuple, syn: tuple) -> float:
    """Share of the real 5-95% range that the synthetic 5-95% range covers."""
    lo, hi = max(real[0], syn[0]), min(real[2], syn[2])
    width = max(real[2] - real[0], 1.0)
    return float(np.clip((hi - lo) / width, 0.0, 1.0))


# ---- matching synthetic clips ------------------------------------------------------------------

def matching_synthetic(seq: LandmarkSequence, n: int = 24, seed: int = 0) -> list[LandmarkSequence]:
    """Synthetic clips of ``seq``'s exercise from a matching camera side, fps and image size."""
    ex = seq.exercise if seq.exercise in EXERCISE_IDS else "squat"
    views = ["left-90", "right-90"] if side_on(seq) else ["front"]
    out = []
    for i in range(n):
        spec = synth.ClipSpec(ex, seed=seed, index=10_000 + i, view=views[i % len(views)],
                              fps=seq.fps or 30.0, image_size=tuple(seq.image_size) if seq.image_size[0] else None)
        out.extend(synth.make_clip(spec).sequences)
    return out


# ---- figures and table ------------------------------------------------------------------------

def _fig_angles(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(5.5 * len(rows), 4.8), squeeze=False)
    for ax, (name, real, syn) in zip(axes[0], rows, strict=True):
        y = np.arange(len(ANGLE_NAMES))
        for k, (st, col, off) in enumerate(((real, "#d9480f", -0.17), (syn, "#1c7ed6", 0.17))):
            lo = [st.angles[a][0] for a in ANGLE_NAMES]
            md = [st.angles[a][1] for a in ANGLE_NAMES]
            hi = [st.angles[a][2] for a in ANGLE_NAMES]
            ax.hlines(y + off, lo, hi, color=col, lw=5, alpha=0.7, label=["real", "synthetic"][k])
            ax.plot(md, y + off, "|", color="k", ms=8)
        ax.set_yticks(y, ANGLE_NAMES)
        ax.set_xlim(0, 180)
        ax.set_xlabel("angle (deg), 5-95% range, | median")
        ax.set_title(name, fontsize=10)
        ax.invert_yaxis()
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _fig_bars(rows, key, path, ylabel):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(getattr(rows[0][1], key))
    fig, axes = plt.subplots(1, len(rows), figsize=(5.5 * len(rows), 3.8), squeeze=False)
    for ax, (name, real, syn) in zip(axes[0], rows, strict=True):
        x = np.arange(len(names))
        ax.bar(x - 0.2, [getattr(real, key)[n] for n in names], 0.4, color="#d9480f", label="real")
        ax.bar(x + 0.2, [getattr(syn, key)[n] for n in names], 0.4, color="#1c7ed6", label="synthetic")
        ax.set_xticks(x, names, rotation=60, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(name, fontsize=10)
        if key == "jitter":
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _fig_vis(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(GROUPS)
    fig, axes = plt.subplots(len(rows), len(groups), figsize=(2.1 * len(groups), 2.0 * len(rows)), squeeze=False)
    bins = np.linspace(0, 1, 21)
    for r, (name, real, syn) in enumerate(rows):
        for c, g in enumerate(groups):
            ax = axes[r, c]
            for st, col in ((real, "#d9480f"), (syn, "#1c7ed6")):
                v = st.visibility[g]
                if len(v):
                    ax.hist(v, bins=bins, color=col, alpha=0.55, density=True)
            ax.set_yticks([])
            if r == 0:
                ax.set_title(g, fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle("visibility: real (orange) vs synthetic (blue)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def fault_gallery(out_dir, exercises=EXERCISE_IDS, seed: int = 1) -> list[Path]:
    """One PNG per exercise: a correct rep and each condition's fault (noise-free), from the
    front-ish and a side view."""
    from .synth_render import render_strip

    paths = []
    for ex in exercises:
        seqs, labels = [], []
        for view in ("left-45", "right-90"):
            for f in [None, *synth.condition_keys(ex)]:
                spec = synth.ClipSpec(ex, seed=seed, index=7, faults=(f,) if f else (), view=view,
                                      noise=0.0, fps=15)
                seqs.append(synth.make_clip(spec).sequences[0])
                labels.append(f"{ex}\n{'correct' if f is None else 'FAULT ' + f}\nview {view}")
        paths.append(render_strip(seqs, Path(out_dir) / f"{ex}.png", n=6, cell=150, labels=labels))
    return paths


def build_report(out_dir, videos_dir, cache_dir=DEFAULT_CACHE, n_synth: int = 24, seed: int = 0,
                 gallery: bool = True) -> Path:
    """Write the realism report; returns the markdown file's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reals = extract_real(videos_dir, cache_dir)
    if not reals:
        raise FileNotFoundError(f"no readable video in {videos_dir}")
    rows, stats_json = [], {}
    md = ["# Synthetic vs real landmarks", "",
          f"Real: BlazePose (mediapipe, full) on the videos in `{videos_dir}`. Synthetic: {n_synth} "
          "clips per real clip, same exercise, matching camera side, frame rate and image size "
          "(`formcheck.train.synth`, seed %d)." % seed, ""]
    for seq in reals:
        syn = matching_synthetic(seq, n_synth, seed)
        rs, ss = sequence_stats([seq]), sequence_stats(syn)
        label = f"{seq.id} ({seq.exercise or '?'}, {'side' if side_on(seq) else 'front'})"
        rows.append((label, rs, ss))
        ov = {a: range_overlap(rs.angles[a], ss.angles[a]) for a in ANGLE_NAMES}
        stats_json[seq.id] = {"real": _stats_json(rs), "synthetic": _stats_json(ss), "angle_overlap": ov}
        md += [f"## {label}", "", f"{len(seq.t)} frames at {seq.fps:g} fps, {seq.image_size[0]}x{seq.image_size[1]}; "
               f"person found in {rs.present:.0%} of real frames, {ss.present:.0%} of synthetic.", "",
               "| angle | real 5-50-95% | synthetic 5-50-95% | real range covered |", "|---|---|---|---|"]
        for a in ANGLE_NAMES:
            r, s = rs.angles[a], ss.angles[a]
            md.append(f"| {a} | {r[0]:.0f} / {r[1]:.0f} / {r[2]:.0f} | {s[0]:.0f} / {s[1]:.0f} / {s[2]:.0f} | {ov[a]:.0%} |")
        md += ["", "| measure | real | synthetic |", "|---|---|---|"]
        for k in BONES:
            md.append(f"| bone {k} / torso | {rs.bones[k]:.2f} | {ss.bones[k]:.2f} |")
        for g in GROUPS:
            md.append(f"| jitter {g} (torso/frame) | {rs.jitter[g]:.4f} | {ss.jitter[g]:.4f} |")
        for g in GROUPS:
            rv, sv = rs.visibility[g], ss.visibility[g]
            md.append(f"| visibility {g} median (share < 0.5) | {np.median(rv):.2f} ({np.mean(rv < 0.5):.0%}) "
                      f"| {np.median(sv):.2f} ({np.mean(sv < 0.5):.0%}) |")
        for g in ("face", "wrists", "knees"):
            md.append(f"| abs z {g} / torso | {rs.z[g]:.2f} | {ss.z[g]:.2f} |")
        md.append("")
    _fig_angles(rows, out / "angles.png")
    _fig_bars(rows, "bones", out / "bones.png", "length / torso")
    _fig_bars(rows, "jitter", out / "jitter.png", "median |2nd difference| / torso")
    _fig_vis(rows, out / "visibility.png")
    md += ["Figures: `angles.png`, `bones.png`, `jitter.png`, `visibility.png`."]
    if gallery:
        paths = fault_gallery(out / "faults")
        md += ["", "Fault gallery (noise-free, one correct rep then each condition's fault, two views): "
               + ", ".join(f"`faults/{p.name}`" for p in paths) + "."]
    (out / "stats.json").write_text(json.dumps(stats_json, indent=1))
    path = out / "report.md"
    path.write_text("\n".join(md) + "\n")
    return path


def _stats_json(st: Stats) -> dict:
    return {"angles": st.angles, "bones": st.bones, "jitter": st.jitter, "z": st.z, "present": st.present,
            "visibility_median": {g: float(np.median(v)) if len(v) else None for g, v in st.visibility.items()}}
