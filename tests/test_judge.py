"""The judge: scripted pose streams through fake models, asserting the events a person sees."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np
import pytest
from test_reps import REAL, real_landmarks, synth_clip

from formcheck.device.errors import ConfigError
from formcheck.device.events import (
    NO_PERSON,
    STEP_INTO_VIEW,
    TRACKING,
    ExerciseEvent,
    RepEvent,
    ResetEvent,
    StateEvent,
)
from formcheck.device.exercises import EXERCISE_IDS, EXERCISES, IDLE
from formcheck.device.judging.conditions import ConditionConfig
from formcheck.device.judging.features import FeatureSpec
from formcheck.device.judging.judge import Judge, JudgeConfig, ModelSet
from formcheck.device.pose.landmarks import Pose

FPS = 15.0

# Measured conditions off and every model condition trusted: these tests are about what models
# decide (measures: test_measures.py and test_measured_conditions_judge_reps_without_any_model
# below; which models the station trusts: test_model_trust_*).
MODEL_ONLY = ConditionConfig(measured=(), fail_only=()).trusting_every_model()


# ---- fakes --------------------------------------------------------------------------------------

@dataclass
class FakeBundle:
    task: str
    exercise: str
    labels: tuple[str, ...]
    conditions: tuple = ()
    threshold: float = 0.5
    name: str = "fake"


class FakeModel:
    """A predictor with the classifier's interface; ``fn(windows) -> (N, K)`` decides."""

    def __init__(self, task: str, exercise: str = "", *, spec: FeatureSpec | None = None,
                 fn=None, threshold: float = 0.5, conditions=None, labels=None, name="fake"):
        self.spec = spec or FeatureSpec()
        if task == "conditions":
            conditions = conditions if conditions is not None else EXERCISES[exercise].conditions
            labels = labels or tuple(c.key for c in conditions)
        elif task == "form":
            labels = labels or ("correct",)
        else:
            labels = labels or (*EXERCISE_IDS, IDLE)
        self.bundle = FakeBundle(task, exercise, tuple(labels), tuple(conditions or ()), threshold, name)
        self.fn = fn or (lambda w: np.full((len(w), len(self.bundle.labels)), 0.9))
        self.shapes: list[tuple[int, ...]] = []
        self.windows: list[np.ndarray] = []

    def predict(self, windows):
        windows = np.asarray(windows)
        self.shapes.append(windows.shape)
        self.windows.append(windows.copy())
        return np.asarray(self.fn(windows), dtype=np.float32)


def rep_spec(**kw) -> FeatureSpec:
    return FeatureSpec(window_mode="rep", **kw)


def sequence(values):
    """fn returning the next value of ``values`` for each window (one row per window)."""
    it = iter(values)

    def fn(w):
        return np.array([[next(it)] for _ in range(len(w))])

    return fn


# ---- scripted streams -----------------------------------------------------------------------------

def no_person(t0: float, dur: float):
    return [Pose.none(t0 + i / FPS, (640, 480)) for i in range(round(dur * FPS))]


def poses_from(t, lm, size, t0: float):
    out = []
    for ti, li in zip(t, lm, strict=True):
        ok = np.isfinite(li[:, :2]).all()
        out.append(Pose(t=t0 + float(ti), landmarks=li.copy() if ok else None, image_size=size, score=0.9))
    return out


def squats(t0: float, n: int = 3, seed: int = 0, yaw: float = 0.0, **kw):
    t, lm, size, truth = synth_clip("squat", yaw, n_reps=n, seed=seed, fps=FPS, **kw)
    return poses_from(t, lm, size, t0), [(a + t0, b + t0) for a, b in truth]


def legs_hidden(poses):
    """The same poses with knees and ankles out of sight (cropped by the frame)."""
    out = []
    for p in poses:
        lm = p.landmarks.copy()
        lm[25:33, 3] = 0.02
        lm[25:33, 1] = 1.15
        out.append(Pose(t=p.t, landmarks=lm, image_size=p.image_size, score=p.score))
    return out


def standing(t0: float, dur: float, seed: int = 1):
    t, lm, size, _ = synth_clip("squat", 0.0, n_reps=0, seed=seed, fps=FPS, idle_s=dur / 2)
    return poses_from(t, lm, size, t0)


def run(judge, poses):
    events = []
    for p in poses:
        events += judge.update(p)
    return events


def end_of(poses) -> float:
    return poses[-1].t + 1 / FPS


def kinds(events):
    out = []
    for e in events:
        if isinstance(e, StateEvent):
            out.append(("state", e.state, e.previous))
        elif isinstance(e, RepEvent):
            out.append(("rep", e.rep, e.correct, e.good, e.bad))
        elif isinstance(e, ExerciseEvent):
            out.append(("exercise", e.exercise, e.previous, e.source))
        elif isinstance(e, ResetEvent):
            out.append(("reset", e.reason))
    return out


# ---- the life of a set ---------------------------------------------------------------------------

