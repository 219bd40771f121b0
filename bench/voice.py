"""Does speaking and keeping reps slow the station? Frame rate with and without them.

The station runs a landmark clip of squats as fast as it can (no pose model: the loop, judge
and outputs are what is measured), once per configuration, interleaved over ``--runs`` rounds:

- *baseline*: JSON lines only (speech and history off),
- *speech*: plus spoken count and cues (``say = "both"``: a phrase every rep) rendered by the
  real espeak-ng, played by a sink that takes each WAV file's real duration (a speaker),
- *speech + history*: plus the rep history with landmarks (SQLite, WAL, full sync).

    python bench/voice.py [--frames 3000] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

sys.modules.setdefault("tensorflow", None)  # as the station: never TensorFlow

from formcheck.device.app import config as C  # noqa: E402
from formcheck.device.app.feedback import PersonalFeedback  # noqa: E402
from formcheck.device.app.station import Station  # noqa: E402
from formcheck.device.capture.landmark_clip import LandmarkClipReader  # noqa: E402
from formcheck.device.capture.sources import FrameSource  # noqa: E402
from formcheck.device.outputs.history import HistorySettings  # noqa: E402
from formcheck.device.outputs.speech import SpeechSettings  # noqa: E402
from formcheck.device.sequences import LandmarkSequence  # noqa: E402
from formcheck.train.demo import squat_landmarks, squat_phases  # noqa: E402


class SpeakerSink:
    """Takes as long as the phrase lasts, like a speaker."""

    def __init__(self):
        self.played = 0

    def play(self, wav: Path, text: str) -> None:
        with wave.open(str(wav)) as w:
            time.sleep(w.getnframes() / w.getframerate())
        self.played += 1

    def close(self) -> None:
        pass


def clip(frames: int, fps: float = 30.0) -> LandmarkSequence:
    n_reps = int(frames / fps / 1.5) + 2
    lm = squat_landmarks(squat_phases(n_reps, fps, lead_s=1.0, rep_s=1.0, rest_s=0.5, tail_s=1.0))[:frames]
    return LandmarkSequence(id="squats", t=np.arange(len(lm)) / fps, landmarks=lm, exercise="squat",
                            image_size=(640, 480), fps=fps)


def run(seq: LandmarkSequence, mode: str, tmp: Path) -> tuple[float, int, int]:
    """(frames/s, reps, phrases played) of one station run."""
    cfg = C.apply_overrides(C.Config(), {"station.exercise": "squat", "gpio.enabled": False,
                                         "display.enabled": False, "logging.stats_interval": 0.0,
                                         "camera.realtime": False})
    sink = SpeakerSink()
    speech = SpeechSettings(enabled=True, say="both", repeat_s=0.0, cache_dir=str(tmp / "speech")) \
        if mode != "baseline" else None
    history = HistorySettings(path=str(tmp / f"h-{time.monotonic_ns()}.sqlite3")) if mode == "speech+history" else None
    fb = PersonalFeedback(speech=speech, history=history, sink=sink)
    st = Station(cfg, source=FrameSource(LandmarkClipReader(seq), realtime=False), stream=io.StringIO(),
                 feedback=fb)
    st.setup()
    # the loop's time: from the start to the last frame judged (shutdown, which lets a phrase
    # being spoken finish, is not frame time)
    last = [0.0]
    update = st.judge.update

    def timed(pose):
        out = update(pose)
        last[0] = time.perf_counter()
        return out

    st.judge.update = timed
    t0 = time.perf_counter()
    st.run()
    return st.frames / (last[0] - t0), st.good + st.bad, sink.played


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    seq = clip(args.frames)
    modes = ["baseline", "speech", "speech+history"]
    fps: dict[str, list[float]] = {m: [] for m in modes}
    info: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="formcheck-voice-") as tmp:
        run(seq, "speech", Path(tmp))  # warm: phrases rendered once, as on a running station
        for _ in range(args.runs):
            for m in modes:
                f, reps, played = run(seq, m, Path(tmp))
                fps[m].append(f)
                info[m] = (reps, played)
    base = statistics.median(fps["baseline"])
    print(f"{len(seq.t)} frames of squats, {args.runs} interleaved runs each (medians)\n")
    print("| configuration | frames/s | × baseline | reps | phrases played |")
    print("|---|---:|---:|---:|---:|")
    for m in modes:
        med = statistics.median(fps[m])
        print(f"| {m} | {med:.0f} | {med / base:.2f}× | {info[m][0]} | {info[m][1]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
