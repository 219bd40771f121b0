"""Frame sources: files play completely or in real time with drops counted, folders skip bad
images, live cameras come back after failures without ever raising into the loop."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from formcheck.device.capture.sources import (
    FrameSource,
    Reader,
    SourceError,
    describe_spec,
    open_source,
)
from formcheck.device.sequences import LandmarkSequence, write_sequences


def write_video(path: Path, n: int, fps: float, size=(64, 48)) -> Path:
    """Frame i: red (BGR 0,0,200) with green level 8*i, so order and colour are checkable."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert w.isOpened()
    for i in range(n):
        f = np.zeros((size[1], size[0], 3), np.uint8)
        f[..., 2] = 200
        f[..., 1] = (8 * i) % 256  # wraps as numpy 1 did (numpy 2 refuses the overflow)
        w.write(f)
    w.release()
    return path


def drain(src: FrameSource, delay: float = 0.0, timeout: float = 5.0, on_frame=None):
    """Every frame until the source ends (or ``timeout``); ``on_frame(frame)`` as each arrives,
    then ``delay`` seconds of pretended work."""
    frames = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        f = src.read(timeout=0.5)
        if f is None:
            if src.ended:
                break
            continue
        frames.append(f)
        if on_frame is not None:
            on_frame(f)
        if delay:
            time.sleep(delay)
    return frames


def test_video_fast_delivers_every_frame_in_order_as_rgb_with_media_time(tmp_path):
    path = write_video(tmp_path / "clip.avi", 30, 20.0)
    with open_source(str(path), realtime=False) as src:
        frames = drain(src, delay=0.005)  # a consumer slower than decoding: still no drop
        assert src.read(timeout=0.1) is None and src.ended
        st = src.stats()
    assert len(frames) == 30
    assert st.dropped == 0 and st.captured == 30 and st.delivered == 30
    assert [f.index for f in frames] == list(range(30))
    np.testing.assert_allclose([f.t for f in frames], np.arange(30) / 20.0, atol=1e-6)
    greens = [int(f.image[..., 1].mean()) for f in frames]
    assert all(abs(g - 8 * i) <= 4 for i, g in enumerate(greens)), greens
    img = frames[0].image
    assert img.dtype == np.uint8 and img.shape == (48, 64, 3)
    assert img[..., 0].mean() > 180 and img[..., 2].mean() < 20  # RGB, not OpenCV's BGR


def test_video_realtime_plays_at_its_own_rate(tmp_path):
    path = write_video(tmp_path / "clip.avi", 20, 40.0)  # 0.5 s of media
    t0 = time.monotonic()
    with open_source(str(path), realtime=True) as src:
        frames = drain(src)
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.45  # not as fast as possible
    assert len(frames) >= 18  # a fast consumer sees (nearly) every frame


def test_video_realtime_drops_old_frames_when_the_loop_is_slow(tmp_path):
    path = write_video(tmp_path / "clip.avi", 40, 40.0)  # 1 s of media
    with open_source(str(path), realtime=True) as src:
        t0 = time.monotonic()
        lags = []
        # inference slower than the camera; each frame's lag: how stale it is when it arrives
        frames = drain(src, delay=0.1, timeout=30.0,
                       on_frame=lambda f: lags.append((time.monotonic() - t0) - f.t))
        st = src.stats()
    assert st.captured == 40
    assert st.dropped >= 20  # most frames never reached the loop...
    assert st.delivered + st.dropped == st.captured  # ...and every one is accounted for
    assert len(frames) == st.delivered
    # The newest frame is handed over, not a queued old one: staleness stays under ~1 period.
    assert max(lags) < 0.3, lags  # a queue would reach ~0.7 s by the end
    assert all(b.index > a.index for a, b in itertools.pairwise(frames))


