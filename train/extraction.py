"""The unit of work of ``formcheck-extract`` and its records, shared by both engines.

An engine (the local process pool in :mod:`formcheck.train.extract`, Ray in
:mod:`formcheck.train.extract_ray`) splits the items into done and to-do
(:func:`split_done`), sets up each worker process with :func:`prepare_worker`, maps
:func:`process_item` over the rest and collects the results in a :class:`RunSummary`.
:func:`sigterm_interrupts` makes SIGTERM stop a run the way Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from formcheck.device.pose.landmarks import PoseError, create_estimator
from formcheck.device.sequences import TMP_PREFIX, LandmarkSequence, read_sequences, write_sequences

from . import aihub, videos

log = logging.getLogger(__name__)

class BackendError(RuntimeError):
    """The pose backend cannot be created; fatal for the whole run (exit code 2)."""


@dataclass(frozen=True)
class InputItem:
    """One unit of work: an AI-Hub label file, a video, or a folder of frames."""

    kind: str  # aihub | video | images
    path: str  # the input on disk
    rel: str  # its path relative to the INPUT it was found under (exercise/label come from it)
    out: str  # its output file, relative to OUTDIR
    group: str = ""  # the clip id for grouped splits (videos, image folders)


@dataclass(frozen=True)
class ExtractOptions:
    backend: str = "litert"
    model: str = "full"
    images_root: str | None = None  # AI-Hub images mode when set
    image_fps: float = videos.DEFAULT_FPS  # frame rate of image-folder clips
    max_frames: int | None = None  # per video / image folder (quick looks)
    threads: int = 0  # pose backend threads where it has the option (litert); 0 = all cores

    def needs_pose(self, item: InputItem) -> bool:
        return item.kind != "aihub" or self.images_root is not None


@dataclass
class ItemResult:
    item: InputItem
    status: str  # done | skipped (already extracted) | ignored (not an input file) | failed
    reason: str = ""
    sequences: int = 0
    frames: int = 0
    person_frames: int = 0
    exercises: dict[str, int] = field(default_factory=dict)
    origins: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


# ---- one item ----------------------------------------------------------------------------------

_ESTIMATORS: dict[tuple, object] = {}  # per process: created once, reused per item


def _estimator(options: ExtractOptions):
    key = (options.backend, options.model, options.threads)
    if key not in _ESTIMATORS:
        try:
            _ESTIMATORS[key] = create_estimator(options.backend, model=options.model, static=False,
                                                threads=options.threads)
        except (PoseError, ImportError, OSError, RuntimeError) as e:
            raise BackendError(f"cannot create pose backend {options.backend!r} "
                               f"(model {options.model!r}): {e}") from e
    return _ESTIMATORS[key]


def extract_one(item: InputItem, options: ExtractOptions) -> list[LandmarkSequence]:
    """The sequences of one input. Reads the input, writes nothing (the engine writes)."""
    if item.kind == "aihub":
        clip = aihub.load_clip(item.path)
        if options.images_root is None:
            return aihub.labels_sequences(clip)
        seqs = aihub.image_sequences(clip, options.images_root, _estimator(options))
    elif item.kind == "video":
        seqs = [videos.video_sequence(item.path, _estimator(options),
                                      labels=videos.labels_from_path(item.rel), group=item.group,
                                      max_frames=options.max_frames)]
    elif item.kind == "images":
        seqs = [videos.image_folder_sequence(item.path, _estimator(options),
                                             labels=videos.labels_from_path(item.rel),
                                             group=item.group, fps=options.image_fps,
                                             max_frames=options.max_frames)]
    else:
        raise ValueError(f"unknown input kind {item.kind!r}")
    for s in seqs:
        s.extra["pose_backend"] = options.backend
        s.extra["pose_model"] = options.model
    return seqs


def item_result(item: InputItem, status: str, seqs: list[LandmarkSequence], seconds: float) -> ItemResult:
    """The result record of an input whose sequences are ``seqs`` (extracted or read back)."""
    # A person is found in a frame when any landmark is finite (AI-Hub labels leave the
    # BlazePose points they have no counterpart for NaN).
    person = sum(int(np.isfinite(s.landmarks[:, :, 0]).any(axis=1).sum()) for s in seqs)
    return ItemResult(item=item, status=status, sequences=len(seqs),
                      frames=sum(len(s.t) for s in seqs), person_frames=person,
                      exercises=dict(Counter(s.exercise for s in seqs)),
                      origins=dict(Counter(s.origin for s in seqs)), seconds=seconds)


def process_item(item: InputItem, options: ExtractOptions, outdir: str) -> ItemResult:
    """Extract one input and write its ``.npz``; every input error becomes a failed result.

    :class:`BackendError` propagates: no later input could succeed either."""
    t0 = time.perf_counter()
    try:
        seqs = extract_one(item, options)
        if not seqs:
            raise ValueError("no sequences")
        write_sequences(Path(outdir) / item.out, seqs)
    except BackendError:
        raise
    except aihub.NotAihubFileError as e:  # e.g. a folder's own notes or labels beside its videos
        log.info("ignored: %s: %s", item.path, e.problem)
        return ItemResult(item=item, status="ignored", reason=e.problem, seconds=time.perf_counter() - t0)
    except Exception as e:  # one bad input must never lose the run
        reason = str(e) or type(e).__name__
        reason = reason.removeprefix(f"{item.path}: ")  # the manifest names the input already
        if not isinstance(e, aihub.AihubFormatError | videos.VideoDecodeError):
            reason = f"{type(e).__name__}: {reason}"
        log.warning("failed: %s: %s", item.path, reason)
        log.debug("traceback for %s", item.path, exc_info=True)
        return ItemResult(item=item, status="failed", reason=reason, seconds=time.perf_counter() - t0)
    res = item_result(item, "done", seqs, time.perf_counter() - t0)
    log.info("done: %s → %s (%d sequences, %d frames)", item.path, item.out, res.sequences, res.frames)
    return res


# ---- running many ------------------------------------------------------------------------------

def _read_back(it: InputItem, outdir: str, status: str) -> ItemResult | None:
    """The result of ``it`` read back from its output (outputs are written atomically: one
    that exists is whole); None when there is none or it does not read back."""
    out = Path(outdir) / it.out
    if not out.exists():
        return None
    try:
        return item_result(it, status, read_sequences(out), 0.0)
    except Exception as e:  # an unreadable output is redone, not trusted
        log.warning("re-extracting %s: its output %s is unreadable (%s)", it.path, out, e)
        return None


def split_done(items: list[InputItem], outdir: str) -> tuple[dict[InputItem, ItemResult], list[InputItem]]:
    """The resume rule: an input whose output exists and reads back is skipped (its result
    is returned); every other input is to do."""
    done: dict[InputItem, ItemResult] = {}
    todo: list[InputItem] = []
    for it in items:
        if (r := _read_back(it, outdir, "skipped")) is not None:
            done[it] = r
        else:
            todo.append(it)
    if done:
        log.info("%d of %d inputs already extracted; skipping them", len(done), len(items))
    return done, todo


def collect_finished(todo: list[InputItem], by_item: dict[InputItem, ItemResult], outdir: str) -> None:
    """After a stop, with the workers gone: an input whose output a worker wrote before the
    stop, but whose result never reached this process, is recorded as done, so that the
    manifest says what is on disk (and a re-run skips exactly those); the temporary file of an
    output a stopped worker was still writing is removed."""
    folders = set()
    for it in todo:
        if it in by_item:
            continue
        if (r := _read_back(it, outdir, "done")) is not None:
            by_item[it] = r
        folders.add((Path(outdir) / it.out).parent)
    for folder in folders:  # once per folder, however many of its inputs were unfinished
        for tmp in folder.glob(f"{TMP_PREFIX}*"):
            tmp.unlink(missing_ok=True)


def prepare_worker(options: ExtractOptions, needs_pose: bool, log_level: int) -> None:
    """Set up a dedicated worker process (either engine's): logging, signals, the pose
    estimator created once."""
    # A dedicated extraction process never needs TensorFlow; mediapipe would import it
    # (~3 s per worker) if it could.
    sys.modules.setdefault("tensorflow", None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the driver decides
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    if needs_pose:
        try:
            _estimator(options)
        except BackendError as e:  # reported by the first item (see process_item)
            log.debug("%s", e)


_SIGNALLED: list[int] = []  # signals sigterm_interrupts() turned into an interrupt, this run


class Terminated(KeyboardInterrupt):
    """The run was asked to stop by a signal other than SIGINT (SIGTERM): handled like Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def sigterm_interrupts():
    """Within the block, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt), so a run
    stops as on Ctrl-C: workers stopped, what finished kept, the manifest written. Only in
    the main thread (elsewhere signals cannot be handled); the previous handler is restored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False
    _SIGNALLED.clear()

    def handler(signum, frame):
        nonlocal fired
        if fired:  # already stopping: let the cleanup finish
            log.warning("%s again: still stopping", signal.Signals(signum).name)
            return
        fired = True
        _SIGNALLED.append(signum)
        raise Terminated(signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@dataclass
class RunSummary:
    """What a run did, input by input: the printed summary, the manifest and the exit code."""

    outdir: str
    results: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    stopped_by: int = signal.SIGINT  # the signal that interrupted the run
    total: int = 0  # inputs of the run (more than results when interrupted)

    def mark_interrupted(self, e: KeyboardInterrupt) -> None:
        self.interrupted = True
        # Ray re-raises an interrupt inside ray.wait/ray.get as a plain KeyboardInterrupt: the
        # handler's record says which signal it was.
        self.stopped_by = getattr(e, "signum", None) or (_SIGNALLED[-1] if _SIGNALLED else signal.SIGINT)

    def by_status(self, status: str) -> list[ItemResult]:
        return [r for r in self.results if r.status == status]

    @property
    def failed(self) -> list[ItemResult]:
        return self.by_status("failed")

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 128 + int(self.stopped_by)  # 130 on Ctrl-C, 143 on SIGTERM
        return 1 if self.failed else 0

    def totals(self) -> dict:
        ok = [r for r in self.results if r.status in ("done", "skipped")]
        ex, org = Counter(), Counter()
        for r in ok:
            ex.update(r.exercises)
            org.update(r.origins)
        frames = sum(r.frames for r in ok)
        done = self.by_status("done")
        done_frames = sum(r.frames for r in done)
        return {
            "inputs": len(self.results), "done": len(done),
            "skipped_existing": len(self.by_status("skipped")), "failed": len(self.failed),
            "ignored": len(self.by_status("ignored")),
            "sequences": sum(r.sequences for r in ok), "frames": frames,
            "person_frames": sum(r.person_frames for r in ok),
            "per_exercise": dict(sorted(ex.items())), "per_origin": dict(sorted(org.items())),
            "seconds": round(self.seconds, 3),
            "extracted_frames_per_second": (round(done_frames / self.seconds, 2)
                                            if self.seconds > 0 and done_frames else None),
        }

    def manifest(self, argv: list[str] | None = None, options: ExtractOptions | None = None) -> dict:
        return {
            "tool": "formcheck-extract",
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": argv,
            "options": asdict(options) if options else None,
            "interrupted": self.interrupted,
            "stopped_by": signal.Signals(self.stopped_by).name if self.interrupted else None,
            "total_inputs": self.total,
            **self.totals(),
            "failures": [{"input": r.item.path, "reason": r.reason} for r in self.failed],
            "files": [{"input": r.item.path, "kind": r.item.kind, "output": r.item.out,
                       "status": r.status, "reason": r.reason, "sequences": r.sequences,
                       "frames": r.frames, "person_frames": r.person_frames,
                       "seconds": round(r.seconds, 3)} for r in self.results],
        }

    def text(self) -> str:
        t = self.totals()
        head = (f"{t['inputs']} of {self.total} inputs" if self.total > t["inputs"]
                else f"{t['inputs']} inputs")
        lines = [f"formcheck-extract: {head} → {self.outdir}"
                 + (f" (INTERRUPTED by {signal.Signals(self.stopped_by).name}: re-run to resume)"
                    if self.interrupted else ""),
                 f"  done {t['done']}, skipped (already extracted) {t['skipped_existing']}, "
                 f"failed {t['failed']}" + (f", ignored {t['ignored']}" if t["ignored"] else "")
                 + f"  in {self.seconds:.1f} s"]
        if t["sequences"]:
            pct = 100.0 * t["person_frames"] / max(t["frames"], 1)
            lines.append(f"  sequences {t['sequences']} ("
                         + ", ".join(f"{k} {v}" for k, v in t["per_origin"].items())
                         + f"); frames {t['frames']}, person found in {pct:.1f}%")
            lines.append("  per exercise: " + ", ".join(f"{k or '(none)'} {v}"
                                                       for k, v in t["per_exercise"].items()))
        posed = [r for r in self.results if r.status in ("done", "skipped") and r.item.kind != "aihub"
                 and r.frames]
        if posed:
            shown = sorted(posed, key=lambda r: r.person_frames / r.frames)
            if len(shown) > 20:
                lines.append("  person found, the 20 lowest:")
                shown = shown[:20]
            else:
                lines.append("  person found per clip:")
            lines += [f"    {100.0 * r.person_frames / r.frames:5.1f}%  {r.frames:6d} frames  {r.item.path}"
                      for r in shown]
        if t["done"] and t["extracted_frames_per_second"]:
            lines.append(f"  extraction speed {t['extracted_frames_per_second']:.1f} frames/s")
        ignored = self.by_status("ignored")
        if ignored:
            lines.append(f"  ignored, not input files ({len(ignored)}):")
            lines += [f"    {r.item.path}: {r.reason}" for r in ignored]
        if self.failed:
            lines.append(f"  failed inputs ({len(self.failed)}):")
            lines += [f"    {r.item.path}: {r.reason}" for r in self.failed]
        return "\n".join(lines)