def test_person_arrives_squats_and_leaves_exact_event_sequence():
    form = FakeModel("form", "squat", spec=rep_spec(), fn=sequence([0.9, 0.2, 0.8]))
    judge = Judge(ModelSet(form={"squat": form}), "squat", JudgeConfig(absence_reset=30.0))
    stream = no_person(0.0, 2.0)
    stream += legs_hidden(standing(end_of(stream), 2.0))
    reps, truth = squats(end_of(stream), n=3)
    stream += reps
    leave_t = end_of(stream)
    stream += no_person(leave_t, 35.0)
    events = run(judge, stream)

    assert kinds(events) == [
        ("state", NO_PERSON, None),
        ("state", STEP_INTO_VIEW, NO_PERSON),
        ("state", TRACKING, STEP_INTO_VIEW),
        ("rep", 1, True, 1, 0),
        ("rep", 2, False, 1, 1),
        ("rep", 3, True, 2, 1),
        ("state", NO_PERSON, TRACKING),
        ("reset", "no_person"),
    ]
    st = [e for e in events if isinstance(e, StateEvent)]
    assert st[0].t == pytest.approx(0.5, abs=0.1)
    assert st[1].t == pytest.approx(2.5, abs=0.15)
    assert st[2].t == pytest.approx(4.5, abs=0.15)
    assert st[3].t == pytest.approx(leave_t + 0.5, abs=0.15)
    assert events[-1].t == pytest.approx(leave_t + 0.5 + 30.0, abs=0.15)
    # each verdict comes as its rep ends, one model call per rep on a rep-length window
    rep_events = [e for e in events if isinstance(e, RepEvent)]
    for e, (a, b) in zip(rep_events, truth, strict=True):
        assert a - 0.3 <= e.start < e.end <= b + 0.5
        assert e.t == e.end
        assert e.exercise == "squat"
    assert form.shapes == [(1, 15, form.spec.num_features)] * 3
    assert rep_events[0].score == pytest.approx(0.9) and rep_events[1].score == pytest.approx(0.2)
    assert judge.counts == (0, 0, 0)  # after the absence reset


def test_rep_window_spans_the_rep():
    spec = rep_spec(normalisation="none")
    form = FakeModel("form", "squat", spec=spec)
    judge = Judge(ModelSet(form={"squat": form}), "squat")
    reps, _ = squats(0.0, n=2, yaw=90.0)  # side view: the knee angle is seen as it is
    events = run(judge, reps)
    assert sum(isinstance(e, RepEvent) for e in events) == 2
    knee = spec.feature_names().index("angle.left_knee")
    for w in form.windows:
        k = w[0, :, knee]
        # straight at the start, bent in the middle, straightened at the end: the window is
        # the rep, not a slice of it
        assert k[0] > k.min() + 0.35 and k[-1] > k.min() + 0.35 and k.min() < 0.45
        assert 3 <= int(np.argmin(k)) <= 11


def test_failed_conditions_and_shallow_reps_give_cues():
    def conds(w):
        p = np.full((len(w), 5), 0.9)  # squat: 4 AI-Hub conditions + rom
        return p

    calls = {"n": 0}

    def conds_fail_second(w):
        calls["n"] += 1
        p = conds(w)
        if calls["n"] == 2:
            p[:, 2] = 0.1  # knees_in_line judged false
        return p

    cond = FakeModel("conditions", "squat", spec=rep_spec(), fn=conds_fail_second)
    judge = Judge(ModelSet(conditions={"squat": cond}), "squat", conditions=MODEL_ONLY)
    poses, _ = squats(0.0, n=5, depths=[1.0, 1.0, 1.0, 1.0, 0.6])
    events = [e for e in run(judge, poses) if isinstance(e, RepEvent)]
    assert len(events) == 5
    assert [e.correct for e in events] == [True, False, True, True, False]
    assert events[1].failed == ["knees_in_line"] and events[1].cues == ["knees in line with toes"]
    # the shallow last rep: the model saw nothing wrong, the rep counter's depth did
    assert events[4].failed == ["rom"] and events[4].cues == ["go deeper"]
    assert (events[-1].good, events[-1].bad) == (3, 2)
    assert events[1].score == pytest.approx(0.1)  # the weakest condition


@pytest.mark.parametrize("threshold,expect_failed", [(0.35, []), (0.0, ["knees_in_line"]), (0.5, ["knees_in_line"])])
def test_a_condition_fails_only_below_the_configured_confidence(threshold, expect_failed):
    # an uncertain model (P(true) = 0.45) cues nothing at the default 0.35; at 0 the bundle's
    # own threshold (0.5) applies
    def conds(w):
        p = np.full((len(w), 5), 0.9)
        p[:, 2] = 0.45
        return p

    cond = FakeModel("conditions", "squat", spec=rep_spec(), fn=conds)
    judge = Judge(ModelSet(conditions={"squat": cond}), "squat",
                  JudgeConfig(condition_threshold=threshold), MODEL_ONLY)
    poses, _ = squats(0.0, n=2)
    events = [e for e in run(judge, poses) if isinstance(e, RepEvent)]
    assert len(events) == 2 and all(e.failed == expect_failed for e in events)
    assert all(e.correct is (not expect_failed) for e in events)


