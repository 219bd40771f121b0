"""Frame sources: Pi camera, OpenCV camera or stream, video file, image folder, landmark clip.

Each captures in its own thread into a one-slot mailbox (the loop gets the newest frame; drops
are counted), live sources reopen with backoff; see ``docs/device.md``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..outputs.resilience import Backoff
from ..pose.landmarks import Pose
from .landmark_clip import LandmarkClipReader, read_clip

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mjpeg", ".mjpg", ".h264")
BACKOFF_START = 0.25  # seconds before the first reopen; doubles up to reconnect_max


@dataclass
class Frame:
    image: np.ndarray | None  # RGB uint8 (H, W, 3); None when the source yields poses
    t: float  # seconds: monotonic for cameras, media time for files
    index: int  # 0-based number of the frame among those captured (gaps are drops)
    captured: float  # time.monotonic() when capture finished (for latency)
    pose: Pose | None = None  # the pose, from a source that records poses (landmark clip)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        if self.image is not None:
            return self.image.shape[1], self.image.shape[0]
        return self.pose.image_size if self.pose is not None else (0, 0)


@dataclass
class SourceStats:
    captured: int = 0  # frames the capture thread produced
    delivered: int = 0  # frames handed to the loop
    dropped: int = 0  # frames overwritten before the loop took them
    reconnects: int = 0  # times a lost live source came back
    failures: int = 0  # failed opens/reads of a live source
    skipped: int = 0  # unreadable images skipped in a folder
    connected: bool = False


class Mailbox:
    """A one-slot mailbox: ``put`` overwrites (counting a drop) or, with ``block``, waits."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._closed = False
        self.dropped = 0

    def put(self, item, block: bool = False, stop: threading.Event | None = None) -> None:
        with self._cond:
            if block:
                while self._item is not None and not self._closed and not (stop and stop.is_set()):
                    self._cond.wait(0.1)
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify_all()

    def get(self, timeout: float | None = None):
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def drained(self) -> bool:
        with self._cond:
            return self._closed and self._item is None


def stop_worker(stop: threading.Event, box: Mailbox, thread: threading.Thread | None, timeout: float,
                what: str) -> None:
    """Stop a thread that feeds ``box``: tell it to stop, close its mailbox (a waiting put
    returns), join it for up to ``timeout`` s, and say so if it is still running."""
    stop.set()
    box.close()
    if thread is not None:
        thread.join(timeout)
        if thread.is_alive():
            log.warning("%s did not stop within %.0f s", what, timeout)


# ---- readers: open/read/close of one device or file, run inside the capture thread ---------

