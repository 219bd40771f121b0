"""The Ray engine of ``formcheck-extract`` (``--engine ray``): the same inputs, the same dataset.

:func:`run_ray` maps :func:`formcheck.train.extraction.process_item` over the items of
:func:`formcheck.train.extract.discover` on a Ray cluster and returns the same
:class:`~formcheck.train.extraction.RunSummary` as the local engine, so the dataset, the
manifest and the printed summary are the local engine's. What Ray adds:

- **where it runs**: without ``address`` a local Ray instance is started (and stopped at the
  end); with one (``auto``, ``HOST:6379``) the run joins that cluster. Work goes to a pool of
  actors, one CPU each, spread over the nodes; every actor is a dedicated process that
  creates its pose estimator once and reuses it for every input it is given.
- **shared paths**: inputs and OUTDIR must be at the same path on every node (NFS/EFS, a
  mounted bucket). Each worker writes its input's ``.npz`` straight into OUTDIR — one file per
  input is one shard of the dataset, read by training with no merge step. Before its first
  input an actor checks that it sees a token file the driver wrote in OUTDIR, so a node where
  OUTDIR is a different, local folder stops the run with a clear error instead of scattering
  shards over local disks.
- **crashes**: an actor that dies on an input (a segfault in a decoder or the pose backend,
  ``os._exit``, the OOM killer, a lost node) is replaced and the input tried again on a fresh
  process, up to ``max_retries`` more times; then the input is reported as failed with the
  reason and the run goes on. Only one input is ever in flight per actor, so a death is blamed
  on exactly the input that caused it.
- the same rules otherwise: inputs whose output exists and reads back are skipped (resume),
  a bad input is a failed result (never an exception), a pose backend that cannot be created
  stops the run (:class:`~formcheck.train.extraction.BackendError`); SIGTERM stops it like
  Ctrl-C: actors killed, a local Ray instance shut down, the manifest written.

Ray is optional (``pip install 'formcheck[ray]'``); this module imports it only when called.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from formcheck.device.sequences import write_manifest

from .extraction import (
    BackendError,
    ExtractOptions,
    InputItem,
    ItemResult,
    RunSummary,
    collect_finished,
    prepare_worker,
    process_item,
    sigterm_interrupts,
    split_done,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_RETRIES = 2  # an input gets 1 + 2 tries before it is reported as crashing
RAY_MISSING = "the ray engine needs Ray: pip install 'formcheck[ray]'"
# Results are a few hundred bytes; the shards go to OUTDIR, never through Ray's object store.
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20
TOKEN_WAIT_S = 60.0  # how long a worker looks for the driver's token file in OUTDIR

Work = Callable[[InputItem, ExtractOptions, str], ItemResult]


class RayEngineError(BackendError):
    """The Ray engine cannot run (cannot join the cluster, no CPUs, OUTDIR not shared). Fatal for
    the whole run like a pose backend that cannot be created, so the CLI handles both alike."""


class SharedPathError(RayEngineError):
    """A worker does not see OUTDIR as the driver wrote it: the path is not shared."""


@dataclass
class RaySummary(RunSummary):
    """:class:`RunSummary` plus where the work ran and which worker processes died."""

    address: str = ""  # the cluster joined ("" = a local instance started for this run)
    nodes: int = 0
    cpus: float = 0.0
    actors: int = 0
    per_node: dict[str, int] = field(default_factory=dict)  # inputs extracted per node IP
    deaths: list[dict] = field(default_factory=list)  # one per worker death: input, attempt, detail

    def manifest(self, argv: list[str] | None = None, options: ExtractOptions | None = None) -> dict:
        m = super().manifest(argv, options)
        m["engine"] = "ray"
        m["ray"] = {"address": self.address or "local", "nodes": self.nodes, "cpus": self.cpus,
                    "actors": self.actors, "inputs_per_node": dict(sorted(self.per_node.items())),
                    "worker_deaths": self.deaths}
        return m

    def text(self) -> str:
        where = f"cluster {self.address}" if self.address else "a local Ray instance"
        line = (f"  ray: {self.actors} workers on {self.nodes} node(s) of {where} "
                f"({self.cpus:g} CPUs)")
        if self.deaths:
            line += f"; {len(self.deaths)} worker process death(s), inputs retried on fresh workers"
        return super().text() + "\n" + line


class _Extractor:
    """One Ray worker process: sets up like a local pool worker, then extracts inputs.

    Made a Ray actor by :func:`run_ray` (``ray.remote`` there keeps Ray an optional import)."""

    def __init__(self, options: ExtractOptions, needs_pose: bool, log_level: int, outdir: str,
                 token: str, cwd: str, work: Work | None, token_wait: float = TOKEN_WAIT_S):
        import ray

        # A dedicated process: blocking TensorFlow (mediapipe imports it, ~3 s) is safe here.
        prepare_worker(options, needs_pose, log_level)
        if os.path.isdir(cwd):  # relative input paths mean what they meant to the driver
            os.chdir(cwd)
        self.options, self.outdir, self.work = options, outdir, work or process_item
        self.node = ray.util.get_node_ip_address()
        self.token, self.token_seen, self.token_wait = token, False, token_wait

    def _check_outdir(self) -> None:
        marker = Path(self.outdir) / self.token
        # NFS clients cache "no such file" for up to a minute (acdirmax): look again before
        # blaming the mount. Listing the folder makes the client revalidate it.
        deadline = time.monotonic() + self.token_wait
        while True:
            try:
                if marker.read_text().strip() == self.token:
                    self.token_seen = True
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                break
            with contextlib.suppress(OSError):
                os.listdir(self.outdir)
            time.sleep(1.0)
        raise SharedPathError(
            f"worker on node {self.node} does not see OUTDIR {self.outdir} as the driver wrote it "
            f"(no {marker.name} there after {self.token_wait:g} s): OUTDIR must be a shared path (NFS, "
            "EFS, a mounted bucket) mounted at the same place on every node")

    def process(self, item: InputItem) -> tuple[ItemResult, str]:
        if not self.token_seen:
            self._check_outdir()
        return self.work(item, self.options, self.outdir), self.node


def _death_detail(e: Exception) -> str:
    """The useful part of Ray's actor-death message: exit detail, pid and node."""
    msg = str(e)
    detail = re.search(r"Worker exit detail: (.*?)(?:\s+Some common causes|\n|$)", msg)
    pid = re.search(r"\bpid: (\d+)", msg)
    ip = re.search(r"\bip: (\S+)", msg)
    text = detail.group(1).strip().rstrip(".") if detail else (msg.splitlines() or [type(e).__name__])[0]
    where = " on ".join(x for x in (f"pid {pid.group(1)}" if pid else "", ip.group(1) if ip else "") if x)
    return f"{text} ({where})" if where else text


