"""The OLED screen through luma's dummy device: rendered, saved as PNG, and read back."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("luma.core")
from luma.core.device import dummy

from formcheck.device.events import (
    NO_PERSON,
    STEP_INTO_VIEW,
    TRACKING,
    ExerciseEvent,
    RepEvent,
    ResetEvent,
    StateEvent,
    StatsEvent,
)
from formcheck.device.outputs.display import Display, ScreenView, open_device, render
from formcheck.device.outputs.fanout import Outputs

# Regions of the 128×64 layout (x0, y0, x1, y1).
TITLE = (0, 0, 128, 13)
GOOD = (0, 13, 64, 38)
BAD = (64, 13, 128, 38)
BOTTOM = (0, 41, 128, 64)


def px(img: Image.Image, box=None) -> np.ndarray:
    img = img.convert("1")
    return np.asarray(img.crop(box) if box else img, dtype=bool)


def saved(img: Image.Image, path) -> Image.Image:
    img.save(path)
    return Image.open(path)


def good_rep(n=1, good=1, bad=0, exercise="squat"):
    return RepEvent(t=float(n), exercise=exercise, rep=n, correct=True, score=0.9, good=good, bad=bad)


def bad_rep(n=2, good=1, bad=1, exercise="squat", cues=("keep your back neutral",)):
    return RepEvent(t=float(n), exercise=exercise, rep=n, correct=False, score=0.1, failed=["back_neutral"],
                    cues=list(cues), good=good, bad=bad)


def tracking_display(**kw) -> tuple[Display, dummy]:
    dev = dummy(width=128, height=64, mode="1")
    d = Display(device=dev, **kw)
    d.handle(StateEvent(t=0, state=TRACKING, previous=NO_PERSON))
    return d, dev


def test_rendered_screen_is_not_blank_and_uses_the_whole_layout(tmp_path):
    img = saved(render(ScreenView("side_lunge", 5, 2, 7, False, ("keep your back neutral",), TRACKING)),
                tmp_path / "screen.png")
    assert img.size == (128, 64)
    a = px(img)
    assert 0.03 < a.mean() < 0.6, "blank or filled screen"
    for box in (TITLE, GOOD, BAD, BOTTOM):
        assert px(img, box).any(), f"nothing drawn in {box}"


def test_good_and_bad_rep_change_the_right_regions(tmp_path):
    d, dev = tracking_display()
    d.handle(good_rep(1, good=1, bad=0))
    after_good = saved(dev.image, tmp_path / "good.png")
    d.handle(bad_rep(2, good=1, bad=1))
    after_bad = saved(dev.image, tmp_path / "bad.png")

    assert (px(after_good, GOOD) == px(after_bad, GOOD)).all(), "good count did not change: same pixels"
    assert (px(after_good, BAD) != px(after_bad, BAD)).any(), "bad count 0 -> 1 not shown"
    assert (px(after_good, BOTTOM) != px(after_bad, BOTTOM)).any(), "verdict/cue not shown"
    # The bottom of a bad rep is the cue: more ink than "OK - good rep", on two lines.
    bottom_bad = px(after_bad, BOTTOM)
    assert bottom_bad.sum() > px(after_good, BOTTOM).sum()
    rows = bottom_bad.any(axis=1)
    assert rows[:11].any() and rows[11:].any(), "a long cue wraps onto the second line"


def test_same_counts_render_identically_and_differ_from_other_counts():
    a = render(ScreenView("squat", 3, 1, 4, True, (), TRACKING))
    b = render(ScreenView("squat", 3, 1, 4, True, (), TRACKING))
    c = render(ScreenView("squat", 4, 1, 5, True, (), TRACKING))
    assert (px(a) == px(b)).all()
    assert (px(a, GOOD) != px(c, GOOD)).any()
    assert (px(a, BAD) == px(c, BAD)).all()


def test_states_replace_the_verdict_line(tmp_path):
    d, dev = tracking_display()
    d.handle(bad_rep())
    tracking = px(dev.image, BOTTOM)
    d.handle(StateEvent(t=3, state=STEP_INTO_VIEW, previous=TRACKING))
    step = px(saved(dev.image, tmp_path / "step.png"), BOTTOM)
    d.handle(StateEvent(t=4, state=NO_PERSON, previous=STEP_INTO_VIEW))
    nobody = px(dev.image, BOTTOM)
    assert (tracking != step).any() and (step != nobody).any() and (tracking != nobody).any()
    # The counts survive state changes.
    assert (px(dev.image, BAD) == px(render(ScreenView(bad=1, state=NO_PERSON)), BAD)).all()


def test_exercise_change_and_reset(tmp_path):
    d, dev = tracking_display()
    d.handle(bad_rep(exercise="squat"))
    before = dev.image.copy()
    d.handle(ExerciseEvent(t=5, exercise="deadlift", previous="squat", source="button"))
    assert (px(before, TITLE) != px(dev.image, TITLE)).any()
    d.handle(ResetEvent(t=6, reason="button"))
    assert d.view.good == d.view.bad == d.view.rep == 0
    assert (px(dev.image, BAD) == px(render(ScreenView()), BAD)).all(), "bad count back to 0"


def test_unchanged_view_is_not_sent_again():
    class Counting(dummy):
        frames = 0

        def display(self, image):
            Counting.frames += 1
            super().display(image)

    d = Display(device=Counting(width=128, height=64, mode="1"))
    n0 = Counting.frames
    d.handle(StateEvent(t=0, state=TRACKING))
    d.handle(StateEvent(t=1, state=TRACKING))  # same view: no I2C traffic
    assert Counting.frames == n0 + 1


class Flaky(dummy):
    """A display whose bus fails for a while (loose wire, brown-out)."""

    def __init__(self, failures=3, **kw):
        super().__init__(width=128, height=64, mode="1", **kw)
        self.failures = failures
        self.cleaned = 0

    def display(self, image):
        if self.failures > 0:
            self.failures -= 1
            raise OSError(121, "Remote I/O error")
        super().display(image)

    def cleanup(self):
        self.cleaned += 1


def test_raising_device_does_not_raise_through_outputs_and_the_screen_catches_up():
    dev = Flaky(failures=3)
    dev.failures = 0  # let the constructor's first draw through
    d = Display(device=dev)
    dev.failures = 3
    other = []

    class Recorder:
        name = "rec"

        def handle(self, e):
            other.append(e)

        def close(self):
            pass

    outs = Outputs([d, Recorder()], log_interval=3600)
    events = [StateEvent(t=0, state=TRACKING), good_rep(1), bad_rep(2), good_rep(3, good=2, bad=1)]
    for e in events:
        outs.handle(e)
    outs.close()
    assert other == events
    st = {s.name: s for s in outs.stats()}
    assert st["display"].failures == 3 and st["display"].delivered == 1
    # The events missed while failing were still folded into the view: the screen is current.
    assert (px(dev.image) == px(render(ScreenView("squat", 2, 1, 3, True, (), TRACKING)))).all()


def test_display_reopens_its_device_after_a_failure():
    opened = []

    def factory():
        dev = Flaky(failures=1 if not opened else 0)
        opened.append(dev)
        return dev

    d = Display(device_factory=factory, reopen_backoff=(0.01, 0.01))
    # The first frame (drawn at start) failed: the device was released, not kept half-dead.
    assert len(opened) == 1 and opened[0].cleaned == 1 and d.device is None
    d.update(StateEvent(t=0, state=TRACKING))
    time.sleep(0.02)
    d.handle(good_rep())  # a fresh device is opened and shows the current view
    assert len(opened) == 2 and opened[1].image is not None
    assert (px(opened[1].image) == px(render(ScreenView("squat", 1, 0, 1, True, (), TRACKING)))).all()
    d.close()
    assert opened[1].cleaned == 1


def test_missing_display_at_start_is_not_fatal():
    def factory():
        raise FileNotFoundError(2, "No such file or directory", "/dev/i2c-1")

    d = Display(device_factory=factory, reopen_backoff=(60, 60))
    assert d.device is None
    outs = Outputs([d], log_interval=3600)
    outs.handle(good_rep())  # raises inside, counted by the fan-out
    outs.close()
    assert outs.stats()[0].failures == 1


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match=r"display\.driver"):
        Display(driver="ssd9999")
    with pytest.raises(ValueError, match=r"display\.address"):
        Display(address="0x3Z")
    with pytest.raises(ValueError, match=r"display\.rotate"):
        open_device(rotate=5)
    with pytest.raises(ValueError, match=r"display\.rotate"):
        Display(rotate=90)  # quarter turns, not degrees
    with pytest.raises(ValueError, match=r"display\.font"):
        Display(device=dummy(mode="1"), font="/nonexistent.ttf")


def test_real_i2c_open_fails_clearly_without_a_bus():
    # No /dev/i2c-7 on a test box: luma reports the missing bus; the Display survives it.
    d = Display(port=7)
    assert d.device is None


def test_panel_sleeps_when_nobody_is_there_and_wakes_for_a_person():
    class Panel(dummy):
        def __init__(self):
            super().__init__(width=128, height=64, mode="1")
            self.calls = []

        def hide(self):
            self.calls.append("hide")

        def show(self):
            self.calls.append("show")

    dev = Panel()
    d = Display(device=dev, sleep_after=0.05)
    d.handle(StateEvent(t=0, state=NO_PERSON))
    assert dev.calls == []
    time.sleep(0.06)
    d.handle(StatsEvent(t=1, fps=9))  # periodic events drive the check
    assert dev.calls == ["hide"] and d.asleep
    d.handle(StatsEvent(t=2, fps=9))
    assert dev.calls == ["hide"]
    d.handle(StateEvent(t=3, state=STEP_INTO_VIEW, previous=NO_PERSON))
    assert dev.calls == ["hide", "show"] and not d.asleep
    assert (px(dev.image, BOTTOM) == px(render(ScreenView(state=STEP_INTO_VIEW)), BOTTOM)).all()


def test_128x32_panel_gets_the_compact_layout(tmp_path):
    dev = dummy(width=128, height=32, mode="1")
    d = Display(device=dev, height=32)
    d.handle(StateEvent(t=0, state=TRACKING))
    d.handle(good_rep(1))
    good = saved(dev.image, tmp_path / "good32.png")
    d.handle(bad_rep(2))
    bad = saved(dev.image, tmp_path / "bad32.png")
    assert good.size == (128, 32) and px(good).any()
    assert (px(good, (0, 11, 128, 32)) != px(bad, (0, 11, 128, 32))).any(), "verdict line unchanged"
    assert (px(good, (96, 0, 128, 11)) != px(bad, (96, 0, 128, 11))).any(), "bad count unchanged"
    assert px(bad, (0, 21, 128, 32)).any(), "the cue wraps onto the third line"
