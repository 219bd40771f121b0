"""Spoken cues: an output that says the rep verdict's cue (and optionally the count) offline.

Phrases are rendered once by a text-to-speech engine (espeak-ng) into WAV files in a cache
folder and played through a :class:`Sink` (a player command such as ``aplay``, or a fake in
tests) on the output's own thread, behind a small queue that drops stale phrases: ``handle()``
never waits for the engine or the speaker.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..checks import boolean, check_fields, choice, integer, number, setting
from ..checks import text as a_string
from ..errors import ConfigError, FormcheckError
from ..events import Event, ExerciseEvent, RepEvent, ResetEvent
from ..exercises import EXERCISES

log = logging.getLogger(__name__)

SAY = ("cues", "count", "both")


class SpeechUnavailable(FormcheckError, RuntimeError):
    """No text-to-speech engine or player could be found or run."""


@dataclass(frozen=True)
class SpeechSettings:
    """What is spoken and how: the station's ``[speech]`` section, field for field (every key
    and its reason is documented in ``app/formcheck.toml``)."""

    enabled: bool = setting(False, boolean)  # the station builds the output only when true
    say: str = setting("cues", choice(*SAY))  # cues (a bad rep's cue), count (every rep), both
    voice: str = setting("en-us", a_string)  # an espeak-ng voice (``espeak-ng --voices``)
    volume: float = setting(1.0, number(0.0, 2.0))  # the engine's amplitude relative to its default
    rate: int = setting(165, integer(80, 450))  # words per minute
    quiet: bool = setting(False, boolean)  # nothing is spoken (the output stays wired)
    # The same cue is not said again within this many seconds of rep time: a rep takes
    # 2-4 s, so a fault repeated on every rep is named about every third rep, not each time.
    repeat_s: float = setting(8.0, number(0.0, 600.0))
    # Cues spoken per bad rep: one correction at a time is what a person can act on mid-set.
    max_cues: int = setting(1, integer(1, 5))
    # A phrase not started within this many seconds of its rep is dropped: by then the person
    # is into the next rep and the cue would describe the wrong one.
    stale_s: float = setting(4.0, number(0.0, 60.0))
    queue_size: int = setting(3, integer(1, 32))  # phrases waiting at most; past that the oldest goes
    player: str = setting("aplay -q", a_string)  # the command a WAV file path is appended to
    cache_dir: str = setting("", a_string, path=True)  # rendered phrases; "" = the cache directory / a temp folder

    def __post_init__(self):
        problems = check_fields(self, "speech")
        if problems:
            raise ConfigError(problems)


# ---- rendering --------------------------------------------------------------------------

def find_engine() -> str:
    """The espeak-ng (or espeak) executable, or SpeechUnavailable naming the apt package."""
    for name in ("espeak-ng", "espeak"):
        path = shutil.which(name)
        if path:
            return path
    raise SpeechUnavailable("no text-to-speech engine: install it with `sudo apt-get install espeak-ng`")


class Renderer:
    """Text to WAV with espeak-ng, each distinct phrase once (memory index over a cache folder).

    Files are named by a hash of engine settings and text, written to a temporary name and
    renamed, so a cache folder shared across restarts never holds a half-written phrase.
    """

    def __init__(self, settings: SpeechSettings, cache_dir: str | Path | None = None, engine: str | None = None):
        self.settings = settings
        self.engine = engine or find_engine()
        self._own_dir = None
        if cache_dir:
            self.dir = Path(cache_dir)
            self.dir.mkdir(parents=True, exist_ok=True)
        else:
            self._own_dir = tempfile.TemporaryDirectory(prefix="formcheck-speech-")
            self.dir = Path(self._own_dir.name)
        self._paths: dict[str, Path] = {}
        self._lock = threading.Lock()
        self.rendered = 0  # engine runs (cache misses)
        self._check_voice()

    def _check_voice(self) -> None:
        probe = subprocess.run([self.engine, "-v", self.settings.voice, "-q", "x"],
                               capture_output=True, text=True, timeout=10)
        if probe.returncode != 0 or "does not exist" in probe.stderr:
            raise SpeechUnavailable(f"speech.voice: {self.settings.voice!r} is not a voice of {self.engine} "
                                    f"(list them with `{Path(self.engine).name} --voices`)")

    def _key(self, text: str) -> str:
        s = self.settings
        raw = f"{Path(self.engine).name}|{s.voice}|{s.rate}|{s.volume:.3f}|{text}"
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:20]

    def render(self, text: str) -> Path:
        """The WAV file of ``text``, rendering it on the first request only."""
        key = self._key(text)
        with self._lock:
            path = self._paths.get(key)
            if path is not None and path.is_file():
                return path
            path = self.dir / f"{key}.wav"
            if not path.is_file():
                s = self.settings
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                cmd = [self.engine, "-v", s.voice, "-s", str(s.rate), "-a", str(round(100 * s.volume)),
                       "-w", str(tmp), "--", text]
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
                if done.returncode != 0 or not tmp.is_file():
                    tmp.unlink(missing_ok=True)
                    raise SpeechUnavailable(f"{Path(self.engine).name} failed on {text!r}: "
                                            f"{done.stderr.strip() or done.returncode}")
                os.replace(tmp, path)
                self.rendered += 1
            self._paths[key] = path
            return path

    def close(self) -> None:
        if self._own_dir is not None:
            self._own_dir.cleanup()
            self._own_dir = None


# ---- sinks ------------------------------------------------------------------------------

class Sink(Protocol):
    """Where a rendered phrase is played. ``play`` blocks until it has been played."""

    def play(self, wav: Path, text: str) -> None: ...

    def close(self) -> None: ...


class CommandSink:
    """Plays a WAV file with a player command (``aplay -q``, ``paplay``, ``pw-play``)."""

    def __init__(self, command: str = "aplay -q", timeout: float = 15.0):
        self.argv = shlex.split(command)
        if not self.argv:
            raise SpeechUnavailable("speech.player: empty command")
        if shutil.which(self.argv[0]) is None:
            raise SpeechUnavailable(f"speech.player: {self.argv[0]!r} not found "
                                    "(aplay is in the apt package alsa-utils)")
        self.timeout = timeout

    def play(self, wav: Path, text: str) -> None:
        done = subprocess.run([*self.argv, str(wav)], capture_output=True, text=True, timeout=self.timeout)
        if done.returncode != 0:
            raise OSError(f"{self.argv[0]} exited {done.returncode}: {done.stderr.strip()[:200]}")

    def close(self) -> None:
        pass


class FakeSink:
    """Records what was played (texts and files), optionally taking ``delay`` s per phrase."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.played: list[tuple[str, Path]] = []
        self.closed = False

    @property
    def texts(self) -> list[str]:
        return [t for t, _ in self.played]

    def play(self, wav: Path, text: str) -> None:
        if self.delay:
            time.sleep(self.delay)
        self.played.append((text, wav))

    def close(self) -> None:
        self.closed = True