def _crash_reason(attempts: int, detail: str) -> str:
    retries = attempts - 1
    tries = "once" if attempts == 1 else f"{attempts} times (1 try + {retries} retr{'y' if retries == 1 else 'ies'})"
    return (f"the worker process crashed on this input {tries}: a native error in the decoder or pose "
            f"backend, out of memory, or a lost node; last: {detail}")


def _connect(address: str | None, num_cpus: int | None) -> bool:
    """Start or join Ray; True when this call did it (and so must shut it down)."""
    import ray

    if ray.is_initialized():  # the caller's Ray (a notebook, the tests): use it as it is
        if address or num_cpus:
            log.warning("Ray is already initialised in this process; ignoring address/num_cpus")
        return False
    common = dict(log_to_driver=False, configure_logging=False)
    try:
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False,
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, **common)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"join the Ray cluster at {address}" if address else "start a local Ray instance"
        raise RayEngineError(f"cannot {where}: {e}") from e
    return True


def run_ray(items: list[InputItem], options: ExtractOptions, outdir: str | os.PathLike, *,
            address: str | None = None, num_cpus: int | None = None, actors: int | None = None,
            max_retries: int = DEFAULT_MAX_RETRIES, progress: bool = True,
            summary: RunSummary | None = None, manifest: bool = True, work: Work | None = None) -> RunSummary:
    """Extract ``items`` into ``outdir`` on Ray; never raises for a bad input.

    ``address``: a Ray cluster to join (``auto``, ``HOST:6379``); None starts a local instance
    with ``num_cpus`` CPUs (default: all). ``actors``: worker processes (default: one per CPU
    of the cluster). ``max_retries``: extra tries for an input whose worker process died.
    ``manifest`` writes ``OUTDIR/manifest.json`` at the end (also when interrupted).
    ``work`` replaces :func:`process_item` (same signature; must be importable on the workers).

    Raises :class:`ImportError` without Ray, :class:`BackendError` when the pose backend cannot
    be created, :class:`RayEngineError` (a BackendError) when Ray cannot be started or joined
    or a worker does not see OUTDIR (:class:`SharedPathError`); passes
    ``KeyboardInterrupt`` on. Either way ``summary`` (when given) holds what finished."""
    try:
        import ray
    except ImportError as e:
        raise ImportError(RAY_MISSING) from e

    if max_retries < 0:
        raise ValueError(f"max_retries must be at least 0, got {max_retries}")
    # Absolute: the workers may run elsewhere, in another working directory.
    outdir = os.path.abspath(outdir)
    t0 = time.perf_counter()
    summary = summary if summary is not None else RaySummary(outdir=outdir)
    by_item, todo = split_done(items, outdir)

    started = False
    token = f".formcheck-ray-{uuid.uuid4().hex}"
    marker = Path(outdir) / token
    handles: list = []
    finished = False
    stack = contextlib.ExitStack()
    try:
        if todo:
            started = _connect(address, num_cpus)
            # ray.init replaced the SIGTERM handler with a bare exit: stop like on Ctrl-C instead
            stack.enter_context(sigterm_interrupts())
            resources = ray.cluster_resources()
            cpus = float(resources.get("CPU", 0))
            n_actors = min(len(todo), actors or int(cpus))
            if n_actors < 1:
                raise RayEngineError(f"the Ray cluster has no CPUs to run workers on ({resources})")
            if isinstance(summary, RaySummary):
                summary.address = address or ""
                summary.nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
                summary.cpus, summary.actors = cpus, n_actors
            Path(outdir).mkdir(parents=True, exist_ok=True)
            marker.write_text(token)
            remote = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0,
                                scheduling_strategy="SPREAD")(_Extractor)
            needs_pose = any(options.needs_pose(i) for i in todo)
            level = logging.getLogger("formcheck").getEffectiveLevel()

            def new_actor():
                h = remote.remote(options, needs_pose, level, outdir, token, os.getcwd(), work)
                handles.append(h)
                return h

            _dispatch(todo, by_item, summary, new_actor, n_actors, max_retries, progress)
        finished = True
    except KeyboardInterrupt as e:  # also Terminated (SIGTERM)
        summary.mark_interrupted(e)
        raise
    finally:
        for h in handles:  # our own actors, by handle: an interrupted run must not wait
            with contextlib.suppress(Exception):  # never hide why we are stopping
                ray.kill(h, no_restart=True)
        marker.unlink(missing_ok=True)
        if started:
            ray.shutdown()
        stack.close()
        if not finished:  # the actors are gone: no output is still being written
            collect_finished(todo, by_item, outdir)
        summary.results = [by_item[i] for i in items if i in by_item]
        summary.seconds = time.perf_counter() - t0
        if manifest and (finished or summary.interrupted):
            write_manifest(outdir, summary.manifest(None, options))
    return summary


