"""``formcheck-extract``: AI-Hub label files, videos and image folders → a landmark dataset.

Every input file (an AI-Hub ``.json``, a video, a folder of frames) becomes one ``.npz`` of
the dataset format (:mod:`formcheck.device.sequences`) at a deterministic path under OUTDIR
that mirrors the input's path relative to the folder given on the command line
(``ROOT/squat/correct/a.mp4`` → ``OUTDIR/squat/correct/a.npz``; with several INPUT folders
each gets its own sub-folder named after it). Re-running skips inputs whose output exists
(and reads back), so an interrupted run resumes; outputs are written atomically. Inputs that
fail (malformed JSON, schema error, truncated or undecodable video, no frames) are logged,
counted and skipped; the run ends with a summary, also written to ``OUTDIR/manifest.json``.

Work is spread over a process pool (``--workers``, default all cores); each worker creates
its pose estimator once. The unit of work and the records both engines share live in
:mod:`formcheck.train.extraction`; ``--engine ray`` maps the same unit over a Ray cluster
(:mod:`formcheck.train.extract_ray`, docs/scale-out.md).

Exit codes: 0 every input extracted (or already present), 1 some inputs failed (see the
summary), 2 usage error (bad option, missing input, nothing to extract, pose backend
unavailable), 130 interrupted by Ctrl-C, 143 stopped by SIGTERM (either way the workers are
stopped, what finished is kept and the manifest written; re-run to resume).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path, PurePosixPath

from formcheck.device.pose.landmarks import BACKENDS
from formcheck.device.sequences import write_manifest

from . import videos
from .extraction import (
    BackendError,
    ExtractOptions,
    InputItem,
    ItemResult,
    RunSummary,
    collect_finished,
    extract_one,
    prepare_worker,
    process_item,
    sigterm_interrupts,
    split_done,
)

__all__ = ["BackendError", "ExtractOptions", "InputItem", "ItemResult", "RunSummary", "UsageError",
           "discover", "extract_one", "main", "process_item", "run"]

log = logging.getLogger(__name__)

KINDS = ("auto", "aihub", "videos", "images")
POSE_MODELS = ("lite", "full", "heavy")
ENGINES = ("local", "ray")


class UsageError(ValueError):
    """The command line cannot be carried out (exit code 2)."""


# ---- discovery -------------------------------------------------------------------------------

def _kind_of_file(p: Path) -> str | None:
    suffix = p.suffix.lower()
    if suffix == ".json":
        return "aihub"
    if suffix in videos.VIDEO_EXTENSIONS:
        return "video"
    return None


_KIND_FILTER = {"auto": {"aihub", "video", "images"}, "aihub": {"aihub"}, "videos": {"video"},
                "images": {"images"}}


def _scan(root: Path, kinds: set[str], exclude: set[Path]) -> list[tuple[str, Path, str]]:
    """(kind, path, rel) for every input under a folder, in sorted order."""
    found = []
    seen: set[Path] = set()  # real paths walked: a symlink loop is walked once
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        d = Path(dirpath)
        seen.add(d.resolve())
        dirnames[:] = sorted(n for n in dirnames if not n.startswith(".")
                             and (d / n).resolve() not in exclude and (d / n).resolve() not in seen)
        rel_dir = d.relative_to(root)
        has_images = False
        for name in sorted(filenames):
            # manifest.json: a dataset's summary (ours or another run's), never a label file
            if name.startswith(".") or name == "manifest.json":
                continue
            if name.lower().endswith("-3d.json"):  # AI-Hub's 3D keypoint files: another schema
                log.debug("not an AI-Hub 2D label file, skipped: %s", d / name)
                continue
            p = d / name
            kind = _kind_of_file(p)
            if kind in kinds:
                found.append((kind, p, (rel_dir / name).as_posix()))
            has_images |= p.suffix.lower() in videos.IMAGE_EXTENSIONS
        if has_images and "images" in kinds:
            rel = rel_dir.as_posix() if rel_dir != Path(".") else root.name
            found.append(("images", d, rel))
    return found


def discover(inputs: list[str | os.PathLike], kind: str = "auto",
             outdir: str | os.PathLike | None = None) -> list[InputItem]:
    """The inputs to extract, with their output paths; raises :class:`UsageError`."""
    if kind not in KINDS:
        raise UsageError(f"--kind {kind!r}: choose one of {', '.join(KINDS)}")
    kinds = _KIND_FILTER[kind]
    exclude = {Path(outdir).resolve()} if outdir is not None else set()
    roots = [Path(p) for p in inputs]
    # Several INPUT folders: each mirrors into a sub-folder named after it (made unique).
    prefixes: list[str] = []
    for r in roots:
        base = r.name if (len(roots) > 1 and r.is_dir()) else ""
        name, n = base, 2
        while name and name in prefixes:
            name, n = f"{base}-{n}", n + 1
        prefixes.append(name)
    found: list[tuple[str, Path, str, str]] = []
    for root, prefix in zip(roots, prefixes, strict=True):
        if not root.exists():
            raise UsageError(f"input {root} does not exist")
        if root.is_file():
            k = _kind_of_file(root)
            if k is None:
                raise UsageError(f"input {root}: not an AI-Hub .json label file or a video "
                                 f"({', '.join(sorted(videos.VIDEO_EXTENSIONS))})")
            if k not in kinds:
                raise UsageError(f"input {root} is a {k} input, but --kind is {kind}")
            found.append((k, root, root.name, ""))
        else:
            found.extend((k, p, rel, prefix) for k, p, rel in _scan(root, kinds, exclude))

    def out_name(k: str, rel: str, full: bool) -> str:
        r = PurePosixPath(rel)
        return str(r) + ".npz" if (full or k == "images") else str(r.with_suffix(".npz"))

    outs = [str(PurePosixPath(pre) / out_name(k, rel, False)) if pre else out_name(k, rel, False)
            for k, _, rel, pre in found]
    clash = {o for o, c in Counter(outs).items() if c > 1}
    items = []
    for (k, p, rel, pre), o in zip(found, outs, strict=True):
        if o in clash:  # a.mp4 beside a.avi: keep the extension in the output name
            o = str(PurePosixPath(pre) / out_name(k, rel, True)) if pre else out_name(k, rel, True)
        group = str(PurePosixPath(pre) / rel) if pre else rel
        items.append(InputItem(kind=k, path=str(p), rel=rel, out=o, group=group))
    dup = [o for o, c in Counter(i.out for i in items).items() if c > 1]
    if dup:
        raise UsageError(f"two inputs would write the same output {dup[0]}; extract them separately")
    return items


def _make_pool(workers: int, options: ExtractOptions, needs_pose: bool) -> ProcessPoolExecutor:
    # spawn, not fork: the parent may hold threads (tqdm) and native libraries' state.
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_init_pool_worker,
                               initargs=(options, needs_pose, logging.getLogger("formcheck").getEffectiveLevel()))


def _init_pool_worker(options: ExtractOptions, needs_pose: bool, log_level: int) -> None:
    # SIGTERM reaches the whole process group too: the parent stops the run and kills its
    # workers; a worker left behind by a parent killed outright dies with it.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    prepare_worker(options, needs_pose, log_level)


def _stop_pool(ex: ProcessPoolExecutor, kill: bool) -> None:
    if kill:
        # Our own worker processes, by id: an interrupted run must not wait for a long video.
        # SIGKILL: workers ignore SIGINT/SIGTERM (the parent decides, see prepare_worker).
        procs = list((getattr(ex, "_processes", None) or {}).values())
        for p in procs:
            p.kill()
        for p in procs:
            p.join(5.0)
    ex.shutdown(wait=not kill, cancel_futures=True)


def _run_pool(todo: list[InputItem], options: ExtractOptions, outdir: str, workers: int,
              on_result, work=None) -> None:
    """Run ``work`` (default :func:`process_item`; a picklable function with its signature)
    over ``todo`` in a process pool, calling ``on_result`` in this process for each result.
    A crashed worker fails only the input it crashed on."""
    work = work or process_item
    needs_pose = any(options.needs_pose(i) for i in todo)
    pending = deque(todo)
    suspects: deque[InputItem] = deque()
    while pending or suspects:
        if suspects:
            # After a worker crash, rerun the inputs that were in flight one by one, so only
            # the one that crashes is blamed.
            item = suspects.popleft()
            ex = _make_pool(1, options, needs_pose)
            try:
                on_result(ex.submit(work, item, options, outdir).result())
                _stop_pool(ex, kill=False)
            except BrokenProcessPool:
                _stop_pool(ex, kill=True)
                log.warning("failed: %s: the worker process crashed on it", item.path)
                on_result(ItemResult(item=item, status="failed",
                                     reason="the worker process crashed on this input "
                                            "(native error in the decoder or pose backend)"))
            except BaseException:
                _stop_pool(ex, kill=True)
                raise
            continue
        ex = _make_pool(workers, options, needs_pose)
        inflight: dict = {}
        broken = False
        try:
            while pending or inflight:
                while pending and len(inflight) < 2 * workers:
                    it = pending.popleft()
                    inflight[ex.submit(work, it, options, outdir)] = it
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for f in done:
                    it = inflight.pop(f)
                    try:
                        on_result(f.result())
                    except BrokenProcessPool:
                        suspects.append(it)
                        broken = True
                if broken:
                    log.warning("a worker process crashed; retrying its %d inputs one at a time",
                                len(suspects) + len(inflight))
                    suspects.extend(inflight.values())
                    inflight.clear()
                    break
        except BaseException:
            _stop_pool(ex, kill=True)
            raise
        _stop_pool(ex, kill=broken)


def run(items: list[InputItem], outdir: str | os.PathLike, options: ExtractOptions,
        workers: int = 1, progress: bool = False, summary: RunSummary | None = None) -> RunSummary:
    """Extract ``items`` into ``outdir`` (skipping those already there); never raises for a
    bad input. ``workers`` 1 runs in this process; more use a process pool.

    Raises :class:`BackendError` when the pose backend cannot be created, and passes
    ``KeyboardInterrupt`` on; either way ``summary`` (when given) holds what finished."""
    from tqdm import tqdm

    outdir = str(outdir)
    t0 = time.perf_counter()
    summary = summary if summary is not None else RunSummary(outdir=outdir)
    summary.total = len(items)
    by_item, todo = split_done(items, outdir)

    bar = tqdm(total=len(todo), unit="input", disable=not progress, dynamic_ncols=True)
    n_failed = 0

    def on_result(r: ItemResult) -> None:
        nonlocal n_failed
        by_item[r.item] = r
        n_failed += r.status == "failed"
        bar.update(1)
        if n_failed:
            bar.set_postfix(failed=n_failed)

    try:
        if todo and (workers <= 1 or len(todo) == 1):
            for it in todo:
                on_result(process_item(it, options, outdir))
        elif todo:
            _run_pool(todo, options, outdir, min(workers, len(todo)), on_result)
    except KeyboardInterrupt as e:  # also Terminated (SIGTERM)
        summary.mark_interrupted(e)
        collect_finished(todo, by_item, outdir)  # the pool is stopped: no output is still being written
        raise
    finally:
        bar.close()
        summary.results = [by_item[i] for i in items if i in by_item]
        summary.seconds = time.perf_counter() - t0
    return summary


# ---- CLI ----------------------------------------------------------------------------------------

EPILOG = """\
input kinds (--kind auto finds all of them under each INPUT folder):
  aihub    AI-Hub fitness label files (*.json, not *-3d.json): five view sequences per
           file. Without --images-root the labelled keypoints are mapped onto BlazePose's
           layout (labels-only: fast, no pose model). With --images-root, BlazePose runs
           on the images each file's img_key names under that folder. Views view1..view5
           become sequences with view A..E (cameras left 135°, left 45°, front, right 45°,
           right 135°), grouped by clip (the file name).
  videos   ROOT/<exercise>/<label>/*.mp4 (also .mov .avi .mkv .webm ...), or a flat folder
           of videos (exercise from the file name prefix: squat_front.mp4 -> squat).
  images   ROOT/<exercise>/<label>/<clip>/*.jpg|png: one sequence per folder of frames.
  <label> is correct | incorrect | a condition name or key (that condition false).

output: OUTDIR mirrors the inputs (one .npz per input; see formcheck.device.sequences),
plus OUTDIR/manifest.json with the run's summary. Re-running skips inputs already
extracted, so an interrupted run resumes; use a new OUTDIR to re-extract with other options.

exit codes: 0 all inputs extracted or already present; 1 some inputs failed (listed in
the summary and the manifest; the others are extracted); 2 usage error or pose backend
unavailable; 130 interrupted (Ctrl-C), 143 stopped by SIGTERM: workers stopped, what
finished kept, the manifest written; re-run to resume.

examples:
  formcheck-extract ../shared/data/aihub-sample -o data/aihub
  formcheck-extract aihub/labels --images-root aihub/images -o data/aihub-bp --workers 8
  formcheck-extract ~/clips -o data/clips            # ~/clips/squat/correct/*.mp4 ...
  formcheck-extract ../shared/data/videos -o data/videos --workers 1 -v
  formcheck-extract frames/ --kind images --image-fps 15 -o data/frames
  formcheck-extract /mnt/shared/aihub/labels --images-root /mnt/shared/aihub/images \
      -o /mnt/shared/datasets/aihub-bp --engine ray --address auto   # on a Ray cluster

--engine ray (pip install 'formcheck[ray]') runs the same extraction on Ray: a local Ray
instance, or with --address a running cluster whose nodes all mount the inputs and OUTDIR
at the same path (docs/scale-out.md). Same dataset, resume, summary and exit codes; a worker
process that dies on an input is replaced and the input retried (--max-retries).
"""


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="formcheck-extract",
        description="Turn AI-Hub fitness label files, exercise videos and image folders into a\n"
                    "landmark dataset (BlazePose 33-landmark sequences with labels) for training.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="folders or files to extract (AI-Hub .json, videos, image folders)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="dataset folder to write")
    p.add_argument("--kind", choices=KINDS, default="auto",
                   help="what to look for in the inputs (default: auto = everything)")
    p.add_argument("--images-root", metavar="DIR",
                   help="AI-Hub images folder: run BlazePose on the images instead of using the labels")
    p.add_argument("--workers", type=int, default=_default_workers(), metavar="N",
                   help="parallel worker processes (default: all cores, here %(default)s; 1 = in this process)")
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: a process pool on this machine (default); ray: Ray, a local instance or "
                        "a cluster (needs formcheck[ray]; see docs/scale-out.md)")
    p.add_argument("--address", metavar="ADDR",
                   help="--engine ray: join this running Ray cluster (auto, HOST:6379); without it a "
                        "local Ray instance is started for the run. Ray uses one worker per CPU of "
                        "the cluster (--workers is for the local engine)")
    p.add_argument("--ray-num-cpus", type=int, metavar="N",
                   help="--engine ray without --address: CPUs of the local Ray instance (default: all)")
    p.add_argument("--max-retries", type=int, default=2, metavar="N",
                   help="--engine ray: more tries for an input whose worker process died, on a fresh "
                        "process (default: %(default)s)")
    p.add_argument("--backend", default="litert", choices=sorted(b for b in BACKENDS if b != "replay"),
                   help="pose backend for videos and images (default: %(default)s)")
    p.add_argument("--model", default="full", choices=POSE_MODELS,
                   help="BlazePose landmark model (default: full, the model the shipped datasets "
                        "were extracted with; litert ships lite and full, heavy after "
                        "`formcheck-pose-models install heavy`; mediapipe bundles only full)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N inputs (in sorted order)")
    p.add_argument("--max-frames", type=int, metavar="N",
                   help="only the first N frames of each video / image folder (quick looks)")
    p.add_argument("--image-fps", type=float, default=videos.DEFAULT_FPS, metavar="FPS",
                   help="frame rate of image-folder clips, for timestamps (default: %(default)s)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, errors only")
    return p


def _check_backend(options: ExtractOptions) -> None:
    module = BACKENDS[options.backend].partition(":")[0]
    if importlib.util.find_spec(module) is None:
        raise UsageError(f"pose backend {options.backend!r} is not available in this version "
                         f"of formcheck (no module {module})")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2): return, don't exit
        return int(e.code or 0)

    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    pkg_log = logging.getLogger("formcheck")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    pkg_log.addHandler(handler)
    old_level = pkg_log.level
    pkg_log.setLevel(level)
    try:
        return _main(args, argv, parser)
    finally:
        pkg_log.removeHandler(handler)
        pkg_log.setLevel(old_level)


def _main(args, argv: list[str], parser: argparse.ArgumentParser) -> int:
    def usage(msg: str) -> int:
        parser.print_usage(sys.stderr)
        print(f"formcheck-extract: error: {msg}", file=sys.stderr)
        return 2

    if args.workers < 1:
        return usage("--workers must be at least 1")
    if args.engine != "ray" and (args.address or args.ray_num_cpus is not None):
        return usage("--address and --ray-num-cpus need --engine ray")
    if args.ray_num_cpus is not None and (args.ray_num_cpus < 1 or args.address):
        return usage("--ray-num-cpus must be at least 1, and sizes a local Ray instance (not with --address)")
    if args.max_retries < 0:
        return usage("--max-retries must be at least 0")
    if args.engine == "ray" and importlib.util.find_spec("ray") is None:
        return usage("--engine ray needs Ray: pip install 'formcheck[ray]'")
    for name in ("limit", "max_frames"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            return usage(f"--{name.replace('_', '-')} must be at least 1")
    if not args.image_fps > 0:
        return usage("--image-fps must be positive")
    if args.images_root is not None and not Path(args.images_root).is_dir():
        return usage(f"--images-root {args.images_root} is not a folder")
    # Several workers already fill the cores: one backend thread each (litert; mediapipe's
    # legacy solution is single-threaded on Linux anyway).
    options = ExtractOptions(backend=args.backend, model=args.model, images_root=args.images_root,
                             image_fps=args.image_fps, max_frames=args.max_frames,
                             threads=1 if args.workers > 1 or args.engine == "ray" else 0)
    outdir = Path(args.output)
    if outdir.exists() and not outdir.is_dir():
        return usage(f"-o {outdir} exists and is not a folder")
    try:
        items = discover(args.inputs, args.kind, outdir)
        if args.limit is not None:
            items = items[: args.limit]
        if not items:
            raise UsageError("found nothing to extract in " + ", ".join(args.inputs)
                             + f" (--kind {args.kind})")
        if any(options.needs_pose(i) for i in items):
            _check_backend(options)
    except UsageError as e:
        return usage(str(e))

    outdir.mkdir(parents=True, exist_ok=True)
    kinds = Counter(i.kind for i in items)
    log.info("%d inputs (%s) → %s, %d workers", len(items),
             ", ".join(f"{k} {v}" for k, v in kinds.items()), outdir, args.workers)
    progress = not args.quiet and sys.stderr.isatty()
    redirect = _tqdm_logging() if progress else contextlib.nullcontext()
    summary = RunSummary(outdir=str(outdir))
    try:
        with sigterm_interrupts(), redirect:
            if args.engine == "ray":
                from .extract_ray import RaySummary, run_ray

                summary = RaySummary(outdir=str(outdir))
                run_ray(items, options, outdir, address=args.address, num_cpus=args.ray_num_cpus,
                        max_retries=args.max_retries, progress=progress, summary=summary, manifest=False)
            else:
                run(items, outdir, options, workers=args.workers, progress=progress, summary=summary)
    except BackendError as e:  # also extract_ray.RayEngineError: cannot start/join Ray, OUTDIR not shared
        print(f"formcheck-extract: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated): keep what finished
        summary.mark_interrupted(e)
    write_manifest(outdir, summary.manifest(["formcheck-extract", *argv], options))
    print(summary.text())
    print(f"  manifest: {outdir / 'manifest.json'}")
    return summary.exit_code


def _tqdm_logging():
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm(loggers=[logging.getLogger("formcheck")])


if __name__ == "__main__":
    sys.exit(main())

