"""The judge's settings: the ``[judge]`` section of the station's TOML file, field for field.

Every key, its reason and its unit are documented in ``app/formcheck.toml``; times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..checks import boolean, check_fields, choice, number, setting
from ..errors import ConfigError
from .reps import RepConfig

VERDICTS = ("conditions", "form", "both")
HISTORY_MARGIN_S = 5.0  # frames kept beyond the longest rep, so its window is complete


@dataclass(frozen=True)
class JudgeConfig:
    # person state
    state_hold: float = setting(0.5, number(0.0, 10.0))
    min_visibility: float = setting(0.5, number(0.0, 1.0))
    frame_margin: float = setting(0.02, number(0.0, 1.0))
    # resets (0: never)
    inactivity_reset: float = setting(15.0, number(0.0, 86400.0))
    absence_reset: float = setting(30.0, number(0.0, 86400.0))
    # reps
    min_rep: float = setting(0.4, number(0.05, 60.0))
    max_rep: float = setting(12.0, number(0.5, 600.0))
    # verdicts
    condition_threshold: float = setting(0.35, number(0.0, 0.99))
    verdict: str = setting("conditions", choice(*VERDICTS))
    depth_rom: bool = setting(True, boolean)
    rep_min_coverage: float = setting(0.8, number(0.0, 1.0))
    history: float = setting(30.0, number(1.0, 3600.0))
    score_smoothing: float = setting(1.0, number(0.0, 60.0, lo_open=True))
    score_hysteresis: float = setting(0.1, number(0.0, 1.0))
    # exercise recognition
    auto_window: float = setting(2.5, number(0.0, 60.0, lo_open=True))
    auto_first: float = setting(2.5, number(0.0, 600.0))
    auto_confidence: float = setting(0.6, number(0.0, 1.0))
    auto_margin: float = setting(0.2, number(0.0, 1.0))
    auto_replay: float = setting(10.0, number(0.0, 3600.0))

    def __post_init__(self):
        problems = check_fields(self, "judge")
        if not problems:
            if self.min_rep >= self.max_rep:
                problems.append(f"judge.max_rep: must be longer than judge.min_rep ({self.min_rep})")
            elif self.auto_replay > self.history_s:
                problems.append(f"judge.auto_replay: must not exceed the history kept ({self.history_s:g} s)")
        if problems:
            raise ConfigError(problems)

    @property
    def history_s(self) -> float:
        """Seconds of frames kept: ``history``, and always enough for the longest rep."""
        return max(self.history, self.max_rep + HISTORY_MARGIN_S)

    @cached_property
    def reps(self) -> RepConfig:
        return RepConfig(min_rep_s=self.min_rep, max_rep_s=self.max_rep)
