"""The station's parts about one person: spoken cues, the rep history, corrections from the
button, and personal thresholds applied to each rep (reloadable).

The station builds one :class:`PersonalFeedback` from its config, adds :meth:`outputs` to its
fan-out, passes each pose to :meth:`on_pose` and each event through :meth:`process`, routes
the button's clicks to :meth:`click`, and calls :meth:`reload` on SIGHUP.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..events import Event
from ..judging.personal import Personaliser
from ..outputs.gestures import ClickGestures
from ..outputs.history import (
    History,
    HistoryError,
    HistoryOutput,
    HistorySettings,
    RecentPoses,
    default_state_dir,
)
from ..outputs.speech import SpeechOutput, SpeechSettings, SpeechUnavailable

log = logging.getLogger(__name__)

PERSONAL_NAME = "personal.json"
ACK_WRONG = "noted"  # said after a double click marked the last rep wrong


def speech_cache_dir() -> str:
    """systemd's ``$CACHE_DIRECTORY``/speech (``/var/cache/formcheck/speech``), else "" (temporary)."""
    env = os.environ.get("CACHE_DIRECTORY")
    return str(Path(env.split(":")[0]) / "speech") if env else ""


class PersonalFeedback:
    def __init__(self, *, speech: SpeechSettings | None = None, history: HistorySettings | None = None,
                 personal_path: str | Path | None = None, on_single_click=None, sink=None,
                 history_db: History | None = None):
        self.ring: RecentPoses | None = None
        self.history: HistoryOutput | None = None
        self.speech: SpeechOutput | None = None
        if history is not None or history_db is not None:
            try:
                db = history_db or History(settings=history)
            except (OSError, sqlite3.Error, HistoryError) as e:
                # a read-only or full disk must not stop the station: it runs without a history
                log.error("rep history off: %s", e)
            else:
                self.ring = RecentPoses() if db.settings.landmarks else None
                self.history = HistoryOutput(db, landmarks=self.ring)
                log.info("rep history: %s (%d reps)", db.path, db.count())
        if speech is not None:
            try:
                self.speech = SpeechOutput(speech, sink=sink)
            except (SpeechUnavailable, OSError, subprocess.SubprocessError) as e:
                log.warning("spoken cues off: %s", e)
        self.personaliser = Personaliser(personal_path)
        self.gestures = ClickGestures(on_single_click or (lambda: None), self.mark_last_wrong)

    @classmethod
    def from_config(cls, cfg: Any, *, on_single_click=None, sink=None) -> PersonalFeedback:
        """From the station config's ``[speech]`` and ``[history]`` sections."""
        sp, hi = cfg.speech, cfg.history
        speech = None
        if sp.enabled:
            speech = sp if sp.cache_dir or not speech_cache_dir() else replace(sp, cache_dir=speech_cache_dir())
        personal = hi.personal or default_state_dir() / PERSONAL_NAME
        return cls(speech=speech, history=hi if hi.enabled else None, personal_path=personal,
                   on_single_click=on_single_click, sink=sink)

    def outputs(self) -> list:
        return [o for o in (self.speech, self.history) if o is not None]

    # ---- from the frame loop -------------------------------------------------------------
    def on_pose(self, t: float, landmarks) -> None:
        if self.ring is not None:
            self.ring.push(t, landmarks)

    def process(self, event: Event) -> Event:
        return self.personaliser.process(event)

    # ---- from the button and signals -----------------------------------------------------
    def click(self) -> None:
        """A short press of the button: single (the station's own action) or double (mark wrong)."""
        self.gestures.click()

    def mark_last_wrong(self) -> dict | None:
        if self.history is None:
            log.info("double click: no rep history to mark (history.enabled = false)")
            return None
        rep = self.history.correct_last(False)
        if rep is None:
            log.info("double click: no rep to mark yet")
            return None
        log.info("the person marked %s rep %d wrong (history id %d)", rep["exercise"], rep["rep"], rep["id"])
        if self.speech is not None:
            self.speech.say(ACK_WRONG)
        return rep

    def reload(self) -> bool:
        """Re-read the personal thresholds (SIGHUP)."""
        return self.personaliser.reload()

    def close(self) -> None:
        self.gestures.close()