def test_image_folder_natural_order_skips_and_reports_bad_files(tmp_path, caplog):
    for name, level in (("1.png", 10), ("2.png", 20), ("10.png", 100)):
        cv2.imwrite(str(tmp_path / name), np.full((20, 30, 3), level, np.uint8))
    (tmp_path / "5.jpg").write_bytes(b"this is not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    with open_source(str(tmp_path), fps=10.0, realtime=False) as src:
        frames = drain(src)
        st = src.stats()
    assert [int(f.image.mean()) for f in frames] == [10, 20, 100]
    # media time keeps the bad file's slot: 10.png is the 4th image
    np.testing.assert_allclose([f.t for f in frames], [0.0, 0.1, 0.3])
    assert st.skipped == 1
    assert "5.jpg" in caplog.text


@pytest.mark.parametrize(("spec", "kind"), [
    ("0", "camera"), ("12", "camera"), ("picamera2", "picamera2"), ("rtsp://cam/stream", "url"),
    ("http://x:8080/video", "url"), ("clip.npz", "landmarks"), ("clip.mp4", "video"),
])
def test_describe_spec(spec, kind):
    assert describe_spec(spec) == kind


def test_unusable_specs_fail_fast_with_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(SourceError, match="no images"):
        open_source(str(tmp_path))
    with pytest.raises(SourceError, match="no such landmark clip"):
        open_source(str(tmp_path / "clip.npz"))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(SourceError, match="cannot read landmark clip"):
        open_source(str(tmp_path / "bad.npz"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(SourceError, match="cannot open video"):
        open_source(str(bad))


def test_picamera2_missing_is_a_clear_error():
    try:
        import picamera2  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("picamera2 is installed here")
    with pytest.raises(SourceError, match="python3-picamera2"):
        open_source("picamera2")


class FakeCapture:
    """cv2.VideoCapture stand-in driven by a shared script of what each open/read does."""

    def __init__(self, script: dict, target):
        self.script = script
        self.target = target
        script["targets"].append(target)
        script["opens"].append(time.monotonic())
        self.ok = script["open_results"].pop(0) if script["open_results"] else True

    def isOpened(self):  # OpenCV's name
        return self.ok

    def set(self, *_):
        return True

    def read(self):
        time.sleep(0.005)
        step = self.script["reads"].pop(0) if self.script["reads"] else "ok"
        if step == "fail":
            return False, None
        if step == "raise":
            raise RuntimeError("USB hiccup")
        self.script["n"] += 1
        img = np.zeros((4, 4, 3), np.uint8)
        img[..., 0] = 50  # blue in BGR
        return True, img

    def release(self):
        self.script["released"] += 1


def fake_factory(**script):
    s = {"targets": [], "opens": [], "open_results": [], "reads": [], "n": 0, "released": 0}
    s.update(script)
    return s, lambda target: FakeCapture(s, target)


def test_camera_lost_and_recovering_never_raises_and_counts_reconnects():
    script, factory = fake_factory(
        open_results=[False, False, True, False, True],  # absent at start, then unplugged once
        reads=["ok"] * 5 + ["fail"] + ["ok"] * 3 + ["raise"],
    )
    src = open_source("0", capture_factory=factory, reconnect_min=0.01, reconnect_max=0.05)
    frames = []
    with src:
        deadline = time.monotonic() + 5
        while len(frames) < 20 and time.monotonic() < deadline:
            f = src.read(timeout=0.5)  # never raises, whatever the camera does
            if f is not None:
                frames.append(f)
        st = src.stats()
    assert len(frames) == 20  # frames keep coming after every failure
    assert st.reconnects == 2  # after the failed read and after the raising read
    assert st.failures >= 5  # two failed opens at start, fail, failed reopen, raise
    assert st.connected
    assert script["targets"][0] == 0  # camera index passed as an int
    assert frames[0].image[..., 2].mean() == 50  # BGR -> RGB
    ts = [f.t for f in frames]
    assert all(b > a for a, b in itertools.pairwise(ts))
    assert script["released"] >= 3  # every failed device was released before reopening


def test_reconnect_backoff_grows_exponentially_up_to_the_cap():
    script, factory = fake_factory(open_results=[False] * 100)
    src = open_source("1", capture_factory=factory, reconnect_min=0.1, reconnect_max=0.4)
    with src:
        time.sleep(1.6)
        assert src.read(timeout=0.01) is None and not src.ended  # a camera never "ends"
    gaps = np.diff(script["opens"])  # about 0.1, 0.2, 0.4, 0.4
    assert len(gaps) >= 3
    assert gaps[0] < gaps[1] < gaps[2] and gaps[2] > 2.5 * gaps[0]  # doubling
    assert max(gaps) < 0.4 + 0.2  # capped at reconnect_max


def test_close_is_prompt_even_during_a_long_backoff():
    _, factory = fake_factory(open_results=[False] * 10)
    src = open_source("0", capture_factory=factory, reconnect_min=30, reconnect_max=30).start()
    time.sleep(0.1)
    t0 = time.monotonic()
    src.close()
    assert time.monotonic() - t0 < 1.0


def test_url_is_passed_whole_but_redacted_in_names():
    script, factory = fake_factory()
    src = open_source("rtsp://user:secret@10.0.0.5/live", capture_factory=factory)
    with src:
        assert src.read(timeout=2) is not None
    assert script["targets"] == ["rtsp://user:secret@10.0.0.5/live"]
    assert "secret" not in src.name


def test_rotate_turns_frames(tmp_path):
    path = write_video(tmp_path / "clip.avi", 3, 20.0, size=(64, 48))
    with open_source(str(path), realtime=False, rotate=90) as src:
        frames = drain(src)
    assert frames[0].image.shape == (64, 48, 3)


def clip(tmp_path, n: int = 50, fps: float = 25.0, sequences: int = 1) -> Path:
    rng = np.random.default_rng(0)
    seqs = []
    for k in range(sequences):
        lm = rng.random((n, 33, 4)).astype(np.float32)
        lm[10:15] = np.nan  # nobody for a moment
        seqs.append(LandmarkSequence(id=f"s{k}", t=np.arange(n) / fps, landmarks=lm, exercise="squat",
                                     image_size=(640, 480), fps=fps))
    return write_sequences(tmp_path / "clip.npz", seqs)


def test_landmark_clip_yields_its_recorded_poses(tmp_path):
    with open_source(str(clip(tmp_path)), realtime=False) as src:
        assert src.yields_poses and src.exercise == "squat" and src.name == "landmark clip clip"
        frames = drain(src)
    assert [f.t for f in frames] == list(np.arange(50) / 25.0)
    assert all(f.image is None and f.pose.t == f.t and f.size == (640, 480) for f in frames)
    assert [f.pose.person for f in frames[8:17]] == [True] * 2 + [False] * 5 + [True] * 2


def test_landmark_clip_plays_its_sequences_one_after_another(tmp_path):
    with open_source(str(clip(tmp_path, sequences=2)), realtime=False) as src:
        frames = drain(src)
    t = np.array([f.t for f in frames])
    assert len(frames) == 2 * 50 + 2 * 25  # two seconds of nobody between them
    assert (np.diff(t) > 0).all()
    assert not any(f.pose.person for f in frames[50:100])


def test_reader_exception_in_a_file_ends_the_source_cleanly():
    class Broken(Reader):
        describe = "broken file"

        def __init__(self):
            self.n = 0

        def read(self):
            self.n += 1
            if self.n > 3:
                raise ValueError("corrupt packet")
            return np.zeros((2, 2, 3), np.uint8), self.n / 10

    with FrameSource(Broken(), realtime=False) as src:
        frames = drain(src)
        assert src.ended
    assert len(frames) == 3


def test_blocked_fast_file_stops_on_close(tmp_path):
    """A fast file whose loop stops reading must not keep its capture thread alive."""
    src = open_source(str(clip(tmp_path, n=1000)), realtime=False).start()
    assert src.read(timeout=1) is not None
    t0 = time.monotonic()
    src.close()
    assert time.monotonic() - t0 < 1.0
    assert not any(t.name.startswith("capture: landmark clip") and t.is_alive() for t in threading.enumerate())
