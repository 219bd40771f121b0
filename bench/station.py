"""Benchmark the station: overhead, latency, memory, start-up. Prints one table.

    python bench/station.py [--video PATH] [--backend litert|mediapipe] [--model lite|full|heavy]
                            [--threads N] [--runs 3] [--soak-frames 20000]

Defaults: the station's own default pose backend, model and threads (the packaged config).

Rows (each a median of ``--runs`` runs, unless said otherwise):

- **end-to-end FPS ÷ raw pose FPS** on the same video: raw = the pose estimator alone on
  decoded frames held in memory (what pose can do at best); end-to-end = the whole station with
  ``--fast`` (capture thread, pose thread, judge, JSON output), once on the decoded frames
  handed over as a camera hands them (goal ≥ 0.9: the station costs (nearly) nothing on top of
  pose) and once on the file itself (its decoding included). Runs are interleaved and the ratio is the
  median of paired runs; on a machine busy with other work wall-clock FPS still wanders, so
  the **CPU time per frame** (all threads) is shown too: decode + pose alone against the
  whole station, the difference being what the station adds.
- **frame → verdict latency** p50 / p99 at the camera's rate: the video played in real time,
  from the moment a frame is captured until the judge's events for it reach the outputs; all
  frames, and separately the frames that finished a rep.
- **RSS at start and after N frames** (20k by default) from a landmark clip, fast: the
  memory growth of a long run (goal: flat within 5 MB). The same run gives the loop's CPU per
  frame without pose, next to the judge's alone: the rest is the station's plumbing.
- **time to READY**: the daemon started as systemd would (``NOTIFY_SOCKET``), from spawn to
  ``READY=1``.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.modules.setdefault("tensorflow", None)  # as the station: never TensorFlow

import numpy as np  # noqa: E402

from formcheck.device.app import config as C  # noqa: E402
from formcheck.device.app.station import Station, rss_mb  # noqa: E402
from formcheck.device.pose.landmarks import create_estimator  # noqa: E402
from formcheck.train.demo import squat_landmarks, squat_phases  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = (Path(os.environ.get("FORMCHECK_SHARED_DATA", REPO.parent / "shared" / "data"))
                 / "videos" / "squat_front.mp4")


class _Quiet:
    """No output at all: the benchmark measures the loop, not the terminal."""

    name = "null"

    def handle(self, event):
        pass

    def close(self):
        pass


def squat_clip(n_reps: int, fps: float = 30.0, seed: int = 0):
    """Standing 2 s, then reps of 2 s with 1 s rests: ``(t, landmarks)``."""
    lm = squat_landmarks(squat_phases(n_reps, fps), seed)
    return np.arange(len(lm)) / fps, lm


def base_config(**over) -> C.Config:
    o = {"gpio.enabled": False, "display.enabled": False, "logging.stats_interval": 0.0,
         "logging.level": "warning"}
    o.update(over)
    return C.apply_overrides(C.Config(), o)


def decode(video: Path) -> tuple[list[np.ndarray], float]:
    """All frames as RGB, and the CPU seconds per frame decoding (and converting) took."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames = []
    c0 = time.process_time()
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return frames, (time.process_time() - c0) / max(len(frames), 1)


def raw_pose(frames, backend: str, model: str, threads: int, fps: float) -> tuple[float, float]:
    """Pose alone on frames in memory: (FPS, CPU seconds per frame)."""
    est = create_estimator(backend, model=model, threads=threads)
    try:
        est.estimate(np.zeros((64, 64, 3), np.uint8), -1.0)  # warm-up outside the timing
        t0, c0 = time.perf_counter(), time.process_time()
        for i, f in enumerate(frames):
            est.estimate(f, i / fps)
        return len(frames) / (time.perf_counter() - t0), (time.process_time() - c0) / len(frames)
    finally:
        est.close()


def e2e(video: Path, backend: str, model: str, exercise: str, threads: int) -> tuple[float, float]:
    """The whole station on the file, --fast: (FPS, CPU seconds per frame, all threads)."""
    cfg = base_config(**{"camera.source": str(video), "camera.realtime": False,
                         "station.pose_backend": backend, "station.pose_model": model,
                         "station.threads": threads,
                         "station.exercise": exercise,
                         "logging.json": True})
    st = Station(cfg, stream=open(os.devnull, "w"))
    st.setup()
    # Warm the estimator like the raw run does, so both exclude first-frame set-up.
    st.estimator.estimate(np.zeros((64, 64, 3), np.uint8), -1.0)
    t0, c0 = time.perf_counter(), time.process_time()
    st.run()
    return st.frames / (time.perf_counter() - t0), (time.process_time() - c0) / st.frames