# ---- the output -------------------------------------------------------------------------

@dataclass
class _Phrase:
    text: str
    queued: float  # monotonic time it was queued


def phrases_for(event: RepEvent, settings: SpeechSettings) -> list[str]:
    """What a rep event says, before repeat suppression: the count, then the cues."""
    out: list[str] = []
    if settings.say in ("count", "both") and event.rep > 0:
        out.append(str(event.rep))
    if settings.say in ("cues", "both") and event.correct is False:
        out += rep_cues(event)[: settings.max_cues]
    return out


def rep_cues(event: RepEvent) -> list[str]:
    """The rep's cues: ``cues``, else those of its failed ``conditions`` records when present."""
    cues = [c for c in event.cues if c]
    if not cues:
        for c in getattr(event, "conditions", None) or ():
            if isinstance(c, dict) and c.get("judged") and c.get("holds") is False and c.get("cue"):
                cues.append(str(c["cue"]))
    return cues


class SpeechOutput:
    """Says each rep's cue (and/or count). ``handle`` only queues; a worker renders and plays."""

    name = "speech"
    threaded = False  # its own worker; handle() never blocks

    def __init__(self, settings: SpeechSettings | None = None, *, sink: Sink | None = None,
                 renderer: Renderer | None = None):
        self.settings = settings or SpeechSettings()
        self.renderer = renderer or Renderer(self.settings, self.settings.cache_dir or None)
        self.sink = sink if sink is not None else CommandSink(self.settings.player)
        self._queue: deque[_Phrase] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._last_said: dict[str, float] = {}  # cue -> rep time it was last queued
        self.spoken = 0
        self.dropped_stale = 0
        self.dropped_full = 0
        self.suppressed = 0  # cues not repeated within repeat_s
        self.failures = 0
        self._last_error_log = -float("inf")
        self._thread = threading.Thread(target=self._run, name="output-speech", daemon=True)
        self._thread.start()

    # ---- loop side ----------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if isinstance(event, ExerciseEvent | ResetEvent):
            with self._cond:
                self._queue.clear()  # whatever was pending describes the previous set
            if isinstance(event, ExerciseEvent):
                self._last_said.clear()
                if event.exercise in EXERCISES and self.settings.say != "count" and not self.settings.quiet:
                    # the first cue of the set should not wait for the engine
                    self.prerender(c.cue for c in EXERCISES[event.exercise].conditions if c.cue)
            return
        if not isinstance(event, RepEvent) or self.settings.quiet:
            return
        texts = []
        for text in phrases_for(event, self.settings):
            if not text.isdigit():
                last = self._last_said.get(text)
                if last is not None and 0 <= event.t - last < self.settings.repeat_s:
                    self.suppressed += 1
                    continue
                self._last_said[text] = event.t
            texts.append(text)
        for text in texts:
            self.say(text)

    def say(self, text: str) -> None:
        """Queue one phrase now (e.g. an acknowledgement of the button), unless quiet."""
        if self.settings.quiet or not text:
            return
        with self._cond:
            if len(self._queue) >= self.settings.queue_size:
                self._queue.popleft()
                self.dropped_full += 1
            self._queue.append(_Phrase(text, time.monotonic()))
            self._cond.notify()

    def prerender(self, texts) -> None:
        """Render phrases ahead of need (e.g. every cue of the exercise) on a background thread."""
        texts = list(texts)

        def work():
            for text in texts:
                try:
                    self.renderer.render(text)
                except Exception as e:  # speaking later will report it
                    log.debug("prerender %r failed: %s", text, e)
        threading.Thread(target=work, name="speech-prerender", daemon=True).start()

    # ---- worker side --------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                phrase = self._queue.popleft()
            if time.monotonic() - phrase.queued > self.settings.stale_s:
                self.dropped_stale += 1
                continue
            try:
                wav = self.renderer.render(phrase.text)
                if time.monotonic() - phrase.queued > self.settings.stale_s:
                    self.dropped_stale += 1  # a slow first render made it stale
                    continue
                self.sink.play(wav, phrase.text)
                self.spoken += 1
            except Exception as e:
                self.failures += 1
                now = time.monotonic()
                if now - self._last_error_log > 30.0:
                    log.warning("speech: could not say %r (%s: %s); %d failures so far",
                                phrase.text, type(e).__name__, e, self.failures)
                    self._last_error_log = now

    def idle(self) -> bool:
        """Nothing queued (tests; the phrase being played may still be playing)."""
        with self._cond:
            return not self._queue

    def close(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._cond.notify()
        self._thread.join(timeout)
        try:
            self.sink.close()
        finally:
            if not self._thread.is_alive():
                self.renderer.close()
