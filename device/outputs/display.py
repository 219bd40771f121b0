"""The small OLED (luma.oled SSD1306 / SH1106, 128×64, I2C): exercise, reps, last verdict, cue.

``render`` is pure (view in, image out); ``Display`` follows the events and redraws only on
change. Layout and behaviour: ``docs/device.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from ..events import (
    NO_PERSON,
    STEP_INTO_VIEW,
    TRACKING,
    CameraEvent,
    Event,
    ExerciseEvent,
    RepEvent,
    ResetEvent,
    SetupEvent,
    StateEvent,
)
from .resilience import Backoff

log = logging.getLogger(__name__)

DRIVERS = ("ssd1306", "sh1106")

STATE_TEXT = {NO_PERSON: "No person", STEP_INTO_VIEW: "Step into view"}


@dataclass(frozen=True)
class ScreenView:
    """Everything the screen shows; equal views draw identical images."""

    exercise: str = ""
    good: int = 0
    bad: int = 0
    rep: int = 0
    last: bool | None = None  # verdict of the last rep; None: no rep yet, or no verdict
    cues: tuple[str, ...] = ()
    state: str = NO_PERSON
    camera_lost: bool = False  # a live camera stopped delivering: said before anything else
    setup: str = ""  # while the setup page is open: its PIN and address, shown above all else
    notice: str = ""  # what is out of view ("feet out of frame — step back")


@dataclass
class Fonts:
    small: Any = field(default_factory=lambda: ImageFont.load_default(size=11))
    big: Any = field(default_factory=lambda: ImageFont.load_default(size=22))

    @classmethod
    def from_file(cls, path: str | None) -> Fonts:
        """A TrueType file (e.g. DejaVuSans.ttf), or Pillow's embedded font when None."""
        if not path:
            return cls()
        try:
            return cls(ImageFont.truetype(path, 11), ImageFont.truetype(path, 22))
        except OSError as e:
            raise ValueError(f"display.font: cannot load {path!r}: {e}") from e


def _wrap(text: str, font: Any, width: int) -> list[str]:
    """Greedy word wrap by rendered width; a word wider than the line is cut."""
    lines: list[str] = []
    cur = ""
    for word in text.split():
        cand = f"{cur} {word}" if cur else word
        if font.getlength(cand) <= width:
            cur = cand
            continue
        if cur:
            lines.append(cur)
        while font.getlength(word) > width:  # a very long word: hard cut
            n = len(word)
            while n > 1 and font.getlength(word[:n]) > width:
                n -= 1
            lines.append(word[:n])
            word = word[n:]
        cur = word
    if cur:
        lines.append(cur)
    return lines


def _fit(lines: list[str], font: Any, width: int, max_lines: int) -> list[str]:
    if len(lines) <= max_lines:
        return lines
    lines = lines[:max_lines]
    last = lines[-1]
    while last and font.getlength(last + "…") > width:
        last = last[:-1]
    lines[-1] = last.rstrip() + "…"
    return lines


def _check(draw: ImageDraw.ImageDraw, x: int, y: int, s: int, width: int = 3) -> None:
    draw.line([(x, y + s * 0.55), (x + s * 0.38, y + s * 0.9), (x + s, y + s * 0.1)], fill=1, width=width)


def _cross(draw: ImageDraw.ImageDraw, x: int, y: int, s: int, width: int = 3) -> None:
    draw.line([(x + 1, y + 1), (x + s - 1, y + s - 1)], fill=1, width=width)
    draw.line([(x + 1, y + s - 1), (x + s - 1, y + 1)], fill=1, width=width)


def _bottom_lines(view: ScreenView, font: Any, width: int, max_lines: int) -> list[str]:
    """The setup page's PIN while it is open; a lost camera; else the state when not
    tracking, else the last verdict and its cue."""
    if view.setup:
        return _fit(_wrap(view.setup, font, width), font, width, max_lines)
    if view.camera_lost:
        return _fit(_wrap("Camera lost - reconnecting", font, width), font, width, max_lines)
    if view.state != TRACKING:
        msg = view.notice or STATE_TEXT.get(view.state, view.state.replace("_", " "))
        return _fit(_wrap(msg, font, width), font, width, max_lines)
    if view.last is None:  # (reps are counted while a part is out of view: say so)
        return _fit(_wrap(view.notice, font, width), font, width, max_lines) if view.notice else \
            ["Ready" if not view.rep else "No verdict"]
    if view.last:
        return ["OK - good rep"]
    # The first failed condition's cue only: two lines of 20 characters is all there is.
    cue = view.cues[0] if view.cues else "check your form"
    if len(view.cues) > 1:
        cue += f" (+{len(view.cues) - 1})"
    return _fit(_wrap("FIX: " + cue, font, width), font, width, max_lines)


