"""The judge's parts on their own, without a pose stream: presence, the pure verdict, the
recogniser's switch rule and the model bank."""

from __future__ import annotations

import numpy as np
import pytest

from formcheck.device.events import NO_PERSON, STEP_INTO_VIEW, TRACKING
from formcheck.device.exercises import EXERCISE_IDS, IDLE
from formcheck.device.judging.conditions import ConditionVerdict
from formcheck.device.judging.features import FeatureSpec
from formcheck.device.judging.judge_config import JudgeConfig
from formcheck.device.judging.model_bank import ModelBank, ModelSet, SlidingModel, feature_key
from formcheck.device.judging.presence import PresenceDebounce, assess
from formcheck.device.judging.recogniser import Recogniser
from formcheck.device.judging.verdict import FormScore, verdict


def standing_pose() -> np.ndarray:
    """A whole person in the middle of the picture, every joint visible."""
    lm = np.zeros((33, 4), np.float32)
    lm[:, 0] = 0.5
    lm[:, 1] = np.linspace(0.1, 0.9, 33)
    lm[:, 3] = 0.99
    return lm


# ---- presence -----------------------------------------------------------------------------------

def test_presence_names_the_missing_part():
    lm = standing_pose()
    assert assess(None, "squat", 0.5, 0.02).state == NO_PERSON
    assert assess(lm, "squat", 0.5, 0.02).state == TRACKING
    lm[27:33, 1] = 1.2  # ankles, heels and toes below the picture: a squat counts from hips and
    p = assess(lm, "squat", 0.5, 0.02)  # knees, and the person is told what is missing
    assert (p.state, p.missing, p.message) == (TRACKING, ("feet",), "feet out of frame — step back")
    knees = lm[[25, 26]].copy()
    lm[[25, 26], 1] = 1.1  # the knees too: reps cannot be counted
    p = assess(lm, "squat", 0.5, 0.02)
    assert (p.state, p.missing) == (STEP_INTO_VIEW, ("knees", "feet"))
    assert p.message == "knees and feet out of frame — step back"
    lm[[25, 26]] = knees
    lm[[13, 14], 3] = 0.1  # elbows not seen either: a curl needs them, the feet it does not
    p = assess(lm, "barbell_curl", 0.5, 0.02)
    assert (p.state, p.missing) == (STEP_INTO_VIEW, ("elbows",))


def test_debounce_announces_the_state_seen_most_once_it_held():
    d = PresenceDebounce(hold_s=0.5)
    assert d.update(0.0, TRACKING) is None and d.update(0.4, TRACKING) is None
    assert d.update(0.5, TRACKING).state == TRACKING  # held 0.5 s: announced
    seen = [d.update(t, s) for t, s in [(0.6, STEP_INTO_VIEW), (0.7, TRACKING), (0.8, STEP_INTO_VIEW),
                                         (0.9, NO_PERSON), (1.0, STEP_INTO_VIEW), (1.1, STEP_INTO_VIEW)]]
    assert seen == [None] * 6  # interrupted at 0.7: the hold starts again at 0.8
    ev = d.update(1.3, NO_PERSON)  # away since 0.8: step_into_view seen most (3 of 5; a tie goes to the latest)
    assert (ev.state, ev.previous) == (STEP_INTO_VIEW, TRACKING) and d.no_person_since is None


# ---- the verdict ----------------------------------------------------------------------------------

def model(key, p, thr=0.35, cue=""):
    return ConditionVerdict(key=key, judged=True, holds=p >= thr, p=p, threshold=thr, source="model",
                            cue=cue or f"fix {key}")


def depth(full: bool):
    return ConditionVerdict(key="rom", judged=True, holds=full, value=1.0 if full else 0.5, threshold=0.8,
                            source="measure", cue="go deeper")


def test_verdict_conditions_policy():
    v = verdict([model("back", 0.9), model("knees", 0.2), depth(True)])
    assert (v.correct, v.failed, v.cues, v.score) == (False, ["knees"], ["fix knees"], 0.2)
    assert v.probs == {"back": 0.9, "knees": 0.2}
    v = verdict([model("back", 0.9), model("rom", 0.9), depth(False)])
    assert (v.correct, v.failed, v.cues) == (False, ["rom"], ["go deeper"])
    v = verdict([model("rom", 0.1, cue="model says deeper"), depth(False)])
    assert (v.failed, v.cues) == (["rom"], ["model says deeper"])  # one key, the first cue


