"""Condition labels: per-condition severities, the fault threshold, and the ``rom`` couplings."""

from __future__ import annotations

from formcheck.device.exercises import EXERCISE_IDS, EXERCISES, IDLE, OTHER, ROM

# Severity scale of a condition: below FAULT_THRESHOLD the condition holds (natural variation),
# faults are sampled from FAULT_MIN..1 (the small gap keeps labels learnable, mild faults keep
# them from being trivially separable once camera noise is added).
FAULT_THRESHOLD = 0.25
FAULT_MIN = 0.3
CORRECT_MAX = 0.2


# ``other``: repeated movements that are none of the nine (labelled, no conditions)
KINDS: tuple[str, ...] = (*EXERCISE_IDS, IDLE, OTHER)
UNJUDGED = (IDLE, OTHER)  # kinds without conditions

# Exercises whose motion is alternating/one-sided by nature (a rep has a side).
SIDED = ("knee_up", "side_crunch", "side_lunge")
LYING = ("leg_raise",)

# formcheck's ``rom`` condition and an AI-Hub condition that mean the same thing: a rep
# violating one violates the other (knee_up: "bring the knee higher" is the knee's range), and
# those whose false ``rom`` implies the AI-Hub one (a shallow side crunch cannot bring knee and
# elbow together; a shallow side lunge cannot bend the working knee to 90°).
ROM_EQUIVALENT = {"knee_up": "knee_high"}
ROM_IMPLIES = {"side_crunch": "knee_elbow_close", "side_lunge": "working_knee_90"}


def condition_keys(ex: str) -> list[str]:
    return [c.key for c in EXERCISES[ex].conditions]


def sample_severities(rng, ex: str, p_correct: float = 0.3) -> dict[str, float]:
    """Per-condition severities: all below the threshold for a correct clip; otherwise one or
    more faults (1: 45%, 2: 30%, 3+: 25%), each from FAULT_MIN..1, mild ones common."""
    keys = condition_keys(ex)
    sev = {k: float(CORRECT_MAX * rng.random() ** 2) for k in keys}
    u = rng.random()
    n_rand = rng.random()
    order = rng.permutation(len(keys))
    vals = FAULT_MIN + (1 - FAULT_MIN) * rng.random(len(keys)) ** 1.3
    if u >= p_correct:
        n = 1 if n_rand < 0.45 else 2 if n_rand < 0.75 else int(3 + (n_rand - 0.75) / 0.25 * (len(keys) - 2))
        n = min(n, len(keys))
        for j in order[:n]:
            sev[keys[j]] = float(vals[j])
    return normalise_severities(ex, sev)


def normalise_severities(ex: str, sev: dict[str, float]) -> dict[str, float]:
    """Apply the rom/AI-Hub condition couplings (see ROM_EQUIVALENT and ROM_IMPLIES)."""
    sev = dict(sev)
    if ex in ROM_EQUIVALENT:
        k = ROM_EQUIVALENT[ex]
        v = max(sev.get(k, 0.0), sev.get(ROM, 0.0))
        sev[k] = sev[ROM] = v
    if ex in ROM_IMPLIES and sev.get(ROM, 0.0) >= FAULT_THRESHOLD:
        k = ROM_IMPLIES[ex]
        sev[k] = max(sev.get(k, 0.0), FAULT_MIN)
    return sev