@pytest.mark.parametrize("verdict,expect", [
    # rep 1: form says correct, knees_in_line P(true) 0.1; rep 2: form says incorrect, every
    # condition P(true) >= 0.6 with heels_down the weakest, but these squats face the camera,
    # which cannot see heel rise: the likeliest fault it can see is named (head_forward, 0.8)
    ("conditions", [(False, ["knees_in_line"]), (True, [])]),
    ("form", [(True, []), (False, ["head_forward"])]),
    ("both", [(False, ["knees_in_line"]), (False, [])]),
])
def test_verdict_policy_with_form_and_conditions_models(verdict, expect):
    cond_rows = iter([[0.9, 0.9, 0.1, 0.9, 0.9], [0.9, 0.8, 0.9, 0.6, 0.9]])
    cond = FakeModel("conditions", "squat", spec=rep_spec(),
                     fn=lambda w: np.array([next(cond_rows) for _ in w]))
    form = FakeModel("form", "squat", spec=rep_spec(), fn=sequence([0.8, 0.2]))
    judge = Judge(ModelSet(form={"squat": form}, conditions={"squat": cond}), "squat",
                  JudgeConfig(verdict=verdict), MODEL_ONLY)
    poses, _ = squats(0.0, n=2)
    events = [e for e in run(judge, poses) if isinstance(e, RepEvent)]
    assert [(e.correct, e.failed) for e in events] == expect
    assert (len(form.shapes) > 0) is (verdict != "conditions")  # "conditions" never runs the form model
    if verdict == "form":
        assert events[1].cues == ["head forward"]
        assert "heels_down" in events[1].not_judged


def test_form_model_judges_an_exercise_without_a_conditions_model():
    form = FakeModel("form", "squat", spec=rep_spec(), fn=sequence([0.8, 0.2]))
    judge = Judge(ModelSet(form={"squat": form}), "squat")  # default verdict "conditions"
    poses, _ = squats(0.0, n=2)
    events = [e for e in run(judge, poses) if isinstance(e, RepEvent)]
    assert [e.correct for e in events] == [True, False] and events[1].score == pytest.approx(0.2)


def test_without_models_reps_are_counted_unjudged():
    judge = Judge(None, "squat", conditions=MODEL_ONLY)
    poses, _ = squats(0.0, n=3)
    events = [e for e in run(judge, poses) if isinstance(e, RepEvent)]
    assert [(e.rep, e.correct, e.good, e.bad) for e in events] == [(1, None, 0, 0), (2, None, 0, 0), (3, None, 0, 0)]


def test_measured_conditions_judge_reps_without_any_model():
    """No model at all: the measured conditions still judge each rep, the view is estimated per
    rep, and what the view cannot see is listed as not judged."""
    judge = Judge(None, "squat")
    poses, _ = squats(0.0, n=3, yaw=90.0)  # side view
    events = [e for e in run(judge, poses) if isinstance(e, RepEvent)]
    assert len(events) == 3
    for e in events:
        assert e.correct is not None and "rom" not in e.failed
        assert e.view["view"] == "side"
        by_key = {c["key"]: c for c in e.conditions}
        assert by_key["rom"]["judged"] and by_key["rom"]["source"] == "measure"
        assert "knees_in_line" in e.not_judged and "view cannot see" in by_key["knees_in_line"]["reason"]


def test_sliding_model_verdict_is_the_mean_over_the_rep():
    # Features in image coordinates (x in units of the image height, so 0.5 is 0.67): during
    # rep 2 the person stands further right, and the fake model calls every window whose mean
    # hip x is right of 0.77 incorrect.
    spec = FeatureSpec(normalisation="none", window_mode="sliding")
    hip_x = spec.feature_names().index("left_hip.x")
    form = FakeModel("form", "squat", spec=spec,
                     fn=lambda w: (w[:, :, hip_x].mean(axis=1, keepdims=True) < 0.77) * 0.8 + 0.1)
    judge = Judge(ModelSet(form={"squat": form}), "squat")
    poses, truth = squats(0.0, n=3, pause_s=(1.0, 1.2))
    a, b = truth[1]
    for p in poses:
        if a - 0.3 <= p.t <= b + 0.3:
            p.landmarks[:, 0] += 0.15
    events = [e for e in run(judge, poses) if isinstance(e, RepEvent)]
    assert [e.correct for e in events] == [True, False, True]
    assert events[1].score == pytest.approx(0.1, abs=0.05)
    assert judge.live.correct is True  # the smoothed live verdict recovered after rep 2


def test_live_sliding_score_has_hysteresis():
    spec = FeatureSpec(window_mode="sliding")
    scores = np.r_[np.full(30, 0.9),  # good
                   np.tile([0.45, 0.56], 60),  # dithering around the threshold
                   np.full(60, 0.1),  # clearly bad for 4 s
                   np.tile([0.44, 0.55], 60),  # dithering again
                   np.full(60, 0.9)]  # clearly good
    it = iter(scores)
    form = FakeModel("form", "squat", spec=spec, fn=lambda w: np.array([[next(it, 0.9)] for _ in w]))
    judge = Judge(ModelSet(form={"squat": form}), "squat")
    verdicts = []
    for p in standing(0.0, 40.0):
        judge.update(p)
        if judge.live.correct is not None:
            verdicts.append(judge.live.correct)
    assert sum(len(w) for w in form.windows) >= len(scores)
    flips = sum(1 for x, y in itertools.pairwise(verdicts) if x != y)
    assert flips == 2, flips  # good -> bad once, bad -> good once; dithering flips nothing
    assert verdicts[-1] is True


# ---- robustness ------------------------------------------------------------------------------------