def e2e_decoded(frames: list[np.ndarray], fps: float, backend: str, model: str, exercise: str,
                threads: int) -> tuple[float, float]:
    """The whole station, --fast, on frames already decoded, handed over as a camera hands
    them (picamera2 gives the loop raw frames: no video decoding): (FPS, CPU s per frame)."""
    from formcheck.device.capture.sources import FrameSource, Reader

    class Decoded(Reader):
        describe = "decoded frames"

        def __init__(self):
            self.fps, self.i = fps, 0

        def read(self):
            if self.i >= len(frames):
                return None
            self.i += 1
            return frames[self.i - 1], (self.i - 1) / fps

    cfg = base_config(**{"station.pose_backend": backend, "station.pose_model": model,
                         "station.threads": threads, "station.exercise": exercise, "logging.json": True})
    st = Station(cfg, source=FrameSource(Decoded(), realtime=False), stream=open(os.devnull, "w"))
    st.setup()
    st.estimator.estimate(np.zeros((64, 64, 3), np.uint8), -1.0)
    t0, c0 = time.perf_counter(), time.process_time()
    st.run()
    return st.frames / (time.perf_counter() - t0), (time.process_time() - c0) / st.frames


def latency(video: Path, backend: str, model: str, exercise: str,
            threads: int) -> tuple[np.ndarray, np.ndarray, int]:
    cfg = base_config(**{"camera.source": str(video), "camera.realtime": True,
                         "station.pose_backend": backend, "station.pose_model": model,
                         "station.threads": threads,
                         "station.exercise": exercise})
    st = Station(cfg, stream=io.StringIO())
    st.setup()
    st.estimator.estimate(np.zeros((64, 64, 3), np.uint8), -1.0)  # first-frame set-up off the clock
    st.run()
    return np.array(st.frame_latency), np.array(st.latencies), st.source.stats().dropped


