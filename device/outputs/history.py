"""Rep history: every rep appended to a local SQLite database (one row per rep, bounded).

One transaction per rep (never per frame), WAL journal with ``synchronous=FULL`` so a power cut
loses at most the rep being written; the oldest reps are dropped past ``max_reps`` /
``max_mb``. A file that is not a healthy database is moved aside (``NAME.corrupt-TIME``) with
an error naming both paths, and a new one is started. A person's corrections ("that verdict
was wrong") are stored with the rep they are about.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import boolean, check_fields, integer, number, setting, text
from ..errors import ConfigError, FormcheckError
from ..events import Event, RepEvent

log = logging.getLogger(__name__)

DB_NAME = "history.sqlite3"
SCHEMA_VERSION = 1
LANDMARK_SHAPE = (33, 4)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wall REAL NOT NULL,            -- unix time the rep was stored
    set_id INTEGER NOT NULL,       -- reps between two resets / exercise changes
    exercise TEXT NOT NULL,
    rep INTEGER NOT NULL,          -- 1-based count within the set
    correct INTEGER,               -- 1 good, 0 bad, NULL no verdict
    score REAL,
    t REAL, start REAL, "end" REAL,  -- station clock (seconds)
    failed TEXT NOT NULL,          -- JSON list of condition keys
    cues TEXT NOT NULL,            -- JSON list
    probs TEXT NOT NULL,           -- JSON {condition: P(holds)}
    conditions TEXT,               -- JSON list of per-condition records when the judge gave them
    not_judged TEXT,               -- JSON
    lm_frames INTEGER,             -- landmarks: frame count, times (float32 s from start) and
    lm_t BLOB,                     -- (frames, 33, 4) float16, C order
    lm BLOB,
    verdict_ok INTEGER,            -- the person's correction: 1 verdict right, 0 wrong, NULL none
    labels TEXT,                   -- JSON {condition: holds} the person gave, when specific
    corrected_wall REAL
);
CREATE INDEX IF NOT EXISTS reps_wall ON reps (wall);
"""


class HistoryError(FormcheckError, RuntimeError):
    pass


@dataclass(frozen=True)
class HistorySettings:
    """The station's ``[history]`` section, field for field (documented in ``app/formcheck.toml``)."""

    enabled: bool = setting(True, boolean)  # the station keeps the history only when true
    path: str = setting("", text, path=True)  # the database; "" = history.sqlite3 in the state directory
    # Oldest reps are dropped past either bound. 20000 reps is months of daily sets
    # (150 reps a day ~ 4 months); 200 MB keeps an SD card's free space safe with landmarks
    # (a 3 s rep at 30 fps is ~25 kB of float16 landmarks).
    max_reps: int = setting(20_000, integer(1, 10_000_000))
    max_mb: float = setting(200.0, number(0.0, 100_000.0, lo_open=True))
    landmarks: bool = setting(True, boolean)  # store each rep's landmarks (the personal model's data)
    check_on_open: bool = setting(True, boolean)  # PRAGMA quick_check at start (seconds on a large file on a Pi)
    # personal thresholds read at start and on SIGHUP; "" = personal.json in the state directory
    personal: str = setting("", text, path=True)

    def __post_init__(self):
        problems = check_fields(self, "history")
        if problems:
            raise ConfigError(problems)


def default_state_dir() -> Path:
    """systemd's ``$STATE_DIRECTORY``, else ``/var/lib/formcheck`` when writable, else
    ``$XDG_STATE_HOME/formcheck`` (``~/.local/state/formcheck``)."""
    env = os.environ.get("STATE_DIRECTORY")
    if env:
        return Path(env.split(":")[0])
    system = Path("/var/lib/formcheck")
    if system.is_dir() and os.access(system, os.W_OK):
        return system
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "formcheck"


def default_db_path() -> Path:
    return default_state_dir() / DB_NAME


# ---- landmarks, compactly ----------------------------------------------------------------

def encode_landmarks(t: np.ndarray, lm: np.ndarray) -> tuple[int, bytes, bytes]:
    """(frames, times as float32 seconds from the first, landmarks as float16) for a rep."""
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    lm = np.asarray(lm, dtype=np.float32)
    if lm.ndim != 3 or lm.shape[1:] != LANDMARK_SHAPE or len(t) != len(lm):
        raise ValueError(f"rep landmarks: expected (T, 33, 4) with T times, got {lm.shape} and {t.shape}")
    rel = (t - t[0]).astype(np.float32) if len(t) else t.astype(np.float32)
    return len(t), rel.tobytes(), lm.astype(np.float16).tobytes()