def test_flickering_visibility_and_short_losses_do_not_flicker_the_state():
    rng = np.random.default_rng(0)
    poses, _ = squats(0.0, n=4, seed=3)
    noisy = []
    for i, p in enumerate(poses):
        if 60 <= i < 64 or 120 <= i < 125:  # person lost for 0.27-0.33 s
            noisy.append(Pose.none(p.t, p.image_size))
            continue
        lm = p.landmarks.copy()
        if rng.random() < 0.3:  # one knee or ankle dips under the visibility threshold
            lm[rng.choice([25, 26, 27, 28]), 3] = 0.3
        if rng.random() < 0.15:  # both sides' knees, briefly: a raw step-into-view frame
            lm[[25, 26], 3] = 0.1
        noisy.append(Pose(t=p.t, landmarks=lm, image_size=p.image_size))
    judge = Judge(None, "squat")
    events = run(judge, noisy)
    states = [e for e in events if isinstance(e, StateEvent)]
    assert [(e.state, e.previous) for e in states] == [(TRACKING, None)]
    assert sum(isinstance(e, RepEvent) for e in events) == 4


def test_nan_and_garbage_never_raise_and_counting_goes_on():
    poses, _ = squats(0.0, n=3, seed=5)
    bad_lm = [np.full((33, 4), np.nan), np.full((33, 4), np.inf), np.zeros((17, 4)), "garbage",
              [[1, 2]], np.full((33, 4), -1e30)]
    stream = []
    rng = np.random.default_rng(1)
    for i, p in enumerate(poses):
        stream.append(p)
        if i % 17 == 5:
            lm = p.landmarks.copy()
            lm[rng.integers(0, 33, 5)] = np.nan  # some joints NaN
            stream[-1] = Pose(t=p.t, landmarks=lm, image_size=p.image_size)
        if i % 23 == 7:
            stream.append(Pose(t=p.t + 0.01, landmarks=bad_lm[i % len(bad_lm)], image_size=(0, 0)))
        if i % 31 == 3:
            stream.append(Pose(t=float("nan"), landmarks=p.landmarks, image_size=p.image_size))
            stream.append(Pose(t=p.t - 5.0, landmarks=p.landmarks, image_size=p.image_size))  # from the past
            stream.append(Pose(t=p.t + 0.02, landmarks=p.landmarks, image_size=None))  # type: ignore[arg-type]
    judge = Judge(ModelSet(form={"squat": FakeModel("form", "squat", spec=rep_spec())}), "squat")
    events = run(judge, stream)
    reps = [e for e in events if isinstance(e, RepEvent)]
    assert len(reps) == 3 and all(e.correct for e in reps)
    for e in events:
        e.to_json()  # every event stays serialisable (no NaN sneaking into a payload)
        assert "NaN" not in e.to_json()


def test_a_failing_model_is_logged_once_and_gives_no_verdict(caplog):
    def boom(w):
        raise RuntimeError("interpreter exploded")

    judge = Judge(ModelSet(form={"squat": FakeModel("form", "squat", spec=rep_spec(), fn=boom, name="sq")}),
                  "squat", conditions=MODEL_ONLY)
    poses, _ = squats(0.0, n=2)
    with caplog.at_level(logging.WARNING, logger="formcheck.device.judging.judge"):
        events = [e for e in run(judge, poses) if isinstance(e, RepEvent)]
    assert [e.correct for e in events] == [None, None]
    assert sum("interpreter exploded" in r.message for r in caplog.records) == 1


def test_wrongly_shaped_model_output_is_no_verdict():
    judge = Judge(ModelSet(form={"squat": FakeModel("form", "squat", spec=rep_spec(),
                                                    fn=lambda w: np.full((len(w) + 1, 1), 0.9))}), "squat",
                  conditions=MODEL_ONLY)
    poses, _ = squats(0.0, n=1)
    events = [e for e in run(judge, poses) if isinstance(e, RepEvent)]
    assert [e.correct for e in events] == [None]


# ---- resets -----------------------------------------------------------------------------------------

def test_inactivity_resets_the_set_once():
    judge = Judge(None, "squat", JudgeConfig(inactivity_reset=6.0))
    poses, _ = squats(0.0, n=2)
    events = run(judge, poses)
    events += run(judge, standing(end_of(poses), 10.0))
    resets = [e for e in events if isinstance(e, ResetEvent)]
    last_rep = [e for e in events if isinstance(e, RepEvent)][-1]
    assert [r.reason for r in resets] == ["inactivity"]
    assert resets[0].t == pytest.approx(last_rep.end + 6.0, abs=0.1)
    assert judge.counts == (0, 0, 0)
    # the next set starts again at rep 1
    more, _ = squats(end_of(poses) + 11.0, n=1)
    reps = [e for e in run(judge, more) if isinstance(e, RepEvent)]
    assert [e.rep for e in reps] == [1]


def test_button_reset():
    judge = Judge(None, "squat")
    poses, _ = squats(0.0, n=2)
    run(judge, poses)
    assert judge.counts[2] == 2
    ev = judge.reset()
    assert kinds(ev) == [("reset", "button")] and ev[0].t == poses[-1].t
    assert judge.counts == (0, 0, 0)


# ---- exercises ----------------------------------------------------------------------------------------

class Clock:
    t = 0.0


