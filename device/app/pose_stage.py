"""The pose thread: frames from the capture source, each with its pose, handed to the loop.

Pose runs in its own thread so that judging frame n overlaps estimating frame n+1: the
interpreter releases the GIL while it runs, and the judge's own CPU then fits in the time pose
leaves a core idle (crop, decoding). The hand-over is a one-slot mailbox the pose thread
waits on, so a pose once computed is never dropped; when the loop falls behind, frames are
dropped where they always were, at the capture source's own mailbox (newest wins).

With a pipelined estimator (``submit``/``collect``, ``depth`` > 1) the thread starts on the
next frame while the previous one is still in the model when that frame arrives within half
the time a frame spends in the pipeline: then the previous pose is not ready yet anyway. A
frame is never held back to fill the pipeline, so when pose keeps up with the camera each
frame goes out as soon as its pose is done, as before; when it does not (a slow board, a
file), the frames overlap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from ..capture.sources import Frame, Mailbox, stop_worker
from ..pose.landmarks import Pose

log = logging.getLogger(__name__)


class PoseStage:
    """Reads ``source`` (a started :class:`~formcheck.device.capture.sources.FrameSource`) in a
    thread, fills each frame's ``pose`` with ``estimate(frame)`` (which must not raise: the
    station's own wrapper turns a failure into "nobody"), and hands frames out by :meth:`read`.
    """

    def __init__(self, source, estimate: Callable[[Frame], Pose], *,
                 submit: Callable[[Frame], bool] | None = None,
                 collect: Callable[[Frame], Pose] | None = None, depth: int = 1):
        self.source = source
        self._estimate = estimate
        # a pipeline: submit(frame) starts on it (False: it failed, and its pose is set),
        # collect(frame) is the pose of the oldest frame submitted
        self._submit, self._collect = submit, collect
        self._depth = depth if submit is not None and collect is not None else 1
        self._box = Mailbox()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None  # set when the thread itself failed (a bug, not pose)

    def start(self) -> PoseStage:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pose", daemon=True)
            self._thread.start()
        return self

    def read(self, timeout: float | None = 0.5) -> Frame | None:
        """The next frame with its pose, waiting up to ``timeout`` s; None on timeout or at the end."""
        return self._box.get(timeout)

    @property
    def ended(self) -> bool:
        """The source ended and its last frame has been read."""
        return self._box.drained

    def close(self, timeout: float = 3.0) -> None:
        stop_worker(self._stop, self._box, self._thread, timeout, "pose thread")

    def _run(self) -> None:
        try:
            if self._depth > 1:
                self._run_pipelined()
                return
            while not self._stop.is_set():
                frame = self.source.read(timeout=0.2)
                if frame is None:
                    if self.source.ended:
                        return
                    continue
                if frame.pose is None:
                    frame.pose = self._estimate(frame)
                self._box.put(frame, block=True, stop=self._stop)
        except Exception as e:  # a bug here must end the run, not hang the loop
            self.error = f"{type(e).__name__}: {e}"
            log.exception("the pose thread failed")
        finally:
            self._box.close()

    def _run_pipelined(self) -> None:
        pending: deque[tuple[Frame, bool, float]] = deque()  # (frame, submitted, when), oldest first
        in_model = 0.0  # seconds a frame spends in the pipeline (moving average)
        while not self._stop.is_set():
            if len(pending) < self._depth:
                frame = self.source.read(timeout=in_model / 2 if pending else 0.2)
                if frame is not None:
                    pending.append((frame, frame.pose is None and self._submit(frame), time.monotonic()))
                    continue
                if not pending:
                    if self.source.ended:
                        return
                    continue
            frame, submitted, since = pending.popleft()
            if submitted:
                frame.pose = self._collect(frame)
                took = time.monotonic() - since
                in_model = took if in_model == 0.0 else 0.8 * in_model + 0.2 * took
            self._box.put(frame, block=True, stop=self._stop)
