"""Property-based fuzzing of every reader of outside input: the config loader, bundle JSON, the
dataset ``.npz`` reader, the AI-Hub label loader and the landmark-clip reader.

Each test feeds thousands of generated malformed inputs (random text and bytes, truncations,
byte flips, and real documents with fields deleted, retyped or set to extreme values) and
requires one of two outcomes: the input is accepted, or the reader raises its own named error
(which is what the CLI and the station turn into a clear message). Any other exception is a
traceback a user would see, and fails the test. The number of inputs tried per reader is
printed at the end of the module (README "Reliability").
"""

from __future__ import annotations

import copy
import io
import json
import math
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers import aihub_doc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formcheck.device.app.config import Config, ConfigError, loads, packaged_default_text
from formcheck.device.judging.bundle import BundleError, default_bundle_dir, load_bundle, parse_bundle
from formcheck.device.sequences import DatasetError, LandmarkSequence, read_sequences, write_sequences
from formcheck.train import aihub

TRIED: Counter = Counter()
CRASHED: Counter = Counter()
OUTCOMES: Counter = Counter()  # (reader, "ok" or the error's name): how deep the inputs got


def fuzz(n: int):
    """Settings for one fuzz test: ``n`` examples, no per-example deadline (a loaded CI box),
    no example database written into the checkout."""
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


@pytest.fixture(scope="module", autouse=True)
def report_counts(request):
    yield
    total = sum(TRIED.values())
    line = (f"fuzz: {total} inputs tried, crashes: {sum(CRASHED.values())} ("
            + ", ".join(f"{k} {v}" for k, v in sorted(TRIED.items())) + ")")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and total:
        reporter.write_line(line)
        for target in sorted(TRIED):
            reporter.write_line(f"  {target}: " + ", ".join(f"{o} {n}" for (t, o), n in sorted(OUTCOMES.items())
                                                          if t == target))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def outcome(target: str, call, *named: type[BaseException]) -> str:
    """Run ``call``; "ok", or the name of the named error it raised. Anything else propagates
    (a crash: the test fails and hypothesis shrinks the input)."""
    TRIED[target] += 1
    try:
        call()
    except named as e:
        assert str(e), f"{type(e).__name__} without a message"
        OUTCOMES[target, type(e).__name__] += 1
        return type(e).__name__
    except BaseException:
        CRASHED[target] += 1
        raise
    OUTCOMES[target, "ok"] += 1
    return "ok"


# ---- generated values ----------------------------------------------------------------------------

EXTREMES = [0, -1, 1, 2**31, -(2**63), 2**64, 10**400, 1e308, -1e308, 1e-320, math.nan, math.inf, -math.inf,
            "", " ", "\x00", "../../etc/passwd", "auto", "NaN", "9" * 40 + ".jpg", "x" * 5000, [], {}, None,
            True, False]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=16),
                    st.sampled_from(EXTREMES))
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                                       max_size=4),
                           max_leaves=8)


def mutate(data, doc, max_edits: int = 3):
    """``doc`` (JSON-like) with 1..max_edits random edits: a node deep inside replaced by a
    random value, deleted, or wrapped in a list."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, max_edits), label="edits")):
        parent, key, node = None, None, doc
        # descend with probability 0.85 per level: most edits land deep in the document
        while isinstance(node, dict | list) and node and data.draw(st.integers(0, 19)) < 17:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            parent, key = node, data.draw(st.sampled_from(keys))
            node = parent[key]
        op = data.draw(st.sampled_from(["replace", "replace", "extreme", "delete", "wrap"]))
        if parent is None:
            doc = data.draw(json_values) if op != "wrap" else [doc]
        elif op == "extreme":  # the values that break naive numeric and path code
            parent[key] = data.draw(st.sampled_from(EXTREMES))
        elif op == "delete":
            del parent[key]
        elif op == "wrap":
            parent[key] = [node]
        else:
            parent[key] = data.draw(json_values)
    return doc


def damage_bytes(data, raw: bytes) -> bytes:
    """``raw`` truncated, with bytes flipped, a slice duplicated, or a run of digits inserted
    (a number beyond any float, or past Python's int-parsing limit)."""
    op = data.draw(st.sampled_from(["truncate", "flip", "splice", "digits"]))
    if op == "truncate" or not raw:
        return raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)))]
    if op == "digits":
        i = data.draw(st.integers(0, len(raw)))
        return raw[:i] + b"9" * data.draw(st.sampled_from([40, 400, 5000])) + raw[i:]
    out = bytearray(raw)
    if op == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(out) - 1))
            out[i] ^= data.draw(st.integers(1, 255))
        return bytes(out)
    i = data.draw(st.integers(0, len(out) - 1))
    j = data.draw(st.integers(i, min(len(out), i + 64)))
    return bytes(out[:j] + out[i:j] + out[j:])