def decode_landmarks(frames: int, t_blob: bytes, lm_blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    t = np.frombuffer(t_blob, dtype=np.float32).copy()
    lm = np.frombuffer(lm_blob, dtype=np.float16).astype(np.float32).reshape(frames, *LANDMARK_SHAPE)
    return t, lm


class RecentPoses:
    """A bounded ring of the last frames' landmarks, from which a rep's are cut at its end.

    The station pushes each frame's pose (no copy beyond one array, no I/O); the history output
    asks for ``[start, end]`` when the rep event arrives: the judge does not have to carry
    landmarks on its events.
    """

    def __init__(self, keep_s: float = 30.0):
        self.keep_s = keep_s
        self._frames: deque[tuple[float, np.ndarray | None]] = deque()
        self._lock = threading.Lock()

    def push(self, t: float, lm: np.ndarray | None) -> None:
        with self._lock:
            self._frames.append((float(t), None if lm is None else np.asarray(lm, dtype=np.float32)))
            while self._frames and self._frames[0][0] < t - self.keep_s:
                self._frames.popleft()

    def between(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Times and landmarks (T, 33, 4; NaN rows where nobody was seen) in [start, end]."""
        with self._lock:
            sel = [(t, lm) for t, lm in self._frames if start <= t <= end]
        if not sel:
            return None
        nan = np.full(LANDMARK_SHAPE, np.nan, np.float32)
        return (np.array([t for t, _ in sel]),
                np.stack([nan if lm is None or lm.shape != LANDMARK_SHAPE else lm for _, lm in sel]))

    def __call__(self, event: RepEvent):
        return self.between(event.start, event.end)


LandmarkSource = Callable[[RepEvent], "tuple[np.ndarray, np.ndarray] | None"]


# ---- the database ------------------------------------------------------------------------

def _is_corruption(e: sqlite3.DatabaseError) -> bool:
    if isinstance(e, sqlite3.OperationalError):
        msg = str(e).lower()
        return "malformed" in msg or "not a database" in msg
    return True  # DatabaseError proper: "file is not a database", "database disk image is malformed"


class History:
    """The rep database. Thread-safe (the station writes from an output worker; the button and
    the CLI correct from elsewhere)."""

    def __init__(self, path: str | Path | None = None, settings: HistorySettings | None = None):
        self.settings = settings or HistorySettings()
        self.path = Path(path or self.settings.path or default_db_path())
        self._lock = threading.RLock()
        self.moved_aside: Path | None = None
        self.dropped = 0  # reps removed by the size bounds since open
        self._conn = self._open()
        row = self._conn.execute("SELECT set_id, exercise, rep FROM reps ORDER BY id DESC LIMIT 1").fetchone()
        self._last = row  # (set_id, exercise, rep) of the newest row

    # ---- opening, corruption -------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect(check=self.settings.check_on_open)
        except sqlite3.DatabaseError as e:
            if not _is_corruption(e):
                raise HistoryError(f"rep history {self.path}: {e}") from e
            self._move_aside(str(e))
            return self._connect(check=False)

    def _connect(self, check: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False, isolation_level=None)
        try:
            # auto_vacuum must be chosen before the first table exists: freed pages of dropped
            # reps go back to the file system.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("rep history %s: journal mode %s (WAL unavailable here)", self.path, mode)
            # FULL: a commit is on the disk before the next rep; a power cut loses at most the
            # rep being written (NORMAL could lose the last few committed ones in WAL mode).
            conn.execute("PRAGMA synchronous = FULL")
            if check:
                res = conn.execute("PRAGMA quick_check").fetchone()[0]
                if res != "ok":
                    raise sqlite3.DatabaseError(f"database disk image is malformed ({res})")
            conn.executescript(_SCHEMA)
            ver = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if ver is None:
                conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(ver[0]) > SCHEMA_VERSION:
                raise HistoryError(f"rep history {self.path}: schema {ver[0]} is newer than this "
                                   f"formcheck understands ({SCHEMA_VERSION}); upgrade formcheck")
            return conn
        except BaseException:
            conn.close()
            raise

    def _move_aside(self, why: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        dest = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while dest.exists():
            dest = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        os.replace(self.path, dest)
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                os.replace(side, Path(str(dest) + suffix))
        self.moved_aside = dest
        log.error("rep history %s is not a healthy database (%s): moved aside to %s; starting a new "
                  "history. The old file may be recoverable with `sqlite3 %s .recover`.",
                  self.path, why, dest, dest)

    # ---- writing -------------------------------------------------------------------------
    def add(self, event: RepEvent, landmarks: tuple[np.ndarray, np.ndarray] | None = None,
            wall: float | None = None) -> int:
        """Append one rep (one transaction); returns its id."""
        lm = landmarks if landmarks is not None else _event_landmarks(event)
        frames = t_blob = lm_blob = None
        if lm is not None and self.settings.landmarks:
            frames, t_blob, lm_blob = encode_landmarks(*lm)
        conds = getattr(event, "conditions", None)
        not_judged = getattr(event, "not_judged", None)
        with self._lock:
            last = self._last
            if last is None or event.rep <= 1 or event.exercise != last[1] or event.rep <= last[2]:
                set_id = (last[0] + 1) if last is not None else 1
            else:
                set_id = last[0]
            row = (wall if wall is not None else time.time(), set_id, event.exercise, int(event.rep),
                   None if event.correct is None else int(bool(event.correct)), _num(event.score),
                   _num(event.t), _num(event.start), _num(event.end),
                   json.dumps(list(event.failed)), json.dumps(list(event.cues), ensure_ascii=False),
                   json.dumps({k: _num(v) for k, v in (event.probs or {}).items()}),
                   None if conds is None else json.dumps(_jsonable(conds), ensure_ascii=False),
                   None if not_judged is None else json.dumps(_jsonable(not_judged), ensure_ascii=False),
                   frames, t_blob, lm_blob)
            rid = self._write(row)
            self._last = (set_id, event.exercise, int(event.rep))
            return rid

    def _write(self, row: tuple) -> int:
        try:
            return self._insert(row)
        except sqlite3.DatabaseError as e:
            if not _is_corruption(e):
                raise
            # The file went bad under us (SD card): keep the history going in a new file.
            self._conn.close()
            self._move_aside(str(e))
            self._conn = self._connect(check=False)
            return self._insert(row)

    def _insert(self, row: tuple) -> int:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            cur = c.execute(
                'INSERT INTO reps (wall, set_id, exercise, rep, correct, score, t, start, "end", failed, '
                "cues, probs, conditions, not_judged, lm_frames, lm_t, lm) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
            rid = int(cur.lastrowid)
            self._bound(rid)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return rid

    def _bound(self, newest: int) -> None:
        """Drop the oldest reps past max_reps or max_mb (inside the insert's transaction)."""
        c = self._conn
        cur = c.execute("DELETE FROM reps WHERE id <= ?", (newest - self.settings.max_reps,))
        dropped = cur.rowcount
        limit = self.settings.max_mb * 1e6
        used = self.used_bytes()
        while used > limit:
            n = c.execute("SELECT COUNT(*) FROM reps").fetchone()[0]
            if n <= 1:
                break
            # a tenth at a time: the page counts only move once the freed pages are reclaimed
            k = max(1, n // 10)
            cur = c.execute("DELETE FROM reps WHERE id IN (SELECT id FROM reps ORDER BY id LIMIT ?)", (k,))
            dropped += cur.rowcount
            used = self.used_bytes()
        if dropped:
            self.dropped += dropped
            c.execute("PRAGMA incremental_vacuum")

    def used_bytes(self) -> int:
        """Bytes of the database in use (free pages not counted)."""
        c = self._conn
        page = c.execute("PRAGMA page_size").fetchone()[0]
        count = c.execute("PRAGMA page_count").fetchone()[0]
        free = c.execute("PRAGMA freelist_count").fetchone()[0]
        return int((count - free) * page)

    # ---- corrections ---------------------------------------------------------------------
    def correct_last(self, verdict_ok: bool, labels: dict[str, bool] | None = None,
                     exercise: str | None = None) -> dict | None:
        """Mark the newest rep (of ``exercise`` if given) as judged right or wrong; ``labels``
        optionally says which conditions held. Returns the corrected rep, None if there is none."""
        with self._lock:
            q = "SELECT id FROM reps" + (" WHERE exercise = ?" if exercise else "") + " ORDER BY id DESC LIMIT 1"
            row = self._conn.execute(q, (exercise,) if exercise else ()).fetchone()
            if row is None:
                return None
            return self.correct(row[0], verdict_ok, labels)

    def correct(self, rep_id: int, verdict_ok: bool, labels: dict[str, bool] | None = None) -> dict | None:
        labels_json = None
        if labels:
            labels_json = json.dumps({str(k): bool(v) for k, v in labels.items()})
        with self._lock:
            c = self._conn
            cur = c.execute("UPDATE reps SET verdict_ok = ?, labels = COALESCE(?, labels), corrected_wall = ? "
                            "WHERE id = ?", (int(bool(verdict_ok)), labels_json, time.time(), int(rep_id)))
            if cur.rowcount == 0:
                return None
            log.info("rep %d: verdict marked %s by the person", rep_id, "right" if verdict_ok else "wrong")
            return self.get(rep_id)

    # ---- reading -------------------------------------------------------------------------
    def get(self, rep_id: int, landmarks: bool = False) -> dict | None:
        rows = list(self.reps(where="id = ?", args=(int(rep_id),), landmarks=landmarks))
        return rows[0] if rows else None

    def reps(self, where: str = "1", args: tuple = (), landmarks: bool = False,
             order: str = "id") -> Iterator[dict]:
        """Rows as dicts (JSON columns decoded; ``landmarks`` adds ``lm_t``/``lm`` arrays)."""
        with self._lock:
            cur = self._conn.execute(f"SELECT * FROM reps WHERE {where} ORDER BY {order}", args)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        for r in rows:
            yield _row_dict(dict(zip(names, r, strict=True)), landmarks)

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM reps").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


RECENT_COLUMNS = ("id", "wall", "set_id", "exercise", "rep", "correct", "score", "failed", "cues",
                  "verdict_ok", "labels", "corrected_wall")


def read_recent(path: str | Path, limit: int = 50) -> list[dict]:
    """The newest ``limit`` reps, newest first, without landmarks, read with a connection of
    its own (read-only): another thread reads while the writer works (WAL) and never waits on
    the :class:`History` lock. A missing file is an empty history."""
    path = Path(path)
    if not path.exists():
        return []
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    try:
        cols = ", ".join(f'"{c}"' for c in RECENT_COLUMNS)
        rows = conn.execute(f"SELECT {cols} FROM reps ORDER BY id DESC LIMIT ?", (int(limit),)).fetchall()
    finally:
        conn.close()
    return [_row_dict(dict(zip(RECENT_COLUMNS, r, strict=True)), False) for r in rows]


def _row_dict(d: dict, landmarks: bool) -> dict:
    for k in ("failed", "cues", "probs", "conditions", "not_judged", "labels"):
        if d.get(k) is not None:
            d[k] = json.loads(d[k])
    for k in ("correct", "verdict_ok"):
        if d.get(k) is not None:
            d[k] = bool(d[k])
    lm_t, lm = d.pop("lm_t", None), d.pop("lm", None)
    if landmarks and d.get("lm_frames"):
        d["lm_t"], d["lm"] = decode_landmarks(d["lm_frames"], lm_t, lm)
    return d


def _num(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return _num(obj)
    return obj


def _event_landmarks(event: RepEvent):
    """Landmarks carried on the event itself: ``landmarks`` as (times, (T,33,4) array)."""
    lm = getattr(event, "landmarks", None)
    if lm is None:
        return None
    if isinstance(lm, tuple) and len(lm) == 2:
        return lm
    raise ValueError("RepEvent.landmarks: expected (times, (T, 33, 4) array)")


# ---- the output --------------------------------------------------------------------------

class HistoryOutput:
    """Appends every rep event to a :class:`History`. Runs on the fan-out's worker thread
    (``threaded``): a slow SD card never stalls the frame loop."""

    name = "history"
    threaded = True

    def __init__(self, history: History | None = None, *, settings: HistorySettings | None = None,
                 landmarks: LandmarkSource | None = None):
        self.history = history or History(settings=settings)
        self.landmarks = landmarks
        self.written = 0

    def handle(self, event: Event) -> None:
        if not isinstance(event, RepEvent):
            return
        lm = None
        if self.landmarks is not None and getattr(event, "landmarks", None) is None:
            try:
                lm = self.landmarks(event)
            except Exception:  # the rep is worth keeping without its landmarks
                log.warning("rep landmarks unavailable", exc_info=True)
        self.history.add(event, lm)
        self.written += 1

    def correct_last(self, verdict_ok: bool, labels: dict[str, bool] | None = None) -> dict | None:
        return self.history.correct_last(verdict_ok, labels)

    def close(self) -> None:
        self.history.close()
