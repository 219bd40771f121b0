"""Datasets: many clips over a pool of worker processes; resumable, and identical whatever the
worker count."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from formcheck.device.exercises import EXERCISE_IDS, IDLE
from formcheck.device.sequences import write_manifest, write_sequences

from .body import DEFAULT_BODIES, body_pool
from .clip import GENERATOR_VERSION, ClipSpec, clip_id, make_clip
from .labels import KINDS, OTHER, UNJUDGED, condition_keys

log = logging.getLogger(__name__)


@dataclass
class SynthConfig:
    exercises: tuple[str, ...] = EXERCISE_IDS
    clips_per_exercise: int = 100
    idle_clips: int | None = None  # default: same as clips_per_exercise; 0 for none
    other_clips: int | None = None  # ``other`` movements (when listed in exercises); default as idle
    seed: int = 0
    views_per_clip: int = 1
    p_correct: float = 0.3
    noise: float = 1.0
    bodies: int | None = None  # size of the body pool (default DEFAULT_BODIES)

    def __post_init__(self):
        bad = [e for e in self.exercises if e not in KINDS]
        if bad:
            raise ValueError(f"exercises: unknown {', '.join(bad)}; known: {', '.join(KINDS)}")
        if self.clips_per_exercise < 0:
            raise ValueError("clips_per_exercise must be >= 0")
        if not 0 <= self.p_correct <= 1:
            raise ValueError("p_correct must be within 0..1")
        if self.views_per_clip < 1:
            raise ValueError("views_per_clip must be >= 1")

    def tasks(self) -> list[tuple[str, int]]:
        kinds = [e for e in self.exercises if e not in UNJUDGED]
        out = [(k, i) for k in kinds for i in range(self.clips_per_exercise)]
        for kind, n in ((IDLE, self.idle_clips), (OTHER, self.other_clips)):
            if kind in self.exercises:
                out += [(kind, i) for i in range(self.clips_per_exercise if n is None else n)]
        return out

    def pool_size(self) -> int:
        return self.bodies or DEFAULT_BODIES


_WORKER: dict = {}


def _init_worker(cfg: SynthConfig, out: str):
    _WORKER["cfg"] = cfg
    _WORKER["out"] = Path(out)
    _WORKER["bodies"] = body_pool(cfg.seed, cfg.pool_size())


def _run_task(task: tuple[str, int]) -> dict:
    kind, i = task
    cfg: SynthConfig = _WORKER["cfg"]
    out: Path = _WORKER["out"]
    path = out / kind / f"{clip_id(kind, cfg.seed, i)}.npz"
    if path.exists():  # resume
        return {"kind": kind, "skipped": True}
    spec = ClipSpec(kind, cfg.seed, i, views_per_clip=cfg.views_per_clip, p_correct=cfg.p_correct, noise=cfg.noise)
    try:
        clip = make_clip(spec, _WORKER["bodies"])
    except Exception as e:  # one broken clip must not kill a long run
        log.exception("clip %s %d failed", kind, i)
        return {"kind": kind, "error": f"{type(e).__name__}: {e}"}
    write_sequences(path, clip.sequences)
    s = clip.sequences[0]
    keys = condition_keys(kind) if kind not in UNJUDGED else []
    return {"kind": kind, "frames": int(sum(len(q.t) for q in clip.sequences)), "correct": s.correct,
            "failed": [k for k, v in zip(keys, s.condition_values, strict=True) if v is False],
            "reps": len(s.reps), "views": [q.view for q in clip.sequences]}


def generate_dataset(out_dir, cfg: SynthConfig, workers: int = 1, progress: bool = True) -> dict:
    """Write the dataset (one ``.npz`` per clip under ``OUT/<kind>/``) and its manifest.

    Existing clip files are kept (resumable). Returns the manifest summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = cfg.tasks()
    t0 = time.perf_counter()
    results = []
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(tasks), unit="clip", desc="synth", smoothing=0.05)
        except ImportError:  # pragma: no cover - tqdm is a dependency; stay usable without it
            bar = None
    workers = max(1, int(workers))
    if workers == 1:
        _init_worker(cfg, str(out))
        for task in tasks:
            results.append(_run_task(task))
            if bar:
                bar.update()
    else:
        import multiprocessing as mp

        ctxm = mp.get_context("fork" if os.name == "posix" else "spawn")
        with ctxm.Pool(workers, initializer=_init_worker, initargs=(cfg, str(out))) as pool:
            for r in pool.imap_unordered(_run_task, tasks, chunksize=4):
                results.append(r)
                if bar:
                    bar.update()
    if bar:
        bar.close()
    elapsed = time.perf_counter() - t0
    errors = [r for r in results if "error" in r]
    made = [r for r in results if "frames" in r]
    per_kind = Counter(r["kind"] for r in made)
    fails: dict[str, Counter] = {}
    for r in made:
        if r["kind"] not in UNJUDGED:
            fails.setdefault(r["kind"], Counter()).update(r["failed"])
    summary = {
        "origin": "synthetic",
        "generator": f"formcheck.train.synth v{GENERATOR_VERSION}",
        "config": {**asdict(cfg), "exercises": list(cfg.exercises)},
        "clips": len(made), "skipped_existing": sum(1 for r in results if r.get("skipped")),
        "errors": [r["error"] for r in errors][:20], "n_errors": len(errors),
        "frames": int(sum(r["frames"] for r in made)),
        "per_kind": dict(per_kind),
        "correct_clips": int(sum(1 for r in made if r["correct"])),
        "failed_conditions": {k: dict(v) for k, v in fails.items()},  # clips with the condition false
        "views": dict(Counter(v for r in made for v in r["views"])),
        "seconds": round(elapsed, 2),
        "clips_per_second": round(len(made) / elapsed, 2) if elapsed > 0 else None,
        "workers": workers,
        "fingerprint": hashlib.sha256(repr((asdict(cfg), GENERATOR_VERSION)).encode()).hexdigest()[:16],
    }
    write_manifest(out, summary)
    if errors:
        log.warning("%d clips failed (first: %s)", len(errors), errors[0]["error"])
    return summary