def _dispatch(todo: list[InputItem], by_item: dict[InputItem, ItemResult], summary: RunSummary,
              new_actor: Callable, n_actors: int, max_retries: int, progress: bool) -> None:
    """Feed ``todo`` to ``n_actors`` actors, one input in flight each (so a death is blamed on
    exactly one input); replace dead actors, retry, record every result in ``by_item``."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError
    from tqdm import tqdm

    pending = deque(todo)
    attempts: Counter = Counter()
    inflight: dict = {}  # ObjectRef -> (item, actor)
    bar = tqdm(total=len(todo), unit="input", disable=not progress, dynamic_ncols=True)
    n_failed = n_deaths = 0

    def submit(actor) -> None:
        it = pending.popleft()
        inflight[actor.process.remote(it)] = (it, actor)

    def finish(r: ItemResult) -> None:
        nonlocal n_failed
        by_item[r.item] = r
        n_failed += r.status == "failed"
        bar.update(1)
        if n_failed or n_deaths:
            bar.set_postfix(failed=n_failed, worker_deaths=n_deaths)

    try:
        for _ in range(min(n_actors, len(todo))):
            submit(new_actor())
        while inflight:
            [ref], _ = ray.wait(list(inflight), num_returns=1)
            it, actor = inflight.pop(ref)
            try:
                result, node = ray.get(ref)
            except RayActorError as e:
                attempts[it] += 1
                n_deaths += 1
                detail = _death_detail(e)
                if isinstance(summary, RaySummary):
                    summary.deaths.append({"input": it.path, "attempt": attempts[it], "detail": detail})
                actor = None  # dead; a fresh process takes its place when there is work left
                if attempts[it] <= max_retries:
                    log.warning("worker process died on %s (try %d of %d): %s; retrying on a fresh one",
                                it.path, attempts[it], max_retries + 1, detail)
                    pending.appendleft(it)
                else:
                    reason = _crash_reason(attempts[it], detail)
                    log.warning("failed: %s: %s", it.path, reason)
                    finish(ItemResult(item=it, status="failed", reason=reason))
            except RayTaskError as e:
                cause = getattr(e, "cause", None)
                if isinstance(cause, BackendError):  # incl. SharedPathError
                    raise cause from None  # no later input could succeed either
                # process_item turns input errors into results; this is a bug in ``work``
                reason = f"{type(cause).__name__}: {cause}" if cause is not None else str(e)
                log.warning("failed: %s: %s", it.path, reason)
                finish(ItemResult(item=it, status="failed", reason=reason))
            else:
                # The driver's own item object: equal by value, and the summary keys on it.
                finish(replace(result, item=it))
                if isinstance(summary, RaySummary) and result.status == "done":
                    summary.per_node[node] = summary.per_node.get(node, 0) + 1
            if pending:
                submit(actor or new_actor())
    finally:
        bar.close()