# ---- config ---------------------------------------------------------------------------------------

def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON escapes are TOML basic-string escapes (bad surrogates: a TOML error)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items() if x is not None) + "}"
    return '""'  # None has no TOML form


def toml_doc(sections: dict) -> str:
    lines = []
    for name, table in sections.items():
        if isinstance(table, dict):
            lines.append(f"[{json.dumps(name)}]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items() if v is not None]
        elif table is not None:
            lines.insert(0, f"{json.dumps(name)} = {toml_value(table)}")
    return "\n".join(lines) + "\n"


DEFAULTS = Config().to_dict()


@st.composite
def config_docs(draw):
    """A config whose sections and keys are mostly the real ones, with random values."""
    sections = {}
    for name in draw(st.lists(st.sampled_from([*DEFAULTS, "nosuch"]), max_size=4, unique=True)):
        keys = [*DEFAULTS.get(name, {}), "nosuch"]
        table = {k: draw(json_values) for k in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True))}
        sections[name] = table if draw(st.integers(0, 9)) else draw(json_values)
    return toml_doc(sections)


@fuzz(800)
@given(text=st.one_of(config_docs(), st.text(max_size=200)))
def test_config_loader_random_documents(text, scratch):
    # relative_to: paths are resolved against the config file's folder, as load() does
    outcome("config", lambda: loads(text, relative_to=scratch), ConfigError)


@fuzz(300)
@given(data=st.data())
def test_config_loader_damaged_default(data, scratch):
    raw = packaged_default_text().encode()
    text = damage_bytes(data, raw).decode("utf-8", errors="replace")
    outcome("config", lambda: loads(text, relative_to=scratch), ConfigError)


# ---- bundles ---------------------------------------------------------------------------------------

BUNDLES = sorted(default_bundle_dir().glob("*.json"))


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bundles")


@fuzz(600)
@given(data=st.data())
def test_bundle_metadata_mutated(data):
    path = data.draw(st.sampled_from(BUNDLES), label="bundle")
    meta = mutate(data, json.loads(path.read_text()))
    model = path.with_suffix(".tflite").read_bytes()
    outcome("bundle", lambda: parse_bundle(meta, model, path.name), BundleError)


@fuzz(200)
@given(data=st.data())
def test_bundle_files_damaged(data, bundle_dir):
    """Sidecar and model bytes as found on a card: truncated, flipped, spliced; LiteRT opens
    whatever model bytes survive the metadata checks."""
    src = data.draw(st.sampled_from(BUNDLES), label="bundle")
    raw, model = src.read_bytes(), src.with_suffix(".tflite").read_bytes()
    which = data.draw(st.sampled_from(["json", "model", "both"]))
    if which in ("json", "both"):
        raw = damage_bytes(data, raw)
    if which in ("model", "both"):
        model = damage_bytes(data, model)
    (bundle_dir / src.name).write_bytes(raw)
    (bundle_dir / src.with_suffix(".tflite").name).write_bytes(model)
    outcome("bundle", lambda: load_bundle(bundle_dir / src.name), BundleError)


# ---- the dataset .npz reader ----------------------------------------------------------------------

def good_npz(path: Path, n: int = 2, frames: int = 5) -> Path:
    rng = np.random.default_rng(0)
    seqs = [LandmarkSequence(id=f"s{i}", t=np.arange(frames) / 30.0, landmarks=rng.random((frames, 33, 4)),
                             exercise="squat", conditions=["a"], condition_values=[True], correct=True,
                             image_size=(640, 480), fps=30.0, reps=[(0, frames - 1)]) for i in range(n)]
    return write_sequences(path, seqs)


arrays = st.one_of(
    st.builds(lambda shape, fill: np.full(shape, fill, np.float32),
              st.lists(st.integers(0, 34), max_size=3).map(tuple), st.floats(width=32)),
    st.builds(lambda n: np.arange(n, dtype=np.float64) / 30.0, st.integers(0, 8)),
    st.sampled_from([np.array("text"), np.array([1, 2], np.int8), np.array([True]), np.zeros((0,))]),
)