def render(view: ScreenView, size: tuple[int, int] = (128, 64), fonts: Fonts | None = None) -> Image.Image:
    """Draw ``view`` into a new 1-bit image of ``size`` (pure; no device).

    64 px tall panels get the layout above; 32 px ones a compact one: title and counts on the
    first line, the verdict/cue/state on the two below.
    """
    fonts = fonts or _default_fonts()
    w, h = size
    img = Image.new("1", size, 0)
    d = ImageDraw.Draw(img)
    sm, big = fonts.small, fonts.big
    line_h = 11
    title = view.exercise.replace("_", " ").upper() if view.exercise else "FORMCHECK"

    if h < 64:
        good, bad = str(view.good), str(view.bad)
        gw, bw = sm.getbbox(good)[2], sm.getbbox(bad)[2]
        x_bad = w - bw - 1
        x_cross = x_bad - 11
        x_good = x_cross - 4 - gw
        x_check = x_good - 11
        d.text((0, 0), _fit([title, ""], sm, x_check - 4, 1)[0] if sm.getlength(title) > x_check - 4 else title,
               font=sm, fill=1)
        _check(d, x_check, 1, 9, 2)
        d.text((x_good, 0), good, font=sm, fill=1)
        _cross(d, x_cross, 1, 9, 2)
        d.text((x_bad, 0), bad, font=sm, fill=1)
        top, line_h = 9, 10  # the font has ~2 px of headroom: glyphs start at 11 and 21
        for i, line in enumerate(_bottom_lines(view, sm, w, max(1, (h - top) // line_h))):
            d.text((0, top + i * line_h), line, font=sm, fill=1)
        return img

    # Title: exercise name, total reps on the right.
    right = f"rep {view.rep}" if view.rep else ""
    rw = sm.getbbox(right)[2] + 1 if right else 0
    if sm.getlength(title) > w - rw - 6:
        title = _fit([title, ""], sm, w - rw - 6, 1)[0]
    d.text((0, 0), title, font=sm, fill=1)
    if right:
        d.text((w - rw, 0), right, font=sm, fill=1)

    # Counts: ✓ good, ✗ bad, large.
    y = 14
    _check(d, 1, y + 3, 14)
    d.text((19, y - 2), str(view.good), font=big, fill=1)
    _cross(d, w // 2 + 2, y + 3, 14)
    d.text((w // 2 + 20, y - 2), str(view.bad), font=big, fill=1)
    d.line([(0, 39), (w - 1, 39)], fill=1)

    top = 40
    for i, line in enumerate(_bottom_lines(view, sm, w, (h - top) // line_h)):
        d.text((0, top + i * line_h), line, font=sm, fill=1)
    return img


_FONTS: Fonts | None = None


def _default_fonts() -> Fonts:
    global _FONTS
    if _FONTS is None:
        _FONTS = Fonts()
    return _FONTS


def open_device(driver: str = "ssd1306", port: int = 1, address: int | str = 0x3C, rotate: int = 0,
                width: int = 128, height: int = 64) -> Any:
    """Open a luma.oled device on I2C. Raises (clearly) when the bus or the chip is missing."""
    if driver not in DRIVERS:
        raise ValueError(f"display.driver must be one of {', '.join(DRIVERS)}, got {driver!r}")
    addr = _address(address)
    if rotate not in (0, 1, 2, 3):
        raise ValueError(f"display.rotate must be 0, 1, 2 or 3 (×90°), got {rotate!r}")
    from luma.core.interface.serial import i2c
    from luma.oled import device as oled

    serial = i2c(port=port, address=addr)
    return getattr(oled, driver)(serial, width=width, height=height, rotate=rotate)


def _address(address: int | str) -> int:
    try:
        addr = int(address, 0) if isinstance(address, str) else int(address)
    except ValueError:
        raise ValueError(f"display.address must be an I2C address like 0x3C, got {address!r}") from None
    if not 0x03 <= addr <= 0x77:
        raise ValueError(f"display.address 0x{addr:02X} is outside the 7-bit I2C range 0x03..0x77")
    return addr


class Display:
    """The OLED as an Output. ``device`` injects a luma device (tests: ``luma.core.device.dummy``)."""

    name = "display"
    threaded = True

    def __init__(
        self,
        *,
        driver: str = "ssd1306",
        port: int = 1,
        address: int | str = 0x3C,
        rotate: int = 0,
        width: int = 128,
        height: int = 64,
        font: str | None = None,
        device: Any = None,
        device_factory: Callable[[], Any] | None = None,
        reopen_backoff: tuple[float, float] = (2.0, 60.0),
        sleep_after: float | None = 600.0,
    ):
        if sleep_after is not None and sleep_after <= 0:
            raise ValueError(f"display.sleep_after must be > 0 seconds or none, got {sleep_after!r}")
        # OLEDs burn in: after this long with nobody in view the panel is switched off, and
        # switched on again when someone steps in. Checked on every event (stats events keep
        # arriving while nobody is there).
        self.sleep_after = sleep_after
        self._nobody_since: float | None = time.monotonic()
        self.asleep = False
        self.fonts = Fonts.from_file(font)
        self.view = ScreenView()
        self._shown: ScreenView | None = None  # what the device shows now
        self._reopen = Backoff(*reopen_backoff)
        if device is not None:
            self._factory = device_factory  # an injected device is kept and retried, unless told how
        elif device_factory is not None:
            self._factory = device_factory
        else:
            _address(address)  # validate now, not at the first event
            if rotate not in (0, 1, 2, 3):
                raise ValueError(f"display.rotate must be 0, 1, 2 or 3 (×90°), got {rotate!r}")
            if driver not in DRIVERS:
                raise ValueError(f"display.driver must be one of {', '.join(DRIVERS)}, got {driver!r}")

            def _factory() -> Any:
                return open_device(driver, port, address, rotate, width, height)

            self._factory = _factory
        # Open now so a missing display is reported at start; failure here is not fatal.
        self.device = device if device is not None else self._open(raise_=False)
        self.size = (self.device.width, self.device.height) if self.device is not None else (width, height)
        if self.device is not None:
            try:
                self._draw_if_changed()  # the empty screen, so a stale picture never lingers
            except Exception as e:
                log.warning("display: first draw failed (%s: %s); will retry", type(e).__name__, e)

    # ---- events -> view -------------------------------------------------------------------
    def update(self, event: Event) -> ScreenView:
        v = self.view
        if isinstance(event, RepEvent):
            v = replace(v, exercise=event.exercise or v.exercise, good=event.good, bad=event.bad,
                        rep=event.rep, last=event.correct, cues=tuple(event.cues) if event.correct is False else ())
        elif isinstance(event, StateEvent):
            # (the small fonts may lack the dash)
            v = replace(v, state=event.state, notice=event.message.replace("—", "-"))
        elif isinstance(event, ExerciseEvent):
            v = replace(v, exercise=event.exercise)
        elif isinstance(event, ResetEvent):
            v = replace(v, good=0, bad=0, rep=0, last=None, cues=())
        elif isinstance(event, CameraEvent):
            v = replace(v, camera_lost=event.state == "lost")
        elif isinstance(event, SetupEvent):
            host = event.url.split("//", 1)[-1].rstrip("/")
            v = replace(v, setup=f"SETUP PIN {event.pin} {host}" if event.open else "")
        self.view = v
        return v

    def handle(self, event: Event) -> None:
        self.update(event)
        now = time.monotonic()
        if self.view.state != NO_PERSON or self.view.setup:  # the PIN must be readable
            self._nobody_since = None
            if self.asleep:
                self._wake()
        elif self._nobody_since is None:
            self._nobody_since = now
        elif (self.sleep_after is not None and not self.asleep and self.device is not None
              and now - self._nobody_since >= self.sleep_after):
            self.device.hide()
            self.asleep = True
            return
        if not self.asleep:
            self._draw_if_changed()

    def _wake(self) -> None:
        self.asleep = False
        if self.device is not None:
            try:
                self.device.show()
            except Exception:
                self._shown = None
                if self._factory is not None:
                    self._release()
                raise

    def image(self) -> Image.Image:
        return render(self.view, self.size, self.fonts)

    # ---- device ---------------------------------------------------------------------------
    def _open(self, raise_: bool = True) -> Any:
        if self._factory is None:
            return None
        now = time.monotonic()
        if not self._reopen.due(now):
            if raise_:
                raise RuntimeError(f"display unavailable; reopening in {self._reopen.next_at - now:.0f} s")
            return None
        try:
            dev = self._factory()
        except Exception as e:
            self._reopen.failed(now)
            if raise_:
                raise
            log.warning("display: cannot open (%s: %s); will retry", type(e).__name__, e)
            return None
        self._reopen.succeeded()
        self._shown = None
        self.asleep = False  # a freshly opened panel is on
        return dev

    def _draw_if_changed(self) -> None:
        if self.device is None:
            if self._factory is None:
                return
            self.device = self._open()
            if self.device is None:
                return
        if self.view == self._shown:
            return
        img = self.image()
        try:
            self.device.display(img.convert(self.device.mode))
        except Exception:
            self._shown = None
            if self._factory is not None:
                self._release()  # reopened on a later event
            raise
        self._shown = self.view

    def _release(self) -> None:
        dev, self.device = self.device, None
        if dev is None:
            return
        try:
            dev.cleanup()
        except Exception:
            log.debug("display cleanup failed", exc_info=True)

    def close(self) -> None:
        """Blank the panel and release the bus (luma's cleanup: display off, cleared)."""
        self._release()