class Reader:
    live = False
    describe = "source"
    fps = 0.0

    def open(self) -> None:
        pass

    def read(self) -> tuple[np.ndarray, float] | None:
        """``(rgb, t)``; None at the end of a file. Live readers raise on failure."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class _OpenCVCamera(Reader):
    live = True

    def __init__(self, target: int | str, size: tuple[int, int], fps: float, capture_factory=None):
        self.target = target
        self.size = size
        self.fps = fps
        self.capture_factory = capture_factory
        self.describe = f"camera {target}" if isinstance(target, int) else f"stream {_redact(target)}"
        self._cap = None

    def open(self) -> None:
        import cv2

        factory = self.capture_factory or cv2.VideoCapture
        # OpenCV prints its own warnings for every failed open; we log the outage ourselves,
        # once, instead of two lines per retry.
        get_level, set_level = getattr(cv2, "getLogLevel", None), getattr(cv2, "setLogLevel", None)
        level = get_level() if get_level and set_level else None
        if level is not None:
            set_level(0)  # LOG_LEVEL_SILENT
        try:
            cap = factory(self.target)
        finally:
            if level is not None:
                set_level(level)
        if not cap.isOpened():
            cap.release()
            raise OSError(f"cannot open {self.describe}")
        if isinstance(self.target, int):
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver's queue adds latency; we keep our own slot
        self._cap = cap

    def read(self):
        import cv2

        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise OSError(f"{self.describe}: no frame (disconnected?)")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr), time.monotonic()  # in place: no new frame

    def close(self) -> None:
        if self._cap is not None:
            try:
                self._cap.release()
            finally:
                self._cap = None


class _Picamera2(Reader):
    live = True
    describe = "Pi camera (picamera2)"

    def __init__(self, size: tuple[int, int], fps: float):
        self.size = size
        self.fps = fps
        self._cam = None

    @staticmethod
    def check_available() -> None:
        try:
            import picamera2  # noqa: F401
        except ImportError as e:
            raise SourceError(
                "camera.source = \"picamera2\" needs the picamera2 library, which comes with "
                "Raspberry Pi OS: sudo apt install python3-picamera2, and create the venv with "
                f"--system-site-packages ({e})") from None

    def open(self) -> None:
        from picamera2 import Picamera2

        cam = Picamera2()
        try:
            # "RGB888" is stored B, G, R per pixel (OpenCV's order); read() swaps to RGB.
            conf = cam.create_video_configuration(
                main={"size": tuple(self.size), "format": "RGB888"},
                controls={"FrameRate": float(self.fps)}, buffer_count=2)
            cam.configure(conf)
            cam.start()
        except Exception:
            cam.close()
            raise
        self._cam = cam

    def read(self):
        import cv2

        arr = np.ascontiguousarray(self._cam.capture_array("main"))
        # One SIMD channel swap in place: cheaper than numpy's copy through a reversed stride.
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB, dst=arr), time.monotonic()

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None


class _VideoFile(Reader):
    def __init__(self, path: Path, fps_hint: float = 30.0):
        import cv2

        self.path = path
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise SourceError(f"cannot open video file {path} (not a video OpenCV can decode?)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else fps_hint
        self.frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.describe = f"video file {path} ({self.fps:g} fps, {self.frames} frames)"
        self._cap = cap
        self._n = 0
        self._last_t = -np.inf

    def read(self):
        import cv2

        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            if self.frames and self._n < self.frames - 1:
                log.warning("%s ended after %d of %d frames (truncated or undecodable)",
                            self.path, self._n, self.frames)
            return None
        t = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        # Containers without timestamps give 0 or repeats; fall back to frame number / fps.
        if not np.isfinite(t) or t <= self._last_t:
            t = max(self._n / self.fps, self._last_t + 1e-3)
        self._last_t = t
        self._n += 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr), float(t)  # in place: no new frame

    def close(self) -> None:
        self._cap.release()


def _natural_key(p: Path):
    return [int(s) if s.isdigit() else s.lower() for s in re.split(r"(\d+)", p.name)]


class _ImageFolder(Reader):
    def __init__(self, folder: Path, fps: float):
        self.folder = folder
        self.fps = fps
        self.files = sorted((p for p in folder.iterdir()
                             if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS), key=_natural_key)
        if not self.files:
            raise SourceError(f"image folder {folder} has no images ({', '.join(IMAGE_EXTENSIONS)})")
        self.describe = f"image folder {folder} ({len(self.files)} images at {fps:g} fps)"
        self._i = 0
        self.skipped: list[Path] = []

    def read(self):
        import cv2

        while self._i < len(self.files):
            i, p = self._i, self.files[self._i]
            self._i += 1
            bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if bgr is None:  # a malformed file is skipped and reported, the rest still play
                log.warning("skipping unreadable image %s", p)
                self.skipped.append(p)
                continue
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), i / self.fps
        return None


def _redact(url: str) -> str:
    # rtsp://user:password@host/... must not end up in logs.
    return re.sub(r"//[^/@]*@", "//***@", url)


# ---- the threaded source ---------------------------------------------------------------------

class FrameSource:
    """A started source hands frames to the loop through :meth:`read`; see the module doc."""

    def __init__(self, reader: Reader, realtime: bool = True, rotate: int = 0,
                 reconnect_max: float = 30.0, reconnect_min: float = BACKOFF_START, flip: bool = False):
        self._reader = reader
        self.live = reader.live
        self.name = reader.describe
        self.realtime = realtime or reader.live  # a camera is always real time
        self.yields_poses = getattr(reader, "yields_poses", False)
        self.exercise = getattr(reader, "exercise", "")  # what a recorded clip says is done
        # Read per frame by the capture thread: the setup page changes them while running.
        self.rotate = rotate
        self.flip = flip  # mirror left-right, after rotating
        self.reconnect_min = min(reconnect_min, reconnect_max)
        self.reconnect_max = reconnect_max
        self._box = Mailbox()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._captured = 0
        self._delivered = 0
        self._reconnects = 0
        self._failures = 0
        self._connected = False
        self.last_error: str | None = None
        # Set when capture stopped on an error, not at the end of a file: the station then
        # exits non-zero instead of calling it the end of the input.
        self.error: str | None = None
        # Camera outages for the loop to announce: ("lost", reason, None) / ("back", text, seconds).
        self._camera_changes: deque[tuple[str, str, float | None]] = deque(maxlen=64)
        self.camera_lost = False

    @property
    def fps(self) -> float:
        return self._reader.fps

    # ---- the loop's side
    def start(self) -> FrameSource:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"capture: {self.name}", daemon=True)
            self._thread.start()
        return self

    def read(self, timeout: float | None = 0.5) -> Frame | None:
        """The newest frame, waiting up to ``timeout`` s; None on timeout or at the end."""
        frame = self._box.get(timeout)
        if frame is not None:
            self._delivered += 1
        return frame

    @property
    def ended(self) -> bool:
        """True once a file has ended and its last frame has been read."""
        return self._box.drained

    @property
    def capturing(self) -> bool:
        """The capture thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def camera_changes(self) -> list[tuple[str, str, float | None]]:
        """The outages and comebacks of a live source since the last call (oldest first)."""
        out = []
        while self._camera_changes:
            out.append(self._camera_changes.popleft())
        return out

    def stats(self) -> SourceStats:
        return SourceStats(captured=self._captured, delivered=self._delivered, dropped=self._box.dropped,
                           reconnects=self._reconnects, failures=self._failures,
                           skipped=len(getattr(self._reader, "skipped", ())), connected=self._connected)

    def close(self, timeout: float = 3.0) -> None:
        stop_worker(self._stop, self._box, self._thread, timeout, f"capture thread of {self.name}")
        if self._thread is None:
            self._reader.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ---- the capture thread
    def _post(self, item: np.ndarray | Pose, t: float, block: bool) -> None:
        if isinstance(item, Pose):
            frame = Frame(image=None, t=t, index=self._captured, captured=time.monotonic(), pose=item)
            self._captured += 1
            self._box.put(frame, block=block, stop=self._stop)
            return
        image = item
        rotate, flip = self.rotate, self.flip
        if rotate or flip:
            import cv2

            if rotate:
                code = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180,
                        270: cv2.ROTATE_90_COUNTERCLOCKWISE}[rotate]
                image = cv2.rotate(image, code)
            if flip:
                image = cv2.flip(image, 1)
        frame = Frame(image=image, t=t, index=self._captured, captured=time.monotonic())
        self._captured += 1
        self._box.put(frame, block=block, stop=self._stop)

    def _run(self) -> None:
        try:
            if self.live:
                self._run_live()
            else:
                self._run_file()
        except Exception as e:  # a bug here must end the source, not hang the loop
            self.error = f"{type(e).__name__}: {e}"
            log.exception("capture thread of %s failed", self.name)
        finally:
            try:
                self._reader.close()
            except Exception as e:
                log.warning("closing %s: %s", self.name, e)
            self._connected = False
            self._box.close()

    def _run_live(self) -> None:
        backoff = Backoff(self.reconnect_min, self.reconnect_max)
        opened = False
        lost_since: float | None = None
        while not self._stop.is_set():
            try:
                if not opened:
                    self._reader.open()
                    opened = True
                item = self._reader.read()
            except Exception as e:
                self._failures += 1
                self.last_error = f"{type(e).__name__}: {e}"
                if lost_since is None:
                    lost_since = time.monotonic()
                    log.warning("%s: %s; reopening with backoff", self.name, self.last_error)
                    self.camera_lost = True
                    self._camera_changes.append(("lost", self.last_error, None))
                else:
                    log.debug("%s: still failing: %s (retry in %.1f s)", self.name, self.last_error, backoff.delay)
                if opened:
                    try:
                        self._reader.close()
                    except Exception as ce:
                        log.debug("closing %s after failure: %s", self.name, ce)
                    opened = False
                self._connected = False
                self._stop.wait(backoff.failed())
                continue
            if lost_since is not None:
                if self._captured:  # it had worked before: this is a comeback
                    self._reconnects += 1
                away = time.monotonic() - lost_since
                log.info("%s: capturing (after %.1f s without frames)", self.name, away)
                self.camera_lost = False
                self._camera_changes.append(("back", f"frames again after {away:.1f} s", away))
                lost_since = None
            backoff.succeeded()
            self._connected = True
            image, t = item
            self._post(image, t, block=False)

    def _run_file(self) -> None:
        self._connected = True
        wall0 = media0 = None
        while not self._stop.is_set():
            try:
                item = self._reader.read()
            except Exception as e:
                log.error("%s: read failed, ending: %s", self.name, e)
                self.last_error = self.error = f"{type(e).__name__}: {e}"
                return
            if item is None:
                return
            image, t = item
            if not np.isfinite(t):
                raise ValueError(f"{self.name}: frame {self._captured} has timestamp {t}")
            if self.realtime:
                if wall0 is None:
                    wall0, media0 = time.monotonic(), t
                delay = wall0 + (t - media0) - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                self._post(image, t, block=False)
            else:
                self._post(image, t, block=True)