def scheduled_recogniser(clock: Clock, schedule):
    """A recogniser whose probabilities follow ``schedule`` [(until_t, label, p), ...]."""
    labels = (*EXERCISE_IDS, IDLE)

    def fn(w):
        for until, label, p in schedule:  # noqa: B007 - the first entry still running wins
            if clock.t < until:
                break
        row = np.full(len(labels), (1 - p) / (len(labels) - 1))
        row[labels.index(label)] = p
        return np.tile(row, (len(w), 1))

    return FakeModel("exercise", spec=FeatureSpec(window_mode="sliding"), fn=fn)


def run_clocked(judge, clock, poses):
    events = []
    for p in poses:
        clock.t = p.t
        events += judge.update(p)
    return events


def mixed_recogniser(clock: Clock, squat_share: float, idle_share: float):
    """Every window: squat ``squat_share``, idle ``idle_share``, the rest spread evenly."""
    labels = (*EXERCISE_IDS, IDLE)

    def fn(w):
        row = np.full(len(labels), (1 - squat_share - idle_share) / (len(labels) - 2))
        row[labels.index("squat")], row[labels.index(IDLE)] = squat_share, idle_share
        return np.tile(row, (len(w), 1))

    return FakeModel("exercise", spec=FeatureSpec(window_mode="sliding"), fn=fn)


@pytest.mark.parametrize("squat,idle,expect", [
    (0.45, 0.45, ["squat"]),  # pauses between reps: squat leads the exercises by far
    (0.25, 0.70, []),  # mostly idle: nothing is decided
    (0.45, 0.10, []),  # active but unsure which exercise: below auto_confidence
])
def test_recognition_is_among_exercises_idle_share_removed(squat, idle, expect):
    clock = Clock()
    judge = Judge(ModelSet(recogniser=mixed_recogniser(clock, squat, idle)), None)
    poses, _ = squats(0.0, n=5, seed=2)
    events = run_clocked(judge, clock, poses)
    assert [e.exercise for e in events if isinstance(e, ExerciseEvent)] == expect


def test_auto_recognition_needs_a_clear_sustained_lead():
    clock = Clock()
    rec = scheduled_recogniser(clock, [(4.0, IDLE, 0.9), (14.0, "squat", 0.8), (15.0, "deadlift", 0.95),
                                       (32.0, "squat", 0.8), (1e9, "barbell_curl", 0.85)])
    judge = Judge(ModelSet(recogniser=rec), None, JudgeConfig(inactivity_reset=60.0))  # 20 s standing: no new set
    stream = standing(0.0, 4.0)
    reps, _ = squats(end_of(stream), n=6, seed=2)
    stream += reps
    stream += standing(end_of(stream), 20.0)
    events = run_clocked(judge, clock, stream)
    ex = [e for e in events if isinstance(e, ExerciseEvent)]
    assert [(e.exercise, e.previous, e.source) for e in ex] == [("squat", None, "auto"),
                                                               ("barbell_curl", "squat", "auto")]
    assert 4.0 + 1.0 < ex[0].t < 4.0 + 5.0  # needs the evidence of a couple of seconds
    assert ex[0].confidence >= 0.6
    assert ex[1].t > 32.0
    # squats counted once recognised; the switch to curls reset them
    i_switch = events.index(ex[1])
    assert isinstance(events[i_switch + 1], ResetEvent) and events[i_switch + 1].reason == "exercise"
    assert any(isinstance(e, RepEvent) and e.exercise == "squat" for e in events[:i_switch])
    assert judge.exercise == "barbell_curl" and judge.counts == (0, 0, 0)


def test_a_confidently_wrong_first_window_does_not_hold_up_recognition():
    """BlazePose locking on can make the recogniser's first window confidently wrong. It counts
    as one window of the average, not as its whole start: the squats are recognised as soon as
    the first-exercise evidence time has passed, and the wrong exercise is never announced."""
    clock = Clock()
    # the first windows (complete 1 s after the person appears) say side lunge, certain
    rec = scheduled_recogniser(clock, [(1.1, "side_lunge", 1.0), (1e9, "squat", 0.7)])
    judge = Judge(ModelSet(recogniser=rec), None)
    poses, _ = squats(0.0, n=5, seed=2)
    events = run_clocked(judge, clock, poses)
    ex = [e for e in events if isinstance(e, ExerciseEvent)]
    assert [e.exercise for e in ex] == ["squat"]
    # first window + auto_first_s (the average started at the wrong window: 5.6 s, p = 0.60)
    assert ex[0].t < 1.0 + judge.config.auto_first + 0.1, ex[0].t
    assert ex[0].confidence > 0.65


def test_reps_done_while_recognising_are_counted():
    clock = Clock()
    rec = scheduled_recogniser(clock, [(1e9, "squat", 0.9)])
    judge = Judge(ModelSet(recogniser=rec, form={"squat": FakeModel("form", "squat", spec=rep_spec())}), None,
                  JudgeConfig(auto_first=6.0))  # decides well after the first reps
    poses, truth = squats(0.0, n=4, seed=4, idle_s=0.3)
    events = run_clocked(judge, clock, poses)
    ex = [e for e in events if isinstance(e, ExerciseEvent)]
    reps = [e for e in events if isinstance(e, RepEvent)]
    assert len(ex) == 1 and ex[0].t > truth[1][1]  # recognised after two reps were done
    assert [e.rep for e in reps] == [1, 2, 3, 4] and all(e.correct for e in reps)
    early = [e for e in reps if e.end < ex[0].t]
    assert len(early) >= 2 and all(e.t == ex[0].t for e in early)  # reported at the switch


