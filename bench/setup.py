"""Benchmark the setup page's cost to the station. Prints one table.

    python bench/setup.py [--video PATH] [--backend litert|mediapipe] [--runs 3]

The station runs on a real clip as fast as it can (``--fast``: every frame through pose, judge
and outputs), in three interleaved conditions, ``--runs`` times each:

- **no setup**: the station alone (the baseline);
- **page open**: the setup server on, and a page client in another process asking for the
  picture and the status at the page's own rates (the skeleton is drawn by the phone);
- **page open, skeleton drawn by the station**: the same, but the server draws the skeleton
  into the JPEG (the alternative design, measured to justify the choice).

The station's frames per second (median of the runs) and their ratio to the baseline of the
same round are printed, with the CPU time per frame (all threads of the station's process,
the server's included) and its ratio: on a machine busy with other work wall-clock FPS
wanders, CPU per frame much less; when the station is CPU-bound (a Pi) the frame rate falls
by what the CPU per frame rises. Below the table,
what one picture costs the server: JPEG encoding with and without drawing, the
status, and ``SetupFeed.push`` in the loop (mean over all frames: most return at once, one
in every few copies the frame). Goal: the page open costs at most 10 % of the
frame rate.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.modules.setdefault("tensorflow", None)  # as the station: never TensorFlow

import numpy as np  # noqa: E402

from formcheck.device.app import config as C  # noqa: E402
from formcheck.device.app import setup_server  # noqa: E402
from formcheck.device.app.setup_feed import SetupFeed  # noqa: E402
from formcheck.device.app.setup_server import SetupServer, encode_jpeg  # noqa: E402
from formcheck.device.app.station import Station  # noqa: E402
from formcheck.device.outputs.fanout import JsonLinesOutput, Outputs  # noqa: E402
from formcheck.device.pose.landmarks import EDGES, create_estimator  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FORMCHECK_SHARED_DATA", REPO.parent / "shared" / "data"))
DEFAULT_VIDEO = SHARED / "videos" / "squat_front.mp4"
PIN = "123456"

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


class TeeEstimator:
    """The station's estimator, handing each frame and pose to the setup feed (as the station
    does when the page is open)."""

    def __init__(self, inner, feed: SetupFeed):
        self.inner, self.feed = inner, feed
        self.name = inner.name
        self.push_s: list[float] = []

    def estimate(self, frame, t):
        pose = self.inner.estimate(frame, t)
        t0 = time.perf_counter()
        self.feed.push(frame, pose)
        self.push_s.append(time.perf_counter() - t0)
        return pose

    def reset(self):
        self.inner.reset()

    def close(self):
        self.inner.close()


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


def run_station(video: Path, backend: str, mode: str) -> tuple[float, float, float]:
    """One run: (station FPS, CPU ms per frame, median push µs)."""
    cfg = C.apply_overrides(C.Config(), {
        "gpio.enabled": False, "display.enabled": False, "logging.stats_interval": 0.0,
        "logging.level": "warning", "camera.source": str(video), "camera.realtime": False,
        "station.pose_backend": backend, "station.exercise": "squat"})
    feed = SetupFeed(cfg.setup.frame_rate, placement={"exercise": "squat"})
    est = create_estimator(backend, threads=cfg.station.threads, model=cfg.station.pose_model)
    est.estimate(np.zeros((64, 64, 3), np.uint8), -1.0)  # first-frame set-up off the clock
    tee = TeeEstimator(est, feed)
    outputs = Outputs([JsonLinesOutput(open(os.devnull, "w")), feed])
    st = Station(cfg, estimator=tee if mode != "none" else est, outputs=outputs)
    st.setup()
    server = client = None
    original = setup_server.encode_jpeg
    try:
        if mode != "none":
            if mode == "server-skeleton":
                setup_server.encode_jpeg = lambda f, w, q: encode_with_skeleton(f, w, q, feed.latest()[2])
            server = SetupServer(feed, C.SetupConfig(bind="127.0.0.1", port=0, duration=3600), pin=PIN).start()
            c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            c.request("POST", "/login", f"pin={PIN}", {"Content-Type": "application/x-www-form-urlencoded"})
            cookie = c.getresponse().getheader("Set-Cookie").split(";")[0].split("=", 1)[1]
            client = subprocess.Popen([sys.executable, "-c", CLIENT, str(server.port), cookie])
        t0, c0 = time.perf_counter(), time.process_time()
        st.run()
        fps = st.frames / (time.perf_counter() - t0)
        cpu_ms = (time.process_time() - c0) / st.frames * 1000
    finally:
        setup_server.encode_jpeg = original
        if client is not None:
            client.terminate()
            client.wait(10)
        if server is not None:
            server.stop()
    push_us = float(np.mean(tee.push_s)) * 1e6 if tee.push_s else 0.0
    return fps, cpu_ms, push_us


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
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.video.is_file():
        print(f"no video at {args.video}; pass --video", file=sys.stderr)
        return 2
    modes = {"none": "no setup", "page": "page open", "server-skeleton": "page open, skeleton by the station"}
    res: dict[str, list[tuple[float, float, float]]] = {m: [] for m in modes}
    for r in range(args.runs):
        order = list(modes) if r % 2 == 0 else list(reversed(modes))  # interleaved, both orders
        for m in order:
            res[m].append(run_station(args.video, args.backend, m))
    base = [fps for fps, _, _ in res["none"]]
    base_cpu = [cpu for _, cpu, _ in res["none"]]
    print(f"\nsetup page cost: {args.video.name}, {args.backend} pose, --fast, {args.runs} runs each, "
          f"{os.cpu_count()} CPUs\n")
    print(f"| {'condition':<36} | {'station FPS':>11} | {'÷ no setup':>10} | {'CPU ms/frame':>12} "
          f"| {'÷ no setup':>10} |")
    print(f"|{'-' * 38}|{'-' * 13}|{'-' * 12}|{'-' * 14}|{'-' * 12}|")
    for m, label in modes.items():
        fps = [x[0] for x in res[m]]
        cpu = [x[1] for x in res[m]]
        # Paired: each run against the baseline of the same round.
        ratio = statistics.median(f / b for f, b in zip(fps, base, strict=True))
        cpu_ratio = statistics.median(c / b for c, b in zip(cpu, base_cpu, strict=True))
        print(f"| {label:<36} | {statistics.median(fps):>11.1f} | {ratio:>10.3f} | "
              f"{statistics.median(cpu):>12.1f} | {cpu_ratio:>10.3f} |")
    print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    push = statistics.median(x[2] for x in res["page"])
    print(f"\n| {'per picture (server thread)':<36} | {'median ms':>9} |")
    print(f"|{'-' * 38}|{'-' * 11}|")
    for k, v in piece_costs(args.video, args.backend).items():
        print(f"| {k:<36} | {v:>9.2f} |")
    print(f"| {'SetupFeed.push in the loop, mean (µs)':<36} | {push:>9.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
