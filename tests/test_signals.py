"""LEDs, buzzer and button through gpiozero's MockFactory: what a person at the station sees."""

from __future__ import annotations

import time
from itertools import pairwise

import helpers
import pytest

pytest.importorskip("gpiozero")
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from formcheck.device.events import (
    NO_PERSON,
    STEP_INTO_VIEW,
    TRACKING,
    ExerciseEvent,
    RepEvent,
    ResetEvent,
    StateEvent,
)
from formcheck.device.outputs.fanout import Outputs
from formcheck.device.outputs.gpio import SignalPins, Signals

GOOD_S = BAD_S = 0.25
BEEP = 0.04
HOLD = 0.4


@pytest.fixture
def factory():
    f = MockFactory()
    old = Device.pin_factory
    Device.pin_factory = f
    yield f
    f.reset()
    Device.pin_factory = old


@pytest.fixture
def presses():
    return []


@pytest.fixture
def signals(factory, presses):
    s = Signals(
        pin_factory=factory,
        on_next_exercise=lambda: presses.append("next"),
        on_reset=lambda: presses.append("reset"),
        good_s=GOOD_S, bad_s=BAD_S, beep_on_s=BEEP, beep_off_s=BEEP, beeps=2, reset_flash_s=0.1,
        hold_time=HOLD, bounce_time=None,
    )
    yield s
    s.close()


def lit(factory, pin):
    return factory.pin(pin).state


def rep(correct, n=1, cues=()):
    return RepEvent(t=float(n), exercise="squat", rep=n, correct=correct, cues=list(cues),
                    good=int(bool(correct)), bad=int(correct is False))


def wait_until(cond, timeout=2.0):
    return helpers.wait_until(cond, timeout, poll=0.005)  # fine polling: LED timings are short


def test_default_pins_are_the_documented_bcm_ones():
    p = SignalPins()
    assert (p.green, p.red, p.amber, p.buzzer, p.button) == (17, 27, 22, 18, 23)


def on_durations(factory, pin):
    """How long each on-period of a mock pin lasted (its history stores time since the last change)."""
    states = factory.pin(pin).states
    return [b.timestamp for a, b in pairwise(states) if a.state and not b.state]


def test_good_rep_lights_green_for_a_while_without_a_beep(factory, signals):
    signals.handle(rep(True))
    assert lit(factory, 17) and not lit(factory, 27)
    assert wait_until(lambda: not lit(factory, 17), GOOD_S + 2)
    (lit_for,) = on_durations(factory, 17)
    assert lit_for >= GOOD_S * 0.9, "green must stay lit for good_s, not flash"
    assert [s.state for s in factory.pin(18).states] == [False], "a good rep must not beep"


def test_bad_rep_lights_red_and_beeps_twice(factory, signals):
    signals.handle(rep(True, 1))
    signals.handle(rep(False, 2, cues=["keep your back neutral"]))
    assert lit(factory, 27) and not lit(factory, 17), "the bad verdict replaces the good one"
    assert wait_until(lambda: not lit(factory, 27), BAD_S + 1)
    buzzer = [s.state for s in factory.pin(18).states]
    assert buzzer == [False, True, False, True, False]
    assert all(t >= BEEP * 0.9 for t in on_durations(factory, 18))
    assert on_durations(factory, 27)[0] >= BAD_S * 0.9


def test_rep_without_a_verdict_lights_nothing(factory, signals):
    signals.handle(rep(None))
    assert not lit(factory, 17) and not lit(factory, 27) and not lit(factory, 18)