def test_finish_decides_a_short_clip():
    clock = Clock()
    rec = scheduled_recogniser(clock, [(1e9, "barbell_curl", 0.9)])
    judge = Judge(ModelSet(recogniser=rec), None, JudgeConfig(auto_first=60.0), MODEL_ONLY)
    t, lm, size, _ = synth_clip("barbell_curl", 45.0, n_reps=1, seed=2, fps=FPS, idle_s=0.6)
    events = run_clocked(judge, clock, poses_from(t, lm, size, 0.0))
    assert not any(isinstance(e, ExerciseEvent | RepEvent) for e in events)
    assert kinds(judge.finish()) == [("exercise", "barbell_curl", None, "auto"), ("rep", 1, None, 0, 0)]
    assert judge.finish() == []


def test_idle_never_switches_and_nothing_is_counted_before_recognition():
    clock = Clock()
    rec = scheduled_recogniser(clock, [(1e9, IDLE, 0.95)])
    judge = Judge(ModelSet(recogniser=rec), "auto")
    poses, _ = squats(0.0, n=3)
    events = run_clocked(judge, clock, poses)
    assert not any(isinstance(e, ExerciseEvent | RepEvent) for e in events)
    assert judge.exercise is None


def test_button_choice_pins_the_exercise_and_next_cycles():
    clock = Clock()
    rec = scheduled_recogniser(clock, [(1e9, "squat", 0.9)])
    judge = Judge(ModelSet(recogniser=rec), None)
    ev = judge.set_exercise("deadlift")
    assert kinds(ev) == [("exercise", "deadlift", None, "button")]
    poses, _ = squats(0.0, n=2)
    events = run_clocked(judge, clock, poses)
    assert not any(isinstance(e, ExerciseEvent) for e in events)  # the recogniser is overruled
    assert judge.exercise == "deadlift"
    with pytest.raises(ValueError, match="'pushup'"):
        judge.set_exercise("pushup")
    # next: the following exercises in order, then back to auto recognition
    seen, announced = [], []
    for _ in range(len(EXERCISE_IDS)):
        announced += [e.exercise for e in judge.next_exercise() if isinstance(e, ExerciseEvent)]
        seen.append(judge.exercise if not judge.auto else "auto")
    i = EXERCISE_IDS.index("deadlift")
    assert seen == [*EXERCISE_IDS[i + 1:], "auto", *EXERCISE_IDS[:i]]
    assert announced == seen
    # without a recogniser there is no auto to go back to
    manual = Judge(None, "squat")
    with pytest.raises(ValueError, match="recogniser"):
        manual.set_exercise("auto")
    assert "auto" not in [manual.next_exercise()[0].exercise for _ in range(len(EXERCISE_IDS))]


def test_exercise_change_resets_only_when_there_is_something_to_reset():
    judge = Judge(None, "squat")
    poses, _ = squats(0.0, n=2)
    run(judge, poses)
    assert kinds(judge.set_exercise("side_raise")) == [("exercise", "side_raise", "squat", "button"),
                                                       ("reset", "exercise")]
    assert kinds(judge.set_exercise("squat")) == [("exercise", "squat", "side_raise", "button")]
    assert judge.set_exercise("squat") == []


def test_step_into_view_depends_on_the_exercise():
    # legs cropped: a curl is judged (arms and hips in view), a squat asks to step back
    poses = legs_hidden(standing(0.0, 3.0))
    curl = Judge(None, "barbell_curl")
    squat = Judge(None, "squat")
    assert kinds(run(curl, poses)) == [("state", TRACKING, None)]
    assert kinds(run(squat, poses)) == [("state", STEP_INTO_VIEW, None)]


# ---- config -------------------------------------------------------------------------------------------

def test_config_is_the_station_section_and_validates_with_the_key_named():
    from formcheck.device.app import config as C
    from formcheck.device.errors import ConfigError

    with pytest.raises(ConfigError, match=r"judge\.min_visibility"):
        JudgeConfig(min_visibility=1.5)
    with pytest.raises(ValueError, match=r"judge\.max_rep: must be longer"):
        JudgeConfig(min_rep=5.0, max_rep=2.0)
    with pytest.raises(ValueError, match=r"judge\.auto_replay"):
        JudgeConfig(auto_replay=100.0)
    assert C.Config().judge == JudgeConfig()  # one class: the TOML section is the judge's config
    c = C.loads("[judge]\ninactivity_reset = 30\nmin_rep = 0.6\nmax_rep = 40.0\nauto_confidence = 0.7\n").judge
    assert isinstance(c, JudgeConfig)
    assert (c.inactivity_reset, c.reps.min_rep_s, c.reps.max_rep_s, c.auto_confidence) == (30.0, 0.6, 40.0, 0.7)
    assert c.history_s > c.reps.max_rep_s  # the history always holds the longest rep
    assert isinstance(c.inactivity_reset, float)


def test_model_set_sorts_predictors_by_task():
    f = FakeModel("form", "squat")
    c = FakeModel("conditions", "squat")
    r = FakeModel("exercise")
    ms = ModelSet.from_predictors([f, c, r])
    assert ms.form == {"squat": f} and ms.conditions == {"squat": c} and ms.recogniser is r
    assert Judge([f, r], "auto").models.form == {"squat": f}


