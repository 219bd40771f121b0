"""The nine exercises of the paper, their AI-Hub names and conditions, and the cue per fault.

Condition strings are AI-Hub's verbatim text (typos included); the lookup trims surrounding
whitespace, because the real label files carry e.g. ``"바벨 컬 "``. Every exercise also gets
formcheck's own ``rom`` (full range of motion) condition, which AI-Hub never labels: loaders
must report it as unknown (``None``) for AI-Hub clips, never as true.
"""

from __future__ import annotations

from dataclasses import dataclass

ROM = "rom"


@dataclass(frozen=True)
class Condition:
    name: str  # AI-Hub's Korean text, verbatim; "rom" for formcheck's own
    cue: str  # what the station shows when the condition is false
    key: str  # short ASCII identifier, stable across versions (used in MQTT/JSON)


@dataclass(frozen=True)
class Exercise:
    id: str
    korean: str
    aihub_type: str
    codes: tuple[int, int]
    conditions: tuple[Condition, ...]

    @property
    def condition_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.conditions)

    @property
    def aihub_conditions(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if c.name != ROM)

    def cue(self, name: str) -> str:
        for c in self.conditions:
            if c.name == name or c.key == name:
                return c.cue
        raise KeyError(f"{self.id} has no condition {name!r}")


def _ex(id_, korean, type_, codes, conds, rom_cue):
    conditions = (*(Condition(n, c, k) for k, n, c in conds), Condition(ROM, rom_cue, ROM))
    return Exercise(id_, korean, type_, codes, conditions)


EXERCISES: dict[str, Exercise] = {
    e.id: e
    for e in (
        _ex("barbell_curl", "바벨 컬", "바벨/덤벨", (409, 440), [
            ("elbows_still", "팔꿈치 위치 고정", "keep your elbows still"),
            ("wrists_neutral", "손목의 중립", "keep wrists neutral"),
            ("back_neutral", "척추의 중립", "keep your back neutral"),
            ("tension_down", "이완 시 팔 긴장 유지", "keep tension on the way down"),
            ("no_shrug", "수축 시 어깨 으쓱 없음", "don't shrug at the top"),
        ], "curl all the way up"),
        _ex("deadlift", "바벨 데드리프트", "바벨/덤벨", (281, 312), [
            ("back_neutral", "척추의 중립", "keep your back neutral"),
            ("knees_over_toes", "발과 무릎의 방향 일치", "knees over toes, same direction"),
            ("bar_close", "바벨 궤적과 몸 밀착", "keep the bar close"),
            ("hips_knees_together", "무릎과 골반이 동시에 펴짐", "extend knees and hips together"),
            ("feet_flat", "발바닥 지면 고정", "keep feet flat"),
        ], "stand all the way up"),
        _ex("knee_up", "스탠딩 니업", "맨몸 운동", (33, 48), [
            ("look_forward", "시선 정면", "look forward"),
            ("back_neutral", "척추 중립", "keep your back neutral"),
            ("knee_high", "무릎 충분히 올라오고", "bring the knee higher"),
            ("control_down", "이완시 다리 긴장 유지", "control the leg on the way down"),
        ], "lift the knee to hip height"),
        _ex("leg_raise", "라잉 레그 레이즈", "맨몸 운동", (473, 488), [
            ("lower_back_down", "허리 지면 고정", "keep your lower back down"),
            ("knee_angle_fixed", "허벅지와 종아리 각도 고정", "keep the knee angle fixed"),
            ("control_down", "이완 시 다리 긴장유지", "control the legs on the way down"),
            ("head_down", "고개 숙임 여부", "keep your head down"),
        ], "raise your legs to vertical"),
        _ex("overhead_press", "오버 헤드 프레스", "바벨/덤벨", (361, 376), [
            ("back_neutral", "척추의 중립", "keep your back neutral"),
            ("forearms_vertical", "전완 지면과 수직", "forearms vertical"),
            ("shoulders_set", "견갑대 고정", "keep shoulders set"),
            ("no_leg_drive", "무릎 반동 없음", "no leg drive"),
        ], "lock your arms out"),
        _ex("side_crunch", "스탠딩 사이드 크런치", "맨몸 운동", (1, 32), [
            ("back_neutral", "척추의 중립", "keep your back neutral"),
            ("look_forward", "시선 정면 유지", "look forward"),
            ("knee_elbow_close", "수축시 무릎과 팔꿈치가 충분히 가까움", "bring knee and elbow closer"),
            ("knee_at_side", "무릎이 몸통 측면에서 올라오는지 여부", "raise the knee at your side"),
            ("hands_behind_head", "양 손이 머리 뒤에 위치", "hands behind your head"),
        ], "crunch all the way to the side"),
        _ex("side_lunge", "사이드 런지", "맨몸 운동", (145, 176), [
            ("working_knee_90", "앞다리 무릎 각도 90도", "bend the working knee to 90°"),
            ("torso_foot_knee", "몸통 발 무릎 방향 일치여부", "align torso, foot and knee"),
            ("other_leg", "뒤다리 무릎 각도 90도", "straighten/position the other leg"),
            ("back_neutral", "척추의 중립", "keep your back neutral"),
            ("no_lean", "상체의 과조한 숙임/젖힘 여부", "don't lean too far"),
        ], "lunge deeper to the side"),
        _ex("side_raise", "사이드 레터럴 레이즈", "바벨/덤벨", (377, 408), [
            ("no_knee_bounce", "무릎 반동 없음", "no knee bounce"),
            ("no_shrug", "어깨 으쓱 없음", "don't shrug"),
            ("elbow_angle_fixed", "상관과 전완의 각도 고정", "keep the elbow angle fixed"),
            ("wrists_fixed", "손목의 각도 고정", "keep wrists fixed"),
            ("no_torso_swing", "상체 반동 없음", "no torso swing"),
        ], "raise to shoulder height"),
        _ex("squat", "바벨 스쿼트", "바벨/덤벨", (313, 328), [
            ("back_neutral", "척추의 중립", "keep your back neutral"),
            ("head_forward", "고개 정면", "head forward"),
            ("knees_in_line", "발과 무릎의 방향 일치", "knees in line with toes"),
            ("heels_down", "발바닥 지면 고정", "keep heels down"),
        ], "go deeper"),
    )
}

EXERCISE_IDS: tuple[str, ...] = tuple(EXERCISES)
# The recogniser's extra class: nobody exercising (standing, walking, resting between sets).
IDLE = "idle"

_BY_KOREAN = {e.korean: e for e in EXERCISES.values()}


def exercise_id_from_korean(name: str) -> str:
    """Map an AI-Hub exercise name onto a canonical id; unknown ones keep their trimmed name."""
    name = name.strip()
    ex = _BY_KOREAN.get(name)
    return ex.id if ex else name


def get(exercise_id: str) -> Exercise:
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise KeyError(
            f"unknown exercise {exercise_id!r}; known: {', '.join(EXERCISE_IDS)}"
        ) from None


def cue_for(exercise: str, key: str) -> str:
    """The cue of ``key`` for ``exercise``; the key itself when either is unknown (a bundle may
    carry conditions the catalogue does not)."""
    try:
        return EXERCISES[exercise].cue(key)
    except KeyError:
        return key