@st.composite
def npz_payloads(draw, base: dict):
    """The arrays of a dataset file with some replaced, removed, added; meta mutated."""
    out = dict(base)
    meta = json.loads(str(out["meta"]))
    choice = draw(st.sampled_from(["meta", "arrays", "both"]))
    if choice in ("meta", "both"):
        if draw(st.integers(0, 4)):
            meta = mutate(draw(st.data()), meta)
            out["meta"] = np.array(json.dumps(meta, allow_nan=True))
        else:
            out["meta"] = draw(st.sampled_from([np.array("{"), np.array(b"\xff"), np.array(3), np.zeros(2)]))
    if choice in ("arrays", "both"):
        for key in draw(st.lists(st.sampled_from([*out, "t_9", "landmarks_9"]), min_size=1, max_size=3)):
            if draw(st.booleans()) and key in out:
                del out[key]
            else:
                out[key] = draw(arrays)
    return out


@fuzz(400)
@given(data=st.data())
def test_dataset_reader_mutated_contents(data, scratch):
    base_path = good_npz(scratch / "base.npz")
    with np.load(base_path) as z:
        base = {k: z[k] for k in z.files}
    payload = data.draw(npz_payloads(base))
    path = scratch / "fuzz.npz"
    with open(path, "wb") as f:
        np.savez(f, **payload)
    outcome("dataset", lambda: read_sequences(path), DatasetError)


@fuzz(300)
@given(data=st.data())
def test_dataset_reader_damaged_bytes(data, scratch):
    raw = good_npz(scratch / "base.npz").read_bytes()
    path = scratch / "bytes.npz"
    path.write_bytes(damage_bytes(data, raw) if data.draw(st.integers(0, 9)) else data.draw(st.binary()))
    outcome("dataset", lambda: read_sequences(path), DatasetError)


def test_dataset_reader_refuses_pickles_and_names_the_file(scratch):
    """An object array (a pickle) in a dataset file is refused, never unpickled."""
    path = scratch / "pickle.npz"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        obj = io.BytesIO()
        np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        zf.writestr("meta.npy", obj.getvalue())
    path.write_bytes(buf.getvalue())
    with pytest.raises(DatasetError, match=r"pickle\.npz"):
        read_sequences(path)


# ---- AI-Hub label files -------------------------------------------------------------------------------

AIHUB_DOCS = [aihub_doc(seed=i) for i in range(3)] + [aihub_doc(values=(True, False, True, True, True))]


@fuzz(600)
@given(data=st.data())
def test_aihub_label_documents_mutated(data):
    doc = mutate(data, AIHUB_DOCS[data.draw(st.integers(0, len(AIHUB_DOCS) - 1))], max_edits=4)
    outcome("aihub", lambda: aihub.parse_clip(doc, "fuzz.json"), aihub.AihubFormatError)


@fuzz(200)
@given(data=st.data())
def test_aihub_label_files_damaged(data, scratch):
    raw = json.dumps(aihub_doc(), ensure_ascii=False).encode()
    path = scratch / "label.json"
    path.write_bytes(damage_bytes(data, raw))
    outcome("aihub", lambda: aihub.load_clip(path), aihub.AihubFormatError)


# ---- what the fuzzing found, kept as plain regression tests ---------------------------------------------

def _bundle_file(scratch: Path, text: str) -> Path:
    src = BUNDLES[0]
    (scratch / src.with_suffix(".tflite").name).write_bytes(src.with_suffix(".tflite").read_bytes())
    (scratch / src.name).write_text(text)
    return scratch / src.name


HUGE = "9" * 5000  # past Python's int-parsing limit (ValueError from json and tomllib)
FOUND = {
    "config: an integer beyond any float": (lambda d: loads("[logging]\nstats_interval = 1" + "0" * 400), ConfigError),
    "config: a list for station.exercise": (lambda d: loads('[station]\nexercise = []'), ConfigError),
    "config: a 5000-digit integer": (lambda d: loads(f"[logging]\nstats_interval = {HUGE}"), ConfigError),
    "config: a NUL in a file path": (lambda d: loads('[camera]\nsource = "a\\u0000.mp4"', relative_to=d),
                                     ConfigError),
    "bundle: a 5000-digit number": (lambda d: load_bundle(_bundle_file(d, f'{{"threshold": {HUGE}}}')),
                                    BundleError),
    "aihub: a pixel beyond any float": (
        lambda d: aihub.parse_clip(_set(aihub_doc(), ["frames", 0, "view1", "pts", "Nose", "x"], 10**400)),
        aihub.AihubFormatError),
    "aihub: a 40-digit frame number": (
        lambda d: aihub.parse_clip(_set(aihub_doc(), ["frames", 0, "view1", "img_key"], "9" * 40 + ".jpg")),
        aihub.AihubFormatError),
    "aihub: a 5000-digit number in the file": (
        lambda d: aihub.load_clip(_write(d / "huge.json", f'{{"frames": {HUGE}}}')), aihub.AihubFormatError),
    "dataset: meta not a list": (lambda d: read_sequences(_npz(d, meta=np.array('{"id": "x"}'))), DatasetError),
    "dataset: image_size not a pair": (
        lambda d: read_sequences(_npz(d, meta=np.array('[{"id": "x", "image_size": [1]}]'))), DatasetError),
    "dataset: a missing array": (lambda d: read_sequences(_npz(d, meta=np.array('[{"id": "x"}]'))), DatasetError),
}