# ---- real clips end to end ------------------------------------------------------------------------------

@pytest.mark.shared_data
@pytest.mark.parametrize("auto", [False, True], ids=["given", "recognised"])
@pytest.mark.parametrize("clip", sorted(REAL))
def test_real_clip_through_the_judge(videos_dir, clip, auto):
    exercise, n = REAL[clip]
    t, lm, size = real_landmarks(videos_dir, clip)
    form = FakeModel("form", exercise, spec=rep_spec())
    sliding = FakeModel("conditions", exercise, spec=FeatureSpec(window_mode="sliding"))
    clock = Clock()
    models = ModelSet(form={exercise: form}, conditions={exercise: sliding},
                      recogniser=scheduled_recogniser(clock, [(1e9, exercise, 0.9)]) if auto else None)
    judge = Judge(models, None if auto else exercise, JudgeConfig(verdict="both"))
    events = run_clocked(judge, clock, poses_from(t, lm, size, 0.0)) + judge.finish()
    reps = [e for e in events if isinstance(e, RepEvent)]
    assert len(reps) == n
    assert all(e.correct is True and e.failed == [] and e.exercise == exercise for e in reps)
    assert reps[-1].good == n
    assert form.shapes == [(1, 15, form.spec.num_features)] * n
    assert kinds([e for e in events if isinstance(e, StateEvent)]) == [("state", TRACKING, None)]
    if auto:
        assert kinds([e for e in events if isinstance(e, ExerciseEvent)]) == [("exercise", exercise, None, "auto")]


# ---- reps on real footage: the judge's side (issue: count with what is visible, switches) ----------

def framed(poses, bottom: float):
    """The same poses filmed closer: the image bottom at ``bottom`` of the old height, points
    below guessed with a low visibility (as BlazePose reports joints out of frame)."""
    out = []
    for p in poses:
        lm = None
        if p.landmarks is not None:
            lm = p.landmarks.copy()
            lm[:, 0] = 0.5 + (lm[:, 0] - 0.5) / bottom
            lm[:, 1] = lm[:, 1] / bottom
            lm[lm[:, 1] > 1.0, 3] = 0.08
        out.append(Pose(t=p.t, landmarks=lm, image_size=p.image_size, score=p.score))
    return out


def test_feet_out_of_frame_are_reported_while_reps_go_on():
    judge = Judge(None, "squat")
    reps, truth = squats(0.0, n=4, seed=3)
    events = run(judge, framed(reps, 0.68))
    states = [e for e in events if isinstance(e, StateEvent)]
    assert [(e.state, e.missing, e.message) for e in states] == [
        (TRACKING, ["feet"], "feet out of frame — step back")]
    assert len([e for e in events if isinstance(e, RepEvent)]) == len(truth) == 4
    # the feet come back into the picture: announced, still tracking
    more, _ = squats(end_of(reps), n=1, seed=4)
    states = [e for e in run(judge, more) if isinstance(e, StateEvent)]
    assert [(e.state, e.previous, e.missing) for e in states] == [(TRACKING, TRACKING, [])]


def test_auto_switch_reattributes_the_buffered_span_exactly_once():
    """Squats, then side lunges straight after (no one leaving the picture); the recogniser
    needs a few seconds to name each. Every rep is counted once, as the exercise it was."""
    clock = Clock()
    sq, sq_truth = squats(0.0, n=3, seed=5)
    t, lm, size, lunge_truth = synth_clip("side_lunge", 0.0, n_reps=3, seed=6, fps=FPS)
    t0 = end_of(sq)
    lunges = poses_from(t, lm, size, t0)
    # the recogniser's windows say squat during the squats and side lunge once the lunges
    # began; its vote takes seconds to follow (the first lunge ends before it has)
    rec = scheduled_recogniser(clock, [(t0 + 0.5, "squat", 0.95), (1e9, "side_lunge", 0.95)])
    judge = Judge(ModelSet(recogniser=rec), None, JudgeConfig(auto_replay=20.0))
    events = run_clocked(judge, clock, sq + lunges)
    reps = [(e.exercise, round(e.start, 1)) for e in events if isinstance(e, RepEvent)]
    assert [ex for ex, _ in reps] == ["squat"] * 3 + ["side_lunge"] * 3, reps
    for e, (a, b) in zip([e for e in events if isinstance(e, RepEvent)],
                         sq_truth + [(a + t0, b + t0) for a, b in lunge_truth], strict=True):
        assert a - 0.5 <= e.start < e.end <= b + 0.6


def test_other_is_counted_on_its_dominant_joint_and_never_judged():
    clock = Clock()
    labels = (*EXERCISE_IDS, IDLE, "other")
    t, lm, size, truth = synth_clip("front_raise", 0.0, n_reps=4, seed=7, fps=FPS, alternate=False)
    poses = poses_from(t, lm, size, 0.0)
    rec = FakeModel("exercise", spec=FeatureSpec(window_mode="sliding"), labels=labels,
                    fn=lambda w: np.tile(np.eye(len(labels))[labels.index("other")] * 0.9 + 0.01, (len(w), 1)))
    form = FakeModel("form", "side_raise", spec=rep_spec(), fn=lambda w: np.full((len(w), 1), 0.9))
    judge = Judge(ModelSet(recogniser=rec, form={"side_raise": form}), None)
    events = run_clocked(judge, clock, poses) + judge.finish()
    ex = [e.exercise for e in events if isinstance(e, ExerciseEvent)]
    reps = [e for e in events if isinstance(e, RepEvent)]
    assert ex == ["other"]
    assert len(reps) == len(truth) == 4
    assert all(e.exercise == "other" and e.correct is None and e.failed == [] for e in reps)
    assert judge.counts == (0, 0, 4)
    assert Judge(None, "other").exercise == "other"  # chosen by hand too


