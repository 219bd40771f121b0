"""formcheck-history: the rep history: sets and reps per day, CSV/JSON export, corrections."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from collections import defaultdict
from pathlib import Path

from ..outputs.history import History, HistorySettings, default_db_path

EPILOG = """\
examples:
  formcheck-history                      reps and sets per day
  formcheck-history sets --day 2026-12-07
  formcheck-history export --format csv -o reps.csv
  formcheck-history correct wrong        the last rep's verdict was wrong
  formcheck-history correct right --holds knees_in_line
"""

CSV_FIELDS = ["id", "time", "set_id", "exercise", "rep", "correct", "score", "failed", "cues", "probs",
              "verdict_ok", "labels", "lm_frames"]


def _day(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall).strftime("%Y-%m-%d")


def _clock(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall).strftime("%Y-%m-%d %H:%M:%S")


def _open(path: Path, must_exist: bool = True) -> History:
    if must_exist and not path.is_file():
        raise SystemExit(f"formcheck-history: no rep history at {path} (the station writes it; "
                         "choose another file with --db)")
    return History(path, HistorySettings(check_on_open=False))


def _day_filter(day: str | None) -> tuple[str, tuple]:
    if not day:
        return "1", ()
    try:
        d = dt.datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise SystemExit(f"formcheck-history: --day: expected YYYY-MM-DD, got {day!r}") from None
    start = d.timestamp()
    return "wall >= ? AND wall < ?", (start, (d + dt.timedelta(days=1)).timestamp())


def cmd_days(h: History, args, out) -> int:
    days: dict[str, dict] = defaultdict(lambda: {"sets": set(), "reps": 0, "good": 0, "bad": 0,
                                                 "corrected": 0, "exercises": set()})
    for r in h.reps():
        d = days[_day(r["wall"])]
        d["sets"].add(r["set_id"])
        d["reps"] += 1
        d["good"] += r["correct"] is True
        d["bad"] += r["correct"] is False
        d["corrected"] += r["verdict_ok"] is not None
        d["exercises"].add(r["exercise"])
    if not days:
        print("no reps yet", file=out)
        return 0
    print(f"{'day':<11} {'sets':>4} {'reps':>5} {'good':>5} {'bad':>5} {'corr.':>5}  exercises", file=out)
    for day in sorted(days):
        d = days[day]
        print(f"{day:<11} {len(d['sets']):>4} {d['reps']:>5} {d['good']:>5} {d['bad']:>5} "
              f"{d['corrected']:>5}  {', '.join(sorted(d['exercises']))}", file=out)
    return 0


def cmd_sets(h: History, args, out) -> int:
    where, params = _day_filter(args.day)
    sets: dict[int, list[dict]] = defaultdict(list)
    for r in h.reps(where=where, args=params):
        sets[r["set_id"]].append(r)
    if not sets:
        print("no reps" + (f" on {args.day}" if args.day else ""), file=out)
        return 0
    print(f"{'set':>5}  {'started':<19}  {'exercise':<15} {'reps':>4} {'good':>4} {'bad':>4}  cues", file=out)
    for sid in sorted(sets):
        reps = sets[sid]
        cues: dict[str, int] = defaultdict(int)
        for r in reps:
            for c in r["cues"]:
                cues[c] += 1
        top = ", ".join(f"{c} x{n}" for c, n in sorted(cues.items(), key=lambda x: -x[1])[:3])
        print(f"{sid:>5}  {_clock(reps[0]['wall']):<19}  {reps[0]['exercise']:<15} {len(reps):>4} "
              f"{sum(r['correct'] is True for r in reps):>4} {sum(r['correct'] is False for r in reps):>4}  {top}",
              file=out)
    return 0


def cmd_reps(h: History, args, out) -> int:
    where, params = _day_filter(args.day)
    rows = list(h.reps(where=where, args=params, order="id DESC"))[: args.limit][::-1]
    for r in rows:
        verdict = {True: "good", False: "FIX", None: "-"}[r["correct"]]
        corr = {True: " (confirmed)", False: " (marked wrong)", None: ""}[r["verdict_ok"]]
        cues = f": {'; '.join(r['cues'])}" if r["cues"] else ""
        print(f"#{r['id']:<6} {_clock(r['wall'])}  set {r['set_id']:<4} {r['exercise']:<15} rep {r['rep']:<3} "
              f"{verdict}{cues}{corr}", file=out)
    if not rows:
        print("no reps", file=out)
    return 0


def cmd_export(h: History, args, out) -> int:
    where, params = _day_filter(args.day)
    rows = h.reps(where=where, args=params, landmarks=args.landmarks)
    stream = open(args.output, "w", newline="", encoding="utf-8") if args.output else out
    n = 0
    try:
        if args.format == "json":
            # one JSON object per line: streams, and any size of history exports in constant memory
            for r in rows:
                r["time"] = _clock(r["wall"])
                if args.landmarks and "lm" in r:
                    r["lm_t"] = [round(float(x), 4) for x in r["lm_t"]]
                    r["lm"] = [[[None if x != x else round(float(x), 4) for x in p] for p in f] for f in r["lm"]]
                stream.write(json.dumps(r, ensure_ascii=False) + "\n")
                n += 1
        else:
            w = csv.DictWriter(stream, fieldnames=CSV_FIELDS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                r["time"] = _clock(r["wall"])
                for k in ("failed", "cues", "probs", "labels"):
                    r[k] = json.dumps(r[k], ensure_ascii=False) if r[k] is not None else ""
                w.writerow(r)
                n += 1
    finally:
        if args.output:
            stream.close()
    if args.output:
        print(f"{n} reps written to {args.output}", file=sys.stderr)
    return 0


def _labels(holds: list[str], fails: list[str]) -> dict[str, bool] | None:
    labels = {k: True for k in holds}
    for k in fails:
        if k in labels:
            raise SystemExit(f"formcheck-history: condition {k!r} both --holds and --fails")
        labels[k] = False
    return labels or None


def cmd_correct(h: History, args, out) -> int:
    ok = args.verdict == "right"
    labels = _labels(args.holds or [], args.fails or [])
    r = h.correct(args.id, ok, labels) if args.id is not None else h.correct_last(ok, labels)
    if r is None:
        print("formcheck-history: no such rep" if args.id is not None else "formcheck-history: no reps yet",
              file=sys.stderr)
        return 1
    print(f"rep #{r['id']} ({r['exercise']} rep {r['rep']}, {_clock(r['wall'])}): verdict marked {args.verdict}"
          + (f", labels {r['labels']}" if r["labels"] else ""), file=out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="formcheck-history", description="The station's rep history: what was done, when, how well; "
        "exports; and corrections of verdicts (the personal model's training data).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", type=Path, default=None,
                   help=f"the history database (default: {default_db_path()})")
    sub = p.add_subparsers(dest="cmd")
    sub.add_parser("days", help="sets and reps per day (the default)")
    s = sub.add_parser("sets", help="each set: start, exercise, reps, good/bad, commonest cues")
    s.add_argument("--day", help="only this day (YYYY-MM-DD)")
    r = sub.add_parser("reps", help="the latest reps")
    r.add_argument("--day", help="only this day (YYYY-MM-DD)")
    r.add_argument("-n", "--limit", type=int, default=30, help="how many (newest last; default 30)")
    e = sub.add_parser("export", help="every rep as CSV or JSON lines")
    e.add_argument("--format", choices=("csv", "json"), default="csv")
    e.add_argument("-o", "--output", help="file to write (default: stdout)")
    e.add_argument("--day", help="only this day (YYYY-MM-DD)")
    e.add_argument("--landmarks", action="store_true", help="include each rep's landmarks (JSON only)")
    c = sub.add_parser("correct", help="mark the last rep's (or rep --id's) verdict right or wrong")
    c.add_argument("verdict", choices=("wrong", "right"))
    c.add_argument("--id", type=int, help="the rep id (see `formcheck-history reps`); default: the newest")
    c.add_argument("--holds", nargs="+", metavar="CONDITION", help="conditions that held (were done right)")
    c.add_argument("--fails", nargs="+", metavar="CONDITION", help="conditions that failed")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "export" and args.landmarks and args.format != "json":
        print("formcheck-history: --landmarks needs --format json", file=sys.stderr)
        return 2
    path = args.db or default_db_path()
    try:
        h = _open(path)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 1
    cmd = {"days": cmd_days, None: cmd_days, "sets": cmd_sets, "reps": cmd_reps, "export": cmd_export,
           "correct": cmd_correct}[args.cmd]
    try:
        return cmd(h, args, sys.stdout)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    finally:
        h.close()


if __name__ == "__main__":
    sys.exit(main())
