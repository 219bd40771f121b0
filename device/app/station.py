"""The station's loop: newest frame → pose (its own thread) → judge → outputs, one frame at a time.

Nothing a frame, a pose backend, the judge or an output does can stop the loop: failures are
caught, counted and logged at a bounded rate. Service behaviour (systemd ``Type=notify``,
watchdog, exit codes) is described in ``docs/raspberry-pi.md``.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from ..events import CameraEvent, RepEvent, StatsEvent
from ..outputs.resilience import FailureLog
from ..pose.landmarks import Pose, pipeline_depth
from . import build
from .build import EXIT_FATAL, EXIT_OK, FAILURE_LOG_S
from .config import Config
from .pose_stage import PoseStage

log = logging.getLogger(__name__)


def rss_mb() -> float:
    """Resident memory of this process in MB, from /proc/self/statm (0 where absent)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


NOBODY_AFTER_S = 0.5  # a camera silent this long is "nobody" to the judge (a glitch is not)


class ThreadFailed(RuntimeError):
    """A capture or output thread died: the station stops with a non-zero exit."""


class Station:
    """The loop and its parts. Parts can be injected (tests, benchmarks); missing ones are
    built from the config by :meth:`setup`."""

    def __init__(self, cfg: Config, *, notifier=None, source=None, estimator=None, judge=None,
                 outputs=None, pin_factory: Any = None, display_device: Any = None, stream=None,
                 feedback=None, setup_page=None):
        from .systemd import Notifier

        self.cfg = cfg
        self.notifier = notifier if notifier is not None else Notifier()
        self.source = source
        self.estimator = estimator
        self.judge = judge
        self.outputs = outputs
        self.pin_factory = pin_factory
        self.display_device = display_device
        self.stream = stream
        self.feedback = feedback  # speech, rep history, corrections, personal thresholds
        self.reloads = 0
        # The setup page's controller (built in setup()): listens on nothing until opened.
        self.setup_page = setup_page
        self._stop = threading.Event()
        self.stop_reason = ""
        self._commands: queue.SimpleQueue[str | tuple[str, Any]] = queue.SimpleQueue()
        self.started_at = time.monotonic()
        self.ready_at: float | None = None
        # counters (totals) and per-period samples for the stats line
        self.frames = 0
        self.events = 0
        self.good = self.bad = 0
        self.pose_fail = FailureLog("pose estimation", FAILURE_LOG_S, log)
        self.judge_fail = FailureLog("judge", FAILURE_LOG_S, log)
        self._pose_ms: deque[float] = deque(maxlen=4096)  # bounded even with stats off
        self._submitted: deque[float] = deque()  # when each frame in the pose pipeline went in
        # Seconds from a frame's capture until its events were handed to the outputs: every
        # frame (frame_latency) and frames that finished a rep (latencies). For the benchmark.
        self.latencies: deque[float] = deque(maxlen=10_000)
        self.frame_latency: deque[float] = deque(maxlen=10_000)
        self._period_start = time.monotonic()
        self._period_frames = 0
        self._period_captured = 0
        self.last_stats: StatsEvent | None = None
        self._last_t: float | None = None  # the newest frame's timestamp: the events' clock
        self._last_wall = 0.0  # time.monotonic() when that frame was processed
        self._nobody_wall = 0.0  # when the judge was last told "nobody" during a camera outage
        self._wall_clock = False  # the source's timestamps are time.monotonic()
        self.degraded: list[str] = []  # station.allow_degraded: what cannot be judged, and why
        self.poses: PoseStage | None = None  # the pose thread, when frames need a pose

    # ---- setup --------------------------------------------------------------------------
    def setup(self) -> None:
        """Build what was not injected; the source first, so a wrong path fails before seconds
        of model loading. Raises StartupError."""
        cfg = self.cfg
        if self.source is None:
            self.source = build.build_source(cfg)
        if self.judge is None:
            self.judge, self.degraded = build.checked_judge(cfg, getattr(self.source, "exercise", ""))
        if self.estimator is None and not getattr(self.source, "yields_poses", False):
            self.estimator = build.build_estimator(cfg)
        if self.feedback is None:
            from .feedback import PersonalFeedback

            # a single click moves to the next exercise; a double click marks the last rep wrong
            self.feedback = PersonalFeedback.from_config(cfg, on_single_click=lambda: self._commands.put("next"))
        if self.setup_page is None:
            self.setup_page = build.build_setup_page(
                cfg, on_placement=lambda new: self._commands.put(("placement", new)),
                on_event=lambda event: self._commands.put(("event", event)),
                history=getattr(getattr(self.feedback, "history", None), "history", None))
        if self.outputs is None:
            self.outputs = build.build_outputs(cfg, on_next_exercise=self.feedback.click,
                                               on_reset=lambda: self._commands.put("reset"),
                                               on_setup=self.open_setup,
                                               pin_factory=self.pin_factory, stream=self.stream,
                                               display_device=self.display_device,
                                               on_stream_closed=self._stream_closed)
        for out in self.feedback.outputs():
            self.outputs.add(out)

    def _stream_closed(self) -> None:
        """stdout's reader went away (``| head``): stop, unless other outputs still listen."""
        others = [n for n in self.outputs.names if n not in ("json", "console")]
        if others:
            log.info("events still go to %s", ", ".join(others))
        else:
            self.stop("stdout closed")

    # ---- control (thread- and signal-safe) ----------------------------------------------
    def stop(self, reason: str = "stop requested") -> None:
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def next_exercise(self) -> None:
        self._commands.put("next")

    def reset_counts(self) -> None:
        self._commands.put("reset")

    def reload(self) -> None:
        """Reload the model bundles and the personal thresholds between two frames, keeping the
        set (SIGHUP, ``systemctl reload formcheck``)."""
        self._commands.put("reload")

    def open_setup(self) -> None:
        """Open the setup page (``--setup``, the button's long hold); on its own thread, so the
        loop never waits for the server to start."""
        if self.setup_page is not None:
            threading.Thread(target=self.setup_page.open, name="setup-open", daemon=True).start()

    # ---- the loop -----------------------------------------------------------------------
    def run(self, max_frames: int | None = None, duration: float | None = None) -> int:
        """Run until stopped, the input ends, ``max_frames`` frames or ``duration`` seconds."""
        assert self.source is not None and self.judge is not None
        if self.feedback is None:  # parts injected without setup(): nothing personal
            from .feedback import PersonalFeedback

            self.feedback = PersonalFeedback()
        cfg = self.cfg
        self.notifier.status(f"starting: {self.source.name}")
        self.source.start()
        frames = self.source
        if self.estimator is not None and not getattr(self.source, "yields_poses", False):
            frames = self.poses = PoseStage(self.source, self._estimate, submit=self._submit,
                                            collect=self._collect,
                                            depth=pipeline_depth(self.estimator)).start()
        t_run = time.monotonic()
        self._period_start = t_run
        interval = cfg.logging.stats_interval
        try:
            while not self._stop.is_set():
                self.notifier.watchdog()
                self._drain_commands()
                frame = frames.read(timeout=0.2)
                now = time.monotonic()
                self._camera(now, frame is None)
                if self.ready_at is None and (frame is not None or self.source.ended
                                              or now - t_run >= cfg.station.ready_timeout):
                    self._ready(frame is not None)
                if frame is not None:
                    self._process(frame)
                    if max_frames is not None and self.frames >= max_frames:
                        self.stop(f"{max_frames} frames processed")
                elif frames.ended:
                    error = getattr(self.source, "error", None)
                    if error:  # not the end of a file: capture broke (the clip stopped half-way)
                        raise ThreadFailed(f"capture from {self.source.name} failed: {error}")
                    if self.poses is not None and self.poses.error:
                        raise ThreadFailed(f"the pose thread failed: {self.poses.error}")
                    self.stop("end of input")
                crashed = getattr(self.outputs, "crashed", None)
                if crashed:
                    raise ThreadFailed(f"output {crashed}")
                if duration is not None and now - t_run >= duration:
                    self.stop(f"{duration:g} s elapsed")
                if interval and now - self._period_start >= interval:
                    self._stats(now)
        except ThreadFailed as e:
            log.error("stopping: %s", e)
            self.notifier.stopping(f"fatal error: {e}")
            self._shutdown()
            return EXIT_FATAL
        except Exception:
            log.exception("the frame loop failed")
            self.notifier.stopping("fatal error")
            self._shutdown()
            return EXIT_FATAL
        log.info("stopping: %s", self.stop_reason)
        self.notifier.stopping(f"stopping: {self.stop_reason}")
        self._finish()
        self._shutdown()
        return EXIT_OK

    def _process(self, frame) -> None:
        self._last_t, self._last_wall = frame.t, time.monotonic()
        # Cameras stamp frames with time.monotonic(): then "nobody" during an outage can be put
        # on the frames' clock. A source on its own clock (a test double) only gets the events.
        self._wall_clock = abs(frame.t - frame.captured) < 1.0
        pose = frame.pose if frame.pose is not None else self._estimate(frame)  # (pose thread: set)
        self.feedback.on_pose(pose.t, pose.landmarks)
        if self.setup_page is not None:
            self.setup_page.push(frame.image, pose)  # constant time; nothing kept while closed
        self.frames += 1
        self._period_frames += 1
        try:
            events = self.judge.update(pose)
        except Exception as e:
            self.judge_fail(e)
            return
        self._emit(events, frame)
        self.frame_latency.append(time.monotonic() - frame.captured)

    def _clock(self, now: float) -> float:
        """``now`` on the frames' clock: the newest frame's time plus the wall time since."""
        return now if self._last_t is None else self._last_t + (now - self._last_wall)

    def _camera(self, now: float, no_frame: bool) -> None:
        """Announce camera outages and comebacks. While the camera has been lost for
        ``NOBODY_AFTER_S`` the judge sees nobody, a few times a second: the rep in progress
        is dropped, and a long outage resets the set by the judge's own absence rule."""
        changes = self.source.camera_changes() if hasattr(self.source, "camera_changes") else []
        for state, reason, away in changes:
            self._emit([CameraEvent(t=self._clock(now), state=state, reason=reason,
                                    reconnects=self.source.stats().reconnects,
                                    outage_s=None if away is None else round(away, 2))])
        if (no_frame and self._wall_clock and getattr(self.source, "camera_lost", False)
                and now - self._last_wall >= NOBODY_AFTER_S and now - self._nobody_wall >= NOBODY_AFTER_S):
            self._nobody_wall = now
            try:
                self._emit(self.judge.update(Pose.none(self._clock(now))))
            except Exception as e:
                self.judge_fail(e)

    def _estimate(self, frame) -> Pose:
        """The frame's pose (in the pose thread); a failure is logged and counted and is "nobody"."""
        return self._timed_pose(frame, time.perf_counter(), lambda: self.estimator.estimate(frame.image, frame.t))

    def _submit(self, frame) -> bool:
        """Start on the frame's pose (pose thread, pipelined estimator); False when that failed
        (logged and counted; the frame's pose is then "nobody")."""
        try:
            self.estimator.submit(frame.image, frame.t)
        except Exception as e:
            self.pose_fail(e)
            frame.pose = Pose.none(frame.t, frame.size)
            return False
        self._submitted.append(time.perf_counter())
        return True

    def _collect(self, frame) -> Pose:
        """The pose of the oldest frame submitted (pose thread); a failure is "nobody"."""
        return self._timed_pose(frame, self._submitted.popleft(), self.estimator.collect)

    def _timed_pose(self, frame, since: float, get) -> Pose:
        """``get()``, the frame's pose, timed from ``since``; a failure is logged and counted
        and is "nobody"."""
        try:
            pose = get()
        except Exception as e:
            self.pose_fail(e)
            pose = Pose.none(frame.t, frame.size)
        self._pose_ms.append((time.perf_counter() - since) * 1000)
        return pose

    def _emit(self, events, frame=None) -> None:
        for e in events or ():
            e = self.feedback.process(e)
            if isinstance(e, RepEvent):
                self.good, self.bad = e.good, e.bad
                if self.degraded:
                    e.degraded = list(self.degraded)
                if frame is not None:
                    self.latencies.append(time.monotonic() - frame.captured)
            self.events += 1
            self.outputs.handle(e)
            if self.setup_page is not None:
                self.setup_page.handle(e)

    def _drain_commands(self) -> None:
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            if cmd == "reload":
                self._reload()
                continue
            try:
                if isinstance(cmd, tuple):
                    what, arg = cmd
                    events = [arg] if what == "event" else self._apply_placement(arg)
                else:
                    events = self.judge.next_exercise() if cmd == "next" else self.judge.reset()
            except Exception as e:
                self.judge_fail(e)
                continue
            self._emit(events)

    def _reload(self) -> None:
        """Bundles from ``models.dir`` into the judge and the personal thresholds, told to
        systemd as RELOADING=1 ... READY=1. A failed reload keeps what runs."""
        self.notifier.reloading("reloading models and personal thresholds")
        t0 = time.monotonic()
        problems = []
        use = getattr(self.judge, "use_models", None)
        if callable(use):
            try:
                bundles = build.choose_models(build.load_models(self.cfg), self.cfg.station.window_mode)
                use(build.build_classifiers(bundles, self.cfg.station.threads))
            except Exception as e:
                problems.append(f"models not reloaded ({e})")
        if not self.feedback.reload():
            problems.append("personal thresholds not reloaded")
        self.reloads += 1
        status = "; ".join(problems) if problems else "reloaded"
        (log.warning if problems else log.info)("reload %d: %s (%.2f s); the set goes on", self.reloads, status,
                                                time.monotonic() - t0)
        self.notifier.ready(status if problems else f"running: {self.source.name} (reloaded)")

    def _apply_placement(self, saved: Config) -> list:
        """The setup page saved a placement: use it now, without a restart. Only the placement's
        keys change; everything else keeps what this run was started with (flags included)."""
        from dataclasses import replace

        cam, st = saved.camera, saved.station
        old = self.cfg
        self.cfg = replace(old, station=replace(old.station, exercise=st.exercise),
                           camera=replace(old.camera, rotate=cam.rotate, flip=cam.flip, view=cam.view))
        if hasattr(self.source, "rotate"):
            self.source.rotate, self.source.flip = cam.rotate, cam.flip
        log.info("placement from the setup page: exercise %s, view %s, rotate %d, flip %s",
                 st.exercise, cam.view, cam.rotate, cam.flip)
        if st.exercise == old.station.exercise:
            return []
        return self.judge.set_exercise(None if st.exercise == "auto" else st.exercise, source="config")

    def _ready(self, have_frame: bool) -> None:
        self.ready_at = time.monotonic()
        status = (f"running: {self.source.name}" if have_frame
                  else f"waiting for {self.source.name}: {self.source.last_error or 'no frames yet'}")
        log.info("ready after %.2f s; %s", self.ready_at - self.started_at, status)
        self.notifier.ready(status)

    # ---- stats and shutdown -------------------------------------------------------------
    def _stats(self, now: float) -> StatsEvent:
        period = max(now - self._period_start, 1e-9)
        src = self.source.stats()
        pose_ms = list(self._pose_ms)  # one C-level copy: the pose thread appends meanwhile
        # On the frames' clock like every other event (media time for files, monotonic for cameras).
        ev = StatsEvent(
            t=self._last_t if self._last_t is not None else now,
            fps=round(self._period_frames / period, 2),
            camera_fps=round((src.captured - self._period_captured) / period, 2),
            dropped=src.dropped,
            pose_ms=round(float(np.median(pose_ms)), 2) if pose_ms else 0.0,
            rss_mb=round(rss_mb(), 1),
            frames=self.frames,
            good=self.good,
            bad=self.bad,
            camera=("lost" if getattr(self.source, "camera_lost", False) else "ok") if self.source.live else "",
            reconnects=src.reconnects,
        )
        extra = []
        if src.failures:
            extra.append(f"camera failures {src.failures}, reconnects {src.reconnects}")
        if self.pose_fail.count or self.judge_fail.count:
            extra.append(f"errors: pose {self.pose_fail.count}, judge {self.judge_fail.count}")
        log.debug("stats: %.1f fps (camera %.1f), %d dropped, pose %.1f ms, rss %.0f MB, %d frames, "
                 "%d good / %d bad%s", ev.fps, ev.camera_fps, ev.dropped, ev.pose_ms, ev.rss_mb,
                 ev.frames, ev.good, ev.bad, "; " + "; ".join(extra) if extra else "")
        self.notifier.status(f"{ev.fps:.1f} fps, {ev.good} good / {ev.bad} bad")
        self._period_start = now
        self._period_frames = 0
        self._period_captured = src.captured
        self._pose_ms.clear()
        self.last_stats = ev
        self.outputs.handle(ev)
        if self.setup_page is not None:
            self.setup_page.handle(ev)
        return ev

    def _finish(self) -> None:
        """Let the judge close what it has (a pending recognition), then a last stats event."""
        finish = getattr(self.judge, "finish", None)
        if callable(finish):
            try:
                self._emit(finish())
            except Exception as e:
                self.judge_fail(e)
        if self.cfg.logging.stats_interval and self.frames:
            self._stats(time.monotonic())

    def _shutdown(self) -> None:
        """Release everything, each step independent of the others' failures."""
        for what, fn in (("setup page", getattr(self.setup_page, "close", None)),
                         ("pose thread", getattr(self.poses, "close", None)),
                         ("source", getattr(self.source, "close", None)),
                         ("button gestures", getattr(self.feedback, "close", None)),
                         ("outputs", getattr(self.outputs, "close", None)),
                         ("pose estimator", getattr(self.estimator, "close", None))):
            if fn is None:
                continue
            try:
                fn()
            except Exception:
                log.exception("closing the %s failed", what)
        self.notifier.close()

    def close(self) -> None:
        self._shutdown()


if __name__ == "__main__":  # python -m formcheck.device.app.station: the console script
    from .cli import main

    sys.exit(main())