# ---- choosing a source --------------------------------------------------------------------------

def looks_like_path(spec: str) -> bool:
    s = spec.strip()
    return not (s.isdigit() or s.lower() in ("picamera2", "picamera") or "://" in s)


def describe_spec(spec: str) -> str:
    """What kind of source a spec names: camera, picamera2, url, landmarks, folder, video."""
    s = str(spec).strip()
    if s.isdigit():
        return "camera"
    if s.lower() in ("picamera2", "picamera"):
        return "picamera2"
    if "://" in s:
        return "url"
    p = Path(s).expanduser()
    if p.suffix.lower() == ".npz":
        return "landmarks"
    if p.is_dir():
        return "folder"
    return "video"


def open_source(spec: str | int, *, size: tuple[int, int] = (640, 480), fps: float = 30.0,
                realtime: bool = True, rotate: int = 0, reconnect_max: float = 30.0,
                reconnect_min: float = BACKOFF_START, capture_factory=None, flip: bool = False) -> FrameSource:
    """Create (not start) a source from a spec: a camera index, ``picamera2``, a URL, a video
    file, an image folder or a landmark clip (``.npz``). Raises :class:`SourceError` for specs no retry can fix."""
    s = str(spec).strip()
    kind = describe_spec(s)
    if kind == "camera":
        reader: Reader = _OpenCVCamera(int(s), size, fps, capture_factory)
    elif kind == "picamera2":
        _Picamera2.check_available()
        reader = _Picamera2(size, fps)
    elif kind == "url":
        reader = _OpenCVCamera(s, size, fps, capture_factory)
    elif kind == "landmarks":
        reader = LandmarkClipReader(read_clip(s))
    else:
        p = Path(s).expanduser()
        if kind == "folder":
            reader = _ImageFolder(p, fps)
        elif not p.exists():
            raise SourceError(f"camera.source {s!r}: no such file or folder, and not a camera "
                              "index, 'picamera2' or a URL")
        else:
            reader = _VideoFile(p, fps)
    return FrameSource(reader, realtime=realtime, rotate=rotate, reconnect_max=reconnect_max,
                       reconnect_min=reconnect_min, flip=flip)


def yields_poses(spec: str | int) -> bool:
    """Whether a source spec records poses (a landmark clip), so no pose estimator is needed."""
    return describe_spec(str(spec)) == "landmarks"