def soak(frames: int, clip_seconds: float = 20.0) -> tuple[float, float, float]:
    from formcheck.device.capture.landmark_clip import LandmarkClipReader, recorded_pose
    from formcheck.device.capture.sources import FrameSource
    from formcheck.device.sequences import LandmarkSequence

    t, lm = squat_clip(n_reps=int(clip_seconds / 3), fps=30.0)
    warm = 1000
    loops = -(-max(warm + frames, 5000) // len(t))  # the clip played over and over on one timeline
    n = np.arange(loops * len(t))
    seq = LandmarkSequence(id="soak", t=n / 30.0, landmarks=np.tile(lm, (loops, 1, 1)), exercise="squat",
                           image_size=(640, 480), fps=30.0)

    def part(a: int, b: int) -> FrameSource:
        s = LandmarkSequence(id="soak", t=seq.t[a:b], landmarks=seq.landmarks[a:b], exercise="squat",
                             image_size=seq.image_size, fps=30.0)
        return FrameSource(LandmarkClipReader(s), realtime=False)

    cfg = base_config(**{"station.exercise": "squat"})
    from formcheck.device.outputs.fanout import JsonLinesOutput, Outputs

    outputs = Outputs([JsonLinesOutput(open(os.devnull, "w"))])
    st = Station(cfg, source=part(0, warm), outputs=outputs)
    st.setup()
    st.run(max_frames=warm)
    start = rss_mb()
    st2 = Station(cfg, source=part(warm, warm + frames), judge=st.judge,
                  outputs=Outputs([JsonLinesOutput(open(os.devnull, "w"))]))
    c0 = time.process_time()
    st2.run()
    loop_cpu = (time.process_time() - c0) / st2.frames
    end = rss_mb()
    # The judge alone on the same poses: what of the loop's cost is judging, not plumbing.
    from formcheck.device.judging.judge import Judge

    judge = Judge([], "squat", cfg.judge)
    poses = [recorded_pose(seq, i) for i in range(5000)]
    c0 = time.process_time()
    for pose in poses:
        judge.update(pose)
    judge_cpu = (time.process_time() - c0) / len(poses)
    return start, end, st2.frames, loop_cpu, judge_cpu


def time_to_ready(video: Path, backend: str, model: str) -> float:
    name = f"formcheck-bench-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(60)
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write("[gpio]\nenabled = false\n[display]\nenabled = false\n[station]\nexercise = \"squat\"\n"
                f"pose_model = \"{model}\"\n")
    env = dict(os.environ, NOTIFY_SOCKET="@" + name)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "formcheck.device.app.station", "--config", f.name,
                             "--source", str(video), "--pose-backend", backend, "-q", "--no-json"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            msg = sock.recv(4096).decode()
            if "READY=1" in msg:
                return time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait(30)
        sock.close()
        os.unlink(f.name)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    p.add_argument("--exercise", default="squat")
    defaults = C.Config().station
    p.add_argument("--backend", default=defaults.pose_backend, choices=("mediapipe", "litert"))
    p.add_argument("--model", default=defaults.pose_model, choices=("lite", "full", "heavy"),
                   help="pose landmark model (default: the station's, %(default)s)")
    p.add_argument("--threads", type=int, default=defaults.threads,
                   help="station.threads for pose and models (default: the station's, 0 = all cores)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--soak-frames", type=int, default=20_000)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.video.is_file():
        print(f"no video at {args.video}; pass --video", file=sys.stderr)
        return 2

    frames, decode_cpu = decode(args.video)
    import cv2

    fps = cv2.VideoCapture(str(args.video)).get(cv2.CAP_PROP_FPS) or 30.0
    raws, e2es, ratios, raw_cpu, e2e_cpu, cams, cam_ratios, cam_cpu = [], [], [], [], [], [], [], []
    for _ in range(args.runs):  # interleaved, so all see the same background load
        r_fps, r_cpu = raw_pose(frames, args.backend, args.model, args.threads, fps)
        c_fps, c_cpu = e2e_decoded(frames, fps, args.backend, args.model, args.exercise, args.threads)
        e_fps, e_cpu = e2e(args.video, args.backend, args.model, args.exercise, args.threads)
        raws.append(r_fps)
        cams.append(c_fps)
        cam_ratios.append(c_fps / r_fps)
        cam_cpu.append(c_cpu)
        e2es.append(e_fps)
        ratios.append(e_fps / r_fps)
        raw_cpu.append(r_cpu)
        e2e_cpu.append(e_cpu)
    raw, e2e_fps = statistics.median(raws), statistics.median(e2es)
    # CPU per frame is what a busy machine cannot distort: the station's cost beyond decoding
    # and pose (judge, features, outputs, the capture thread's hand-over).
    base_cpu = decode_cpu + statistics.median(raw_cpu)
    over_cpu = statistics.median(e2e_cpu) - base_cpu

    lat_all, lat_rep, dropped = [], [], 0
    for _ in range(args.runs):
        a, r, d = latency(args.video, args.backend, args.model, args.exercise, args.threads)
        lat_all.append(a)
        lat_rep.append(r)
        dropped += d
    lat_all = np.concatenate(lat_all) * 1000
    lat_rep = np.concatenate(lat_rep) * 1000 if any(len(r) for r in lat_rep) else np.array([np.nan])

    start, end, n, loop_cpu, judge_cpu = soak(args.soak_frames)
    ready = statistics.median(time_to_ready(args.video, args.backend, args.model) for _ in range(args.runs))

    rows = [
        ("video", f"{args.video.name}: {len(frames)} frames, {frames[0].shape[1]}x{frames[0].shape[0]}, "
                  f"{fps:g} fps; pose {args.backend} {args.model}, threads {args.threads or 'all'}; "
                  f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end"),
        ("raw pose FPS", f"{raw:.1f}"),
        ("end-to-end FPS, decoded frames as a camera gives them (--fast)", f"{statistics.median(cams):.1f}"),
        ("end-to-end / raw, camera-like (goal >= 0.9)",
         f"{statistics.median(cam_ratios):.3f} (median of paired runs; range {min(cam_ratios):.2f}.."
         f"{max(cam_ratios):.2f}); CPU per frame {statistics.median(cam_cpu) * 1000:.1f} ms "
         f"(pose alone {statistics.median(raw_cpu) * 1000:.1f})"),
        ("end-to-end FPS, the video file (--fast)", f"{e2e_fps:.1f}"),
        ("end-to-end / raw, the video file (decoding included)",
         f"{statistics.median(ratios):.3f} (median of paired runs; range {min(ratios):.2f}..{max(ratios):.2f})"),
        ("CPU per frame: decode + pose / station", f"{base_cpu * 1000:.1f} / {statistics.median(e2e_cpu) * 1000:.1f}"
                                                   f" ms (station overhead {over_cpu * 1000:+.1f} ms, "
                                                   f"{over_cpu / base_cpu:+.1%})"),
        (f"frame->events latency at {fps:g} fps, p50 / p99", f"{np.percentile(lat_all, 50):.1f} / "
                                                              f"{np.percentile(lat_all, 99):.1f} ms"),
        ("frame->rep verdict latency, p50 / p99", f"{np.nanpercentile(lat_rep, 50):.1f} / "
                                                  f"{np.nanpercentile(lat_rep, 99):.1f} ms "
                                                  f"({np.isfinite(lat_rep).sum()} reps)"),
        ("frames dropped in real time", f"{dropped} of {args.runs * len(frames)}"),
        ("CPU per frame without pose: station loop / judge alone", f"{loop_cpu * 1000:.2f} / "
                                                                  f"{judge_cpu * 1000:.2f} ms (clip)"),
        (f"RSS start / after {n} frames (clip)", f"{start:.1f} / {end:.1f} MB "
                                                  f"(delta {end - start:+.1f} MB, goal within 5)"),
        ("time to READY (median)", f"{ready:.2f} s"),
    ]
    w = max(len(k) for k, _ in rows)
    print(f"{'metric':<{w}}  value")
    print(f"{'-' * w}  {'-' * 40}")
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
