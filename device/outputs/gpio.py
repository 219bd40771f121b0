"""LEDs, buzzer and button on GPIO (gpiozero): the station's at-a-glance output and its one input.

part       default  behaviour
=========  =======  ==========================================================================
green LED  GPIO17   lit ``good_s`` (1.5 s) after a correct rep
red LED    GPIO27   lit ``bad_s`` (1.5 s) after an incorrect rep
amber LED  GPIO22   lit while the state is ``no_person`` or ``step_into_view`` (and at start,
                    before any state is known); off while tracking; blinking (0.25 s on/off)
                    while a live camera is lost
buzzer     GPIO18   ``beeps`` short beeps (2 × 0.1 s) on an incorrect rep; an *active* buzzer
                    module (it sounds when driven high), not a bare piezo needing PWM
button     GPIO23   to GND (internal pull-up). Short press: ``on_next_exercise()``; held
                    ``hold_time`` (2 s): ``on_reset()``, fired while still held
=========  =======  ==========================================================================

LEDs go between the pin and GND through a resistor (330 Ω–1 kΩ). Nothing is counted here;
a rep without a verdict (``correct is None``) lights nothing. A reset (long
press) flashes green and red together once, so the person holding the button sees it worked.

The button callbacks run on gpiozero's threads: the station must hand them over to its own
loop (e.g. a queue or a flag), not touch the judge directly. Exceptions they raise are logged.
=======
Wiring and behaviour: ``docs/device.md``. The button callbacks run on gpiozero's threads: hand
them to the station's loop, never touch the judge from them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..checks import Bad, integer
from ..events import NO_PERSON, TRACKING, CameraEvent, Event, RepEvent, ResetEvent, StateEvent

MAX_BEEP_WAIT_S = 2.0  # the longest close() waits for a bad rep's beeps: a stop stays prompt
CAMERA_LOST_BLINK_S = 0.25  # amber on/off while the camera is lost: unlike steady "nobody"
log = logging.getLogger(__name__)

PinSpec = int | str  # BCM number, or any name gpiozero accepts ("GPIO17", "BOARD11", "J8:11")
BCM_MAX = 27  # GPIO0..GPIO27: the pins of the 40-pin header
bcm_pin = integer(0, BCM_MAX)  # the one pin-number check (config keys and SignalPins)
PIN_FACTORY_GROUP = "gpiozero_pin_factories"  # gpiozero's own entry points for its pin factories


def pins_in_use_twice(pins: Mapping[str, PinSpec | None], prefix: str = "") -> list[str]:
    """``key: pin N is already used by other`` for every part wired to a pin taken before it."""
    seen: dict[PinSpec, str] = {}
    problems = []
    for name, v in pins.items():
        if v is None:
            continue
        if v in seen:
            problems.append(f"{prefix}{name}: pin {v!r} is already used by {prefix}{seen[v]}")
        seen.setdefault(v, name)
    return problems


def pin_factory_names() -> list[str]:
    """The pin factories gpiozero has registered (its entry points; gpiozero is not imported)."""
    from importlib.metadata import entry_points

    return sorted(ep.name for ep in entry_points(group=PIN_FACTORY_GROUP))


def make_pin_factory(name: str):
    """A gpiozero pin factory by its registered name ("" = gpiozero's own choice: None)."""
    if not name:
        return None
    from importlib.metadata import entry_points

    for ep in entry_points(group=PIN_FACTORY_GROUP):
        if ep.name == name.lower():
            return ep.load()()
    raise ValueError(f"gpio.pin_factory {name!r}: not a gpiozero pin factory "
                     f"(installed: {', '.join(pin_factory_names()) or 'none'})")


@dataclass(frozen=True)
class SignalPins:
    """Which GPIO each part is wired to; ``None`` = not wired."""

    green: PinSpec | None = 17
    red: PinSpec | None = 27
    amber: PinSpec | None = 22
    buzzer: PinSpec | None = 18
    button: PinSpec | None = 23

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | str):
                raise ValueError(f"pins.{f.name}: expected a BCM pin number, a pin name or none, got {v!r}")
            if isinstance(v, int):
                try:
                    bcm_pin(v)
                except Bad:
                    raise ValueError(f"pins.{f.name}: BCM pin {v} is out of range 0..{BCM_MAX}") from None
            if isinstance(v, str) and not v.strip():
                raise ValueError(f"pins.{f.name}: empty pin name")
        twice = pins_in_use_twice({f.name: getattr(self, f.name) for f in fields(self)}, "pins.")
        if twice:
            raise ValueError(twice[0])

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None) -> SignalPins:
        """From a config table; unknown keys are rejected by name. Missing keys keep defaults."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"pins: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        # TOML has no null: "none"/"" or false mean not wired.
        for k, v in d.items():
            if v is False or (isinstance(v, str) and v.strip().lower() in ("", "none")):
                d[k] = None
        return cls(**d)

    @classmethod
    def none(cls) -> SignalPins:
        return cls(None, None, None, None, None)


class Signals:
    """The GPIO output (LEDs, buzzer) and input (button). Implements the Output protocol."""

    name = "signals"
    threaded = False  # gpiozero calls return at once (blinks run on gpiozero's own threads)

    def __init__(
        self,
        pins: SignalPins | Mapping[str, Any] | None = None,
        *,
        pin_factory: Any = None,
        on_next_exercise: Callable[[], None] | None = None,
        on_reset: Callable[[], None] | None = None,
        on_setup: Callable[[], None] | None = None,
        setup_hold: float = 0.0,
        good_s: float = 1.5,
        bad_s: float = 1.5,
        beep_on_s: float = 0.1,
        beep_off_s: float = 0.1,
        beeps: int = 2,
        reset_flash_s: float = 0.3,
        hold_time: float = 2.0,
        bounce_time: float | None = 0.02,
    ):
        if not isinstance(pins, SignalPins):
            pins = SignalPins.from_mapping(pins)
        for key, v in (("good_s", good_s), ("bad_s", bad_s), ("beep_on_s", beep_on_s),
                       ("beep_off_s", beep_off_s), ("reset_flash_s", reset_flash_s), ("hold_time", hold_time)):
            if not v > 0:
                raise ValueError(f"signals.{key} must be > 0, got {v!r}")
        if beeps < 0:
            raise ValueError(f"signals.beeps must be >= 0, got {beeps!r}")
        self.pins = pins
        self.good_s, self.bad_s = good_s, bad_s
        self.beep_on_s, self.beep_off_s, self.beeps = beep_on_s, beep_off_s, beeps
        self.reset_flash_s = reset_flash_s
        self.on_next_exercise = on_next_exercise
        self.on_reset = on_reset
        # Held on past the reset for setup_hold seconds: open the setup page (0 = never).
        self.on_setup = on_setup if setup_hold > 0 else None
        self.setup_hold = setup_hold
        self._setup_fired = False
        self._held = False
        self._closed = False
        self._lock = threading.Lock()

        # Imported here so the rest of the station (and its tests) never need gpiozero.
        from gpiozero import LED, Button, Buzzer

        self.green = self.red = self.amber = self.buzzer = self.button = None
        kw = {"pin_factory": pin_factory}
        try:
            if pins.green is not None:
                self.green = LED(pins.green, **kw)
            if pins.red is not None:
                self.red = LED(pins.red, **kw)
            if pins.amber is not None:
                self.amber = LED(pins.amber, **kw)
                self.amber.on()  # nobody tracked yet: the state starts as no_person
            if pins.buzzer is not None:
                self.buzzer = Buzzer(pins.buzzer, **kw)
            if pins.button is not None:
                # hold_repeat: when_held fires every hold_time while held, so a longer hold
                # can be told from the reset's.
                self.button = Button(pins.button, pull_up=True, bounce_time=bounce_time,
                                     hold_time=hold_time, hold_repeat=self.on_setup is not None, **kw)
                self.button.when_pressed = self._pressed
                self.button.when_held = self._on_held
                self.button.when_released = self._released
        except Exception as e:
            self.close()
            raise RuntimeError(
                f"GPIO setup failed ({type(e).__name__}: {e}); check the [gpio] pins, that this "
                "user is in the gpio group, or set gpio.enabled = false"
            ) from e
        self.state = NO_PERSON
        self.camera_lost = False

    # ---- output ---------------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        with self._lock:
            if self._closed:
                return
            if isinstance(event, RepEvent):
                self._rep(event)
            elif isinstance(event, StateEvent):
                self.state = event.state
                if self.amber is not None and not self.camera_lost:
                    if event.state == TRACKING:
                        self.amber.off()
                    else:
                        self.amber.on()
            elif isinstance(event, CameraEvent):
                # Camera lost: amber blinks until frames come again (steady amber = nobody).
                self.camera_lost = event.state == "lost"
                if self.amber is not None:
                    if self.camera_lost:
                        self.amber.blink(on_time=CAMERA_LOST_BLINK_S, off_time=CAMERA_LOST_BLINK_S, background=True)
                    elif self.state == TRACKING:
                        self.amber.off()
                    else:
                        self.amber.on()
            elif isinstance(event, ResetEvent):
                for led in (self.green, self.red):
                    if led is not None:
                        led.blink(on_time=self.reset_flash_s, off_time=0.0, n=1, background=True)

    def _rep(self, rep: RepEvent) -> None:
        if rep.correct is None:
            return
        on, off = (self.green, self.red) if rep.correct else (self.red, self.green)
        if off is not None:
            off.off()  # the previous rep's verdict no longer applies
        if on is not None:
            # blink(n=1) = lit for on_time then off, on gpiozero's thread: no timer of ours.
            on.blink(on_time=self.good_s if rep.correct else self.bad_s, off_time=0.0, n=1, background=True)
        if not rep.correct and self.buzzer is not None and self.beeps:
            self.buzzer.beep(on_time=self.beep_on_s, off_time=self.beep_off_s, n=self.beeps, background=True)
            self._beeping_until = time.monotonic() + self.beeps * (self.beep_on_s + self.beep_off_s)

    # ---- button ---------------------------------------------------------------------------
    def _pressed(self) -> None:
        self._held = False
        self._setup_fired = False

    def _on_held(self) -> None:
        if not self._held:
            self._held = True
            self._call(self.on_reset, "on_reset")
        button = self.button
        if (self.on_setup is not None and not self._setup_fired and button is not None
                and (button.active_time or 0.0) >= self.setup_hold - 1e-3):
            self._setup_fired = True
            self._call(self.on_setup, "on_setup")

    def _released(self) -> None:
        if not self._held:  # a long press already fired on_reset; its release is not a click
            self._call(self.on_next_exercise, "on_next_exercise")
        self._held = False

    @staticmethod
    def _call(fn: Callable[[], None] | None, what: str) -> None:
        if fn is None:
            return
        try:
            fn()
        except Exception:
            log.exception("button callback %s failed", what)

    # ---- shutdown -------------------------------------------------------------------------
    def close(self) -> None:
        """Everything off, pins released. Idempotent; safe after a partial __init__. A bad rep's
        beeps still sounding are let finish (at most ``beeps`` × their period): the last rep of
        a set that ends the run gets its whole signal."""
        left = getattr(self, "_beeping_until", 0.0) - time.monotonic()
        if left > 0:
            time.sleep(min(left, MAX_BEEP_WAIT_S))
        with self._lock:
            self._closed = True
            for attr in ("button", "buzzer", "amber", "red", "green"):
                dev = getattr(self, attr, None)
                if dev is None:
                    continue
                try:
                    if attr != "button":
                        dev.off()  # stops a running blink/beep thread too
                    dev.close()
                except Exception:
                    log.warning("closing %s failed", attr, exc_info=True)
                setattr(self, attr, None)