def test_amber_follows_the_person_state(factory, signals):
    assert lit(factory, 22), "amber on at start: nobody tracked yet"
    signals.handle(StateEvent(t=0, state=TRACKING, previous=NO_PERSON))
    assert not lit(factory, 22)
    signals.handle(StateEvent(t=1, state=STEP_INTO_VIEW, previous=TRACKING))
    assert lit(factory, 22)
    signals.handle(StateEvent(t=2, state=TRACKING, previous=STEP_INTO_VIEW))
    assert not lit(factory, 22)
    signals.handle(StateEvent(t=3, state=NO_PERSON, previous=TRACKING))
    assert lit(factory, 22)
    signals.handle(ExerciseEvent(t=4, exercise="squat"))  # unrelated events change nothing
    assert lit(factory, 22)


def test_short_press_is_next_exercise(factory, signals, presses):
    button = factory.pin(23)
    button.drive_low()
    time.sleep(0.02)
    button.drive_high()
    assert presses == ["next"]


def test_long_press_is_reset_fired_while_held_and_release_is_not_a_click(factory, signals, presses):
    button = factory.pin(23)
    button.drive_low()
    assert wait_until(lambda: presses == ["reset"], HOLD + 1), "reset must fire while still held"
    time.sleep(HOLD / 2)
    button.drive_high()
    time.sleep(0.05)
    assert presses == ["reset"]
    # and the button still works afterwards
    button.drive_low()
    button.drive_high()
    assert presses == ["reset", "next"]


def test_reset_event_flashes_green_and_red(factory, signals):
    signals.handle(ResetEvent(t=0, reason="button"))
    assert lit(factory, 17) and lit(factory, 27)
    assert wait_until(lambda: not lit(factory, 17) and not lit(factory, 27), 1)


def test_raising_button_callback_is_contained(factory, presses):
    def boom():
        raise RuntimeError("judge busy")

    s = Signals(pin_factory=factory, on_next_exercise=boom, bounce_time=None)
    try:
        factory.pin(23).drive_low()
        factory.pin(23).drive_high()  # must not raise into gpiozero's thread
    finally:
        s.close()


def test_close_turns_everything_off_and_releases_the_pins(factory, signals):
    signals.handle(rep(False))
    signals.handle(StateEvent(t=0, state=NO_PERSON))
    assert lit(factory, 27) and lit(factory, 22) and lit(factory, 18)
    signals.close()
    assert not any(lit(factory, p) for p in (17, 27, 22, 18))
    time.sleep(BAD_S)  # a blink running at close must not turn anything back on
    assert not any(lit(factory, p) for p in (17, 27, 22, 18))
    signals.handle(rep(True))  # after close: ignored, no error
    assert not lit(factory, 17)
    # released: the same pins can be claimed again
    again = Signals(pin_factory=factory, bounce_time=None)
    again.close()
    signals.close()  # idempotent


def test_unwired_parts_are_optional(factory):
    s = Signals(SignalPins(green=5, red=None, amber=None, buzzer=None, button=None), pin_factory=factory)
    try:
        s.handle(rep(False))  # no red, no buzzer: nothing to do, no error
        s.handle(rep(True))
        assert lit(factory, 5)
    finally:
        s.close()


def test_pin_config_errors_name_the_field():
    with pytest.raises(ValueError, match=r"pins\.red: pin 17 is already used by pins.green"):
        SignalPins(green=17, red=17)
    with pytest.raises(ValueError, match=r"pins\.buzzer: BCM pin 99"):
        SignalPins(buzzer=99)
    with pytest.raises(ValueError, match=r"unknown key.*blue"):
        SignalPins.from_mapping({"blue": 5})
    assert SignalPins.from_mapping({"buzzer": "none", "green": 5}).buzzer is None
    with pytest.raises(ValueError, match=r"signals\.good_s"):
        Signals(SignalPins.none(), good_s=0)


def test_signals_behind_the_fanout(factory, presses):
    s = Signals(pin_factory=factory, good_s=GOOD_S, bounce_time=None)
    outs = Outputs([s])
    outs.handle(StateEvent(t=0, state=TRACKING))
    outs.handle(rep(True))
    assert lit(factory, 17) and not lit(factory, 22)
    outs.close()
    assert not lit(factory, 17)
