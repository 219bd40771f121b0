"""The pose thread: frames from the capture source, each with its pose, handed to the loop.

Pose runs in its own thread so that judging frame n overlaps estimating frame n+1: the
interpreter releases the GIL while it runs, and the judge's own CPU then fits in the time pose
leaves a core idle (crop, decoding). The hand-over is a one-slot mailbox the pose thread
waits on, so a pose once computed is never dropped; when the loop falls behind, frames are
dropped where they always were, at the capture source's own mailbox (newest wins).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..capture.sources import Frame, Mailbox, stop_worker
from ..pose.landmarks import Pose

log = logging.getLogger(__name__)


class PoseStage:
    """Reads ``source`` (a started :class:`~formcheck.device.capture.sources.FrameSource`) in a
    thread, fills each frame's ``pose`` with ``estimate(frame)`` (which must not raise: the
    station's own wrapper turns a failure into "nobody"), and hands frames out by :meth:`read`.
    """

    def __init__(self, source, estimate: Callable[[Frame], Pose]):
        self.source = source
        self._estimate = estimate
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