def _set(doc, path, value):
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return doc


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _npz(d: Path, **arrays) -> Path:
    with open(d / "found.npz", "wb") as f:
        np.savez(f, format_version=np.array(1), **arrays)
    return d / "found.npz"


@pytest.mark.parametrize("case", list(FOUND))
def test_what_fuzzing_found_is_a_named_error(case, scratch):
    call, error = FOUND[case]
    with pytest.raises(error):
        call(scratch)


# ---- the landmark-clip reader (a clip file played as the station's source) -----------------------------

@st.composite
def clips(draw):
    """A landmark clip with random timestamps (NaN, inf, repeats, backwards, huge) and
    landmarks (NaN rows, inf, out of range), some sequences empty."""
    seqs = []
    for i in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, 12))
        t = draw(st.lists(st.one_of(st.floats(-10, 1e6), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1e308])),
                          min_size=n, max_size=n))
        fill = draw(st.sampled_from([0.5, math.nan, math.inf, -1.0, 1e30]))
        lm = np.full((n, 33, 4), fill, np.float32)
        if n and draw(st.booleans()):
            lm[draw(st.integers(0, n - 1))] = 0.5
        seqs.append(LandmarkSequence(id=f"c{i}", t=np.array(t, np.float64), landmarks=lm,
                                     exercise=draw(st.sampled_from(["squat", "", "nosuch"])),
                                     image_size=(draw(st.integers(0, 4000)), draw(st.integers(0, 4000))),
                                     fps=draw(st.sampled_from([0.0, 30.0, 1e-9, 1e9]))))
    return seqs


def play_clip(path: Path) -> int:
    """Read a clip as the station does and take every pose from it."""
    from formcheck.device.capture.landmark_clip import LandmarkClipReader, read_clip

    reader = LandmarkClipReader(read_clip(path))
    n = 0
    while (item := reader.read()) is not None:
        pose, t = item
        assert math.isfinite(t) and (pose.landmarks is None or pose.landmarks.shape == (33, 4))
        n += 1
    return n


@fuzz(300)
@given(data=st.data())
def test_landmark_clip_reader_random_clips(data, scratch):
    from formcheck.device.errors import SourceError

    path = write_sequences(scratch / "clip.npz", data.draw(clips()))
    outcome("clip", lambda: play_clip(path), SourceError)


@fuzz(200)
@given(data=st.data())
def test_landmark_clip_reader_damaged_files(data, scratch):
    from formcheck.device.errors import SourceError

    raw = good_npz(scratch / "base.npz").read_bytes()
    path = scratch / "clip_bytes.npz"
    path.write_bytes(damage_bytes(data, raw))
    outcome("clip", lambda: play_clip(path), SourceError)


def test_what_fuzzing_found_in_clips_absurd_frame_rates_and_times(scratch):
    """A 1e9 fps sequence once made the gap between two sequences 2e9 blank frames (out of
    memory); 1e308 s timestamps added up to inf. Both now play, the bad frames dropped."""
    seqs = [LandmarkSequence(id=f"c{i}", t=np.array([0.0, 1.0, 1e308]), landmarks=np.full((3, 33, 4), 0.5),
                             fps=1e9) for i in range(2)]
    assert play_clip(write_sequences(scratch / "absurd.npz", seqs)) == 2 + int(2.0 * 30) + 2


def test_what_fuzzing_found_in_bundles_infinite_quantisation(scratch):
    """JSON's Infinity as a tensor's zero point or scale raised OverflowError / passed as > 0."""
    src = BUNDLES[0]
    for field_, value in (("zero_point", math.inf), ("scale", math.inf), ("zero_point", 10**400)):
        meta = json.loads(src.read_text())
        meta["input"][field_] = value
        with pytest.raises(BundleError, match=field_):
            parse_bundle(meta, src.with_suffix(".tflite").read_bytes(), src.name)
