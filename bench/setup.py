"""Benchmark the setup page's cost to the station. Prints one table.

    python bench/setup.py [--video PATH] [--backend litert|mediapipe] [--cycles 20] [--block 2]

The station runs on a real clip (looped) as fast as it can (every frame through pose, judge
and outputs, as on a Pi where pose takes all the CPU) with the setup page open, and a page
client in another process asking for the picture and the status at the page's own rates.
The run cycles through three conditions in blocks of ``--block`` seconds, so background load
on a shared machine hits them alike:

- **page closed to the client**: the server open but nobody polling (the client paused);
- **page open**: the client polling; the phone draws the skeleton;
- **page open, skeleton drawn by the station**: the server draws the skeleton into the JPEG
  (the alternative design, measured to justify the choice).

Per condition: the station's frames per second over all its blocks and its ratio to the
page-closed condition; the mean of the per-cycle paired ratios with a 95% confidence interval
(how far background load lets the run resolve a difference); and the station process's CPU
time per frame (all threads, the server's included) with its ratio: when the station is
CPU-bound (a Pi), its frame rate falls by what the CPU per frame rises. Below the
table, what one picture costs the server (JPEG encoding with and without drawing, the
status) and ``SetupFeed.push`` in the loop (mean over all frames: most return at once, one in
every few copies the frame). Goal: the page open costs at most 10 % of the frame rate.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

sys.modules.setdefault("tensorflow", None)  # as the station: never TensorFlow

import numpy as np  # noqa: E402

from formcheck.device.app import config as C  # noqa: E402
from formcheck.device.app import setup_server  # noqa: E402
from formcheck.device.app.setup_feed import SetupFeed  # noqa: E402
from formcheck.device.app.setup_server import encode_jpeg  # noqa: E402
from formcheck.device.app.station import Station  # noqa: E402
from formcheck.device.capture.sources import FrameSource, Reader  # noqa: E402
from formcheck.device.outputs.fanout import JsonLinesOutput, Outputs  # noqa: E402
from formcheck.device.pose.landmarks import EDGES, create_estimator  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FORMCHECK_SHARED_DATA", REPO.parent / "shared" / "data"))
DEFAULT_VIDEO = SHARED / "videos" / "squat_front.mp4"

# The page's polling, as app.js does it: a picture every 250 ms, the status every second.
CLIENT = textwrap.dedent("""
    import http.client, sys, time
    port, cookie = int(sys.argv[1]), sys.argv[2]
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    h = {"Cookie": "formcheck_setup=" + cookie}
    next_status = 0.0
    while True:
        try:
            c.request("GET", "/api/frame", headers=h); c.getresponse().read()
            if time.monotonic() >= next_status:
                c.request("GET", "/api/status", headers=h); c.getresponse().read()
                next_status = time.monotonic() + 1.0
        except Exception:
            c.close(); c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        time.sleep(0.25)
""")


class TimedPush:
    """The station's own ``setup_page.push``, timed."""

    def __init__(self, push):
        self.push = push
        self.seconds: list[float] = []

    def __call__(self, frame, pose):
        t0 = time.perf_counter()
        self.push(frame, pose)
        self.seconds.append(time.perf_counter() - t0)


def encode_with_skeleton(frame_rgb, width, quality, pose=None):
    """The alternative: the station draws the skeleton into the picture before encoding."""
    import cv2

    h, w = frame_rgb.shape[:2]
    if w > width:
        frame_rgb = cv2.resize(frame_rgb, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    else:
        frame_rgb = frame_rgb.copy()
    if pose is not None and pose.landmarks is not None:
        hh, ww = frame_rgb.shape[:2]
        pts = [(int(x * ww), int(y * hh)) if np.isfinite(x) and np.isfinite(y) else None
               for x, y in pose.landmarks[:, :2]]
        for a, b in EDGES:
            if pts[a] and pts[b]:
                cv2.line(frame_rgb, pts[a], pts[b], (61, 220, 132), 2, cv2.LINE_AA)
        for p in pts:
            if p:
                cv2.circle(frame_rgb, p, 3, (232, 255, 241), -1, cv2.LINE_AA)
    _, buf = cv2.imencode(".jpg", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes()


class LoopedVideo(Reader):
    """A video file played over and over (a long run from a short clip), as a file source."""

    def __init__(self, path: Path):
        import cv2

        self._cap = cv2.VideoCapture(str(path))
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or 30.0
        self.describe = f"{path.name}, looped"
        self._n = 0

    def read(self):
        import cv2

        ok, bgr = self._cap.read()
        if not ok:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
        self._n += 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self._n / self.fps

    def close(self):
        self._cap.release()


MODES = {"closed": "page closed to the client", "page": "page open",
         "server-skeleton": "page open, skeleton by the station"}


def interleaved(video: Path, backend: str, cycles: int, block: float, settle: float = 0.5):
    """Per mode, a list of (FPS, CPU ms per frame) per block, and the mean push µs."""
    cfg = C.apply_overrides(C.Config(), {
        "gpio.enabled": False, "display.enabled": False, "logging.stats_interval": 0.0,
        "logging.level": "warning", "station.pose_backend": backend, "station.exercise": "squat"})
    cfg = C.apply_overrides(cfg, {"setup.bind": "127.0.0.1", "setup.port": 0, "setup.duration": 3600.0})
    est = create_estimator(backend, threads=cfg.station.threads, model=cfg.station.pose_model)
    est.estimate(np.zeros((64, 64, 3), np.uint8), -1.0)  # first-frame set-up off the clock
    st = Station(cfg, source=FrameSource(LoopedVideo(video), realtime=False), estimator=est,
                 outputs=Outputs([JsonLinesOutput(open(os.devnull, "w"))]))
    st.setup()
    timed = TimedPush(st.setup_page.push)
    st.setup_page.push = timed
    feed = st.setup_page.feed
    server = st.setup_page.open()  # the station's own setup page, as --setup opens it
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    c.request("POST", "/login", f"pin={server.guard.pin}", {"Content-Type": "application/x-www-form-urlencoded"})
    cookie = c.getresponse().getheader("Set-Cookie").split(";")[0].split("=", 1)[1]
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(server.port), cookie])
    client.send_signal(signal.SIGSTOP)
    loop = threading.Thread(target=st.run, name="station")
    loop.start()
    original = setup_server.encode_jpeg
    res: dict[str, list[tuple]] = {m: [] for m in MODES}
    try:
        time.sleep(2.0)  # warm up
        for _ in range(cycles):
            for mode in MODES:
                if mode == "closed":
                    client.send_signal(signal.SIGSTOP)
                else:
                    setup_server.encode_jpeg = original if mode == "page" else (
                        lambda f, w, q: encode_with_skeleton(f, w, q, feed.latest()[2]))
                    client.send_signal(signal.SIGCONT)
                time.sleep(settle)
                f0, c0, t0 = st.frames, time.process_time(), time.perf_counter()
                time.sleep(block)
                f1, c1, t1 = st.frames, time.process_time(), time.perf_counter()
                res[mode].append(((f1 - f0) / (t1 - t0), (c1 - c0) / max(f1 - f0, 1) * 1000,
                                  f1 - f0, t1 - t0, c1 - c0))
    finally:
        st.stop("benchmark done")
        loop.join(30)
        setup_server.encode_jpeg = original
        client.send_signal(signal.SIGCONT)
        client.terminate()
        client.wait(10)
        st.setup_page.close()
    return res, float(np.mean(timed.seconds)) * 1e6