def test_a_set_resets_after_15_s_without_a_rep():
    assert JudgeConfig().inactivity_reset == 15.0
    judge = Judge(None, "squat")
    reps, _ = squats(0.0, n=2, seed=8)
    events = run(judge, reps + standing(end_of(reps), 16.0))
    resets = [e for e in events if isinstance(e, ResetEvent)]
    done = [e for e in events if isinstance(e, RepEvent)]
    assert len(done) == 2 and [r.reason for r in resets] == ["inactivity"]
    assert resets[0].t == pytest.approx(done[-1].end + 15.0, abs=0.1)
    assert judge.counts == (0, 0, 0)


def test_a_deadlift_pull_cut_at_the_lockout_counts_at_the_end_of_the_stream():
    from test_reps import IMAGE_SIZE, deadlift_phases, render

    t, lm = render("deadlift", deadlift_phases(30.0, 1, False, True), 90.0, 30.0, np.random.default_rng(9))
    poses = poses_from(t, lm, IMAGE_SIZE, 0.0)
    judge = Judge(None, "deadlift")
    events = run(judge, poses)
    reps = [e for e in events + judge.finish() if isinstance(e, RepEvent)]
    assert len(reps) == 1 and reps[0].exercise == "deadlift"


# ---- which models the station trusts ------------------------------------------------------------

def _head_forward_doubted(config: ConditionConfig) -> list[RepEvent]:
    """Front-view squats whose conditions model doubts the head (P(true) 0.1), all else 0.9."""
    def conds(w):
        p = np.full((len(w), 5), 0.9)
        p[:, 1] = 0.1  # head_forward
        return p

    cond = FakeModel("conditions", "squat", spec=rep_spec(), fn=conds)
    judge = Judge(ModelSet(conditions={"squat": cond}), "squat", conditions=config)
    poses, _ = squats(0.0, n=2)
    return [e for e in run(judge, poses) if isinstance(e, RepEvent)]


def test_model_trust_a_model_condition_off_the_list_is_reported_not_judged():
    events = _head_forward_doubted(ConditionConfig(model_decides=()))
    assert len(events) == 2
    for e in events:
        head = next(c for c in e.conditions if c["key"] == "head_forward")
        assert head["judged"] is False and head["holds"] is None
        assert head["p"] == pytest.approx(0.1, abs=1e-3)  # still reported
        assert "not validated on real people" in head["reason"]
        assert "head_forward" in e.not_judged and "head_forward" not in e.failed
        assert e.correct is not False and e.score is None  # an untrusted P(true) is no score


def test_model_trust_a_model_condition_on_the_list_decides():
    events = _head_forward_doubted(ConditionConfig(model_decides=("squat.head_forward",)))
    assert len(events) == 2
    for e in events:
        assert e.correct is False and "head_forward" in e.failed and "head forward" in e.cues
        assert "head_forward" not in e.not_judged
        assert e.score == pytest.approx(0.1, abs=1e-3)


def test_model_trust_list_names_only_model_decided_conditions():
    # the shipped list (the packaged TOML's and the default's): each entry is a label of a
    # shipped conditions model that no measure decides and that the landmarks can observe
    from formcheck.device.app import config as C
    from formcheck.device.judging.bundle import load_default_bundles

    labels = {b.exercise: set(b.labels) for b in load_default_bundles() if b.task == "conditions"}
    for cfg in (ConditionConfig(), C.loads(C.packaged_default_text()).conditions):
        for cid in cfg.model_decides:
            ex, _, key = cid.partition(".")
            assert key in labels.get(ex, set()), f"{cid}: no shipped conditions model judges it"
            assert cid not in cfg.measured, f"{cid}: its measure decides it"
            assert cid not in cfg.unseen, f"{cid}: unseen, nobody judges it"
    assert C.loads(C.packaged_default_text()).conditions.model_decides == ConditionConfig().model_decides


@pytest.mark.parametrize("cid,why", [("squat.rom", "conditions.measured"),
                                     ("side_raise.no_shrug", "conditions.unseen"),
                                     ("squat.no_such_thing", "unknown")])
def test_model_trust_config_rejects_conditions_no_model_decides(cid, why):
    with pytest.raises(ConfigError, match=why):
        ConditionConfig(model_decides=(cid,))


def test_a_pose_with_numbers_no_float_holds_is_cleaned_not_a_crash():
    """Poses from outside (a landmark clip as the camera, a backend) may carry a time, score or
    image size no float or int can hold: the frame gets no time (never judged), no score and
    an unknown size, as for any unusable value."""
    p = Pose(t=10**400, landmarks=np.zeros((33, 4)), image_size=(float("inf"), 480), score=10**400)
    assert np.isnan(p.t) and p.score == 0.0 and p.image_size == (0, 0)
    assert p.landmarks is not None