def test_verdict_depth_alone_cannot_call_a_rep_correct_and_unjudged_is_listed():
    assert verdict([depth(True)]).correct is None
    assert verdict([depth(False)]).correct is False
    unjudged = ConditionVerdict(key="back", judged=False, holds=None, source="model", reason="no window")
    v = verdict([unjudged, depth(True)])
    assert (v.correct, v.not_judged, v.score) == (None, ["back"], None)


@pytest.mark.parametrize(("policy", "form_p", "expect"), [
    ("form", 0.9, (True, [])),  # the form model says correct: no model cue
    ("form", 0.1, (False, ["knees"])),  # incorrect, nothing below threshold: the likeliest fault
    ("both", 0.1, (False, [])),  # incorrect by the form model, no condition failed
    ("both", 0.9, (True, [])),
])
def test_verdict_form_policies(policy, form_p, expect):
    v = verdict([model("back", 0.9), model("knees", 0.6), depth(True)], FormScore(form_p, 0.5), policy)
    assert (v.correct, v.failed) == expect
    assert v.score == form_p and v.probs["correct"] == form_p
    # the records reported agree with the verdict
    assert [c.key for c in v.conditions if c.judged and c.holds is False] == v.failed


# ---- recogniser ------------------------------------------------------------------------------------

def test_recogniser_needs_evidence_confidence_and_margin():
    labels = (*EXERCISE_IDS, IDLE)
    rec = Recogniser(labels, JudgeConfig())

    def p(**kw):
        v = np.zeros(len(labels))
        for k, x in kw.items():
            v[labels.index(k)] = x
        return v

    rec.add([(0.1 * i, p(squat=0.9, deadlift=0.1)) for i in range(10)])
    assert rec.decide(1.0, None) is None  # 0.9 s of evidence < auto_first
    rec.add([(0.1 * i, p(squat=0.9, deadlift=0.1)) for i in range(10, 30)])
    ex, conf = rec.decide(3.0, None)
    assert ex == "squat" and conf == pytest.approx(0.9)
    assert rec.decide(3.0, "squat") is None  # already the current one
    rec.reset()
    rec.add([(0.1 * i, p(squat=0.3, idle=0.7)) for i in range(40)])
    assert rec.decide(4.0, None) is None  # mostly idle decides nothing
    rec.reset()
    rec.add([(0.1 * i, p(squat=0.55, deadlift=0.45)) for i in range(40)])
    assert rec.decide(4.0, "deadlift") is None  # not confident, no margin


# ---- model bank ------------------------------------------------------------------------------------

class Bundle:
    task, exercise, labels, name, threshold = "form", "squat", ("correct",), "broken", 0.5


class Broken:
    spec = FeatureSpec()
    bundle = Bundle()

    def __init__(self):
        self.calls = 0

    def predict(self, w):
        self.calls += 1
        raise RuntimeError("interpreter gone")


def test_bank_computes_features_once_per_key_and_survives_a_failing_model(caplog):
    a, b = Broken(), Broken()
    b.spec = FeatureSpec(window_mode="rep")  # windows differently, same features
    bank = ModelBank(ModelSet.from_predictors([a]), history_s=5.0)
    bank.use([a, b])
    assert feature_key(a.spec) == feature_key(b.spec)
    stream = SlidingModel(a, keep_s=5.0)
    lm = standing_pose()
    for i in range(60):
        frame = bank.add(i / 15, lm, (640, 480))
        assert list(frame.features) == [feature_key(a.spec)]
        assert stream.push(bank, frame) == []  # the model fails: no scores, no exception
    assert a.calls > 1
    assert sum("broken failed" in r.message for r in caplog.records) == 1  # logged once
    assert bank.history[0].t >= 59 / 15 - 5.0  # the history is bounded
    assert bank.rep_window(b.spec, 1.0, 3.0, 0.8) is not None