def piece_costs(video: Path, backend: str, n: int = 30) -> dict[str, float]:
    """Median ms of what one picture costs the server, on real frames and poses."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    est = create_estimator(backend)
    frames, poses = [], []
    for i in range(n):
        ok, bgr = cap.read()
        if not ok:
            break
        f = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        frames.append(f)
        poses.append(est.estimate(f, i / 30))
    est.close()
    sc = C.SetupConfig()

    def med(fn):
        ts = []
        for f, p in zip(frames, poses, strict=True):
            t0 = time.perf_counter()
            fn(f, p)
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts) * 1000

    tick = iter(range(10**9))
    feed = SetupFeed(1.0, placement={"exercise": "squat"}, clock=lambda: float(next(tick)))
    feed.enabled = True  # every push is due: each status works on a new picture

    def status(f, p):
        feed.push(f, p)
        feed.status()

    return {
        "JPEG, skeleton drawn by the phone": med(lambda f, p: encode_jpeg(f, sc.frame_width, sc.jpeg_quality)),
        "JPEG, skeleton drawn by the station": med(lambda f, p: encode_with_skeleton(
            f, sc.frame_width, sc.jpeg_quality, p)),
        "status (framing, view, conditions)": med(status),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    p.add_argument("--backend", default="litert", choices=("litert", "mediapipe"))
    p.add_argument("--cycles", type=int, default=20)
    p.add_argument("--block", type=float, default=2.0, help="seconds per condition block")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.video.is_file():
        print(f"no video at {args.video}; pass --video", file=sys.stderr)
        return 2
    res, push = interleaved(args.video, args.backend, args.cycles, args.block)
    base = res["closed"]
    print(f"\nsetup page cost: {args.video.name} looped, {args.backend} pose, as fast as it goes, "
          f"{args.cycles} cycles of {args.block:g} s blocks, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print(f"| {'condition':<36} | {'FPS, all blocks':>15} | {'÷ closed':>8} | {'paired ÷ closed, 95% CI':>23} "
          f"| {'CPU ms/frame':>12} | {'÷ closed':>8} |")
    print(f"|{'-' * 38}|{'-' * 17}|{'-' * 10}|{'-' * 25}|{'-' * 14}|{'-' * 10}|")
    total = {m: (sum(x[2] for x in r) / sum(x[3] for x in r), sum(x[4] for x in r) / sum(x[2] for x in r) * 1000)
             for m, r in res.items()}
    for m, label in MODES.items():
        ratios = np.array([x[0] / b[0] for x, b in zip(res[m], base, strict=True)])
        half = 1.96 * ratios.std(ddof=1) / np.sqrt(len(ratios)) if len(ratios) > 1 else float("nan")
        fps, cpu = total[m]
        print(f"| {label:<36} | {fps:>15.1f} | {fps / total['closed'][0]:>8.3f} | "
              f"{f'{ratios.mean():.3f} ± {half:.3f}':>23} | {cpu:>12.1f} | {cpu / total['closed'][1]:>8.3f} |")
    print(f"\n| {'per picture (server thread)':<36} | {'median ms':>9} |")
    print(f"|{'-' * 38}|{'-' * 11}|")
    for k, v in piece_costs(args.video, args.backend).items():
        print(f"| {k:<36} | {v:>9.2f} |")
    print(f"| {'SetupFeed.push in the loop, mean µs':<36} | {push:>9.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
