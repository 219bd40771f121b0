"""Value checkers for config fields: each returns the (normalised) value or raises :class:`Bad`.

A dataclass field made with :func:`setting` carries its checker; :func:`check_fields` runs them
all and reports every problem with its dotted key (``judge.min_rep: expected ...``).
"""

from __future__ import annotations

import json
from dataclasses import field, fields
from typing import Any


class Bad(Exception):
    """A value is not what its key expects; the message says what was expected."""


def show(v: Any) -> str:
    try:
        return json.dumps(v, ensure_ascii=False)
    except TypeError:
        return repr(v)


def integer(lo: int | None = None, hi: int | None = None):
    desc = "an integer" + (f" {lo}..{hi}" if lo is not None and hi is not None
                           else f" >= {lo}" if lo is not None else "")

    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise Bad(desc)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise Bad(desc)
        return v
    return check


def number(lo: float | None = None, hi: float | None = None, lo_open: bool = False):
    if lo is not None and hi is not None:
        desc = f"a number > {lo:g} and <= {hi:g}" if lo_open else f"a number {lo:g}..{hi:g}"
    elif lo is not None:
        desc = f"a number {'>' if lo_open else '>='} {lo:g}"
    else:
        desc = "a number"

    def check(v):
        if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
            raise Bad(desc)
        try:
            v = float(v)
        except OverflowError:  # an integer beyond any float
            raise Bad(desc) from None
        if lo is not None and (v < lo or (lo_open and v == lo)):
            raise Bad(desc)
        if hi is not None and v > hi:
            raise Bad(desc)
        return v
    return check


def boolean(v):
    if not isinstance(v, bool):
        raise Bad("true or false")
    return v


def text(v):
    if not isinstance(v, str):
        raise Bad("a string")
    return v


def choice(*options):
    desc = "one of " + ", ".join(show(o) for o in options)

    def check(v):
        if v not in options or isinstance(v, bool):
            raise Bad(desc)
        return v
    return check


def setting(default, check, path: bool = False):
    """A dataclass field with its checker (and whether it is a path relative to its file)."""
    meta = {"check": check, "path": path}
    if isinstance(default, list | tuple | dict):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


def check_fields(obj, section: str) -> list[str]:
    """Run every field's checker on a (frozen) dataclass, storing the normalised values;
    returns the problems as ``section.key: expected ..., got ...``."""
    problems = []
    for f in fields(obj):
        check = f.metadata.get("check")
        if check is None:
            continue
        v = getattr(obj, f.name)
        try:
            object.__setattr__(obj, f.name, check(v))
        except Bad as e:
            problems.append(f"{section}.{f.name}: expected {e}, got {show(v)}")
    return problems
