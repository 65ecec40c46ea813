"""skmultihead.load trusts nothing in the file; save never loses or corrupts a file."""

import io
import json
import os
import resource
import struct
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings
import zipfile
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import skmultihead
from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier, _savefile

from ._helpers import FAST, learnable, load_watched

# Built on the loaded profile: under CI, conftest's "ci" profile derandomizes.
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Files of a binary, a 3-class and a multi-label ("auto") estimator."""
    folder = tmp_path_factory.mktemp("saved")
    X, yb, y3, Y = learnable()
    out = {"X": X}
    for name, est, y in (
        ("binary", MultiClassKerasClassifier(**FAST), np.where(yb, "spam", "ham")),
        ("three", MultiClassKerasClassifier(**FAST), y3),
        ("labels", MultiLabelKerasClassifier(**FAST, threshold="auto"), Y),
    ):
        est.fit(X, y)
        est.save(folder / name)
        out[name] = (folder / name, est)
    return out


def _parts(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("skmultihead.json")), zf.read("model.keras")


def _write(path, meta, model, recompute=True, extra=()):
    """A file as an attacker writes it: any metadata, a valid checksum."""
    meta = dict(meta)
    if recompute:
        meta["checksum"] = _savefile.checksum(meta, model)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("skmultihead.json", json.dumps(meta))
        zf.writestr("model.keras", model)
        for name, data in extra:
            zf.writestr(name, data)
    return path


def _same(a, b, X):
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_a_missing_path_is_reported_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        skmultihead.load(tmp_path / "nothing-here")


@pytest.mark.parametrize(
    "key", ["predict_proba", "__dict__", "__class__", "_spec_", "classes_", "model__x__y_"]
)
def test_only_parameter_names_are_set(saved, tmp_path, key):
    meta, model = _parts(saved["binary"][0])
    meta["params"][key] = 1
    with pytest.raises(ValueError, match="not a parameter"):
        skmultihead.load(_write(tmp_path / "f", meta, model))


def test_routed_parameter_names_are_set(saved, tmp_path):
    meta, model = _parts(saved["binary"][0])
    meta["params"]["fit__shuffle"] = False
    loaded = skmultihead.load(_write(tmp_path / "f", meta, model))
    assert loaded.get_params()["fit__shuffle"] is False
    _same(loaded, saved["binary"][1], saved["X"])


def _peak(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_compression_bomb_is_refused_before_it_is_read(saved, tmp_path):
    meta, _ = _parts(saved["binary"][0])
    path = tmp_path / "bomb"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("skmultihead.json", json.dumps(meta))
        with zf.open("model.keras", "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(256):  # 256 MiB of zeros in a file of about 256 KB
                fh.write(chunk)
    assert path.stat().st_size < 2 << 20

    def load():
        with pytest.raises(ValueError, match="compression bomb"):
            skmultihead.load(path)

    assert _peak(load) < 16 << 20


def test_the_size_cap_can_be_raised_for_a_trusted_large_model(saved):
    path, est = saved["three"]
    with pytest.raises(ValueError, match="max_bytes"):
        skmultihead.load(path, max_bytes=1000)
    _same(skmultihead.load(path, max_bytes=10 << 20), est, saved["X"])


def test_a_bomb_inside_the_network_archive_is_refused(saved, tmp_path):
    meta, model = _parts(saved["three"][0])
    inner = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(model)) as src, zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item.filename, src.read(item.filename))
        dst.writestr("assets/padding", bytes(64 << 20))
    with pytest.raises(ValueError, match="compression bomb"):
        skmultihead.load(_write(tmp_path / "f", meta, inner.getvalue()))


@pytest.mark.parametrize("where", ["classes", "y_dtype"])
def test_a_huge_dtype_string_is_refused_cheaply(saved, tmp_path, where):
    meta, model = _parts(saved["binary"][0])
    if where == "classes":
        meta["fitted"]["spec"]["classes"][0]["dtype"] = "<U150000000"
    else:
        meta["fitted"]["spec"]["y_dtype"] = "<U150000000"
    path = _write(tmp_path / "f", meta, model)

    def load():
        with pytest.raises(ValueError, match="wider"):
            skmultihead.load(path)

    assert _peak(load) < 16 << 20


@pytest.mark.parametrize("dtype", ["|V8", "<M8[ns]", "O,O", "f4)", 7, None])
def test_unusual_dtypes_are_refused(saved, tmp_path, dtype):
    meta, model = _parts(saved["binary"][0])
    meta["fitted"]["spec"]["classes"][0]["dtype"] = dtype
    with pytest.raises(ValueError, match="dtype"):
        skmultihead.load(_write(tmp_path / "f", meta, model))


@pytest.mark.parametrize("levels", [100, 100_000])
def test_deep_nesting_is_refused(saved, tmp_path, levels):
    meta, model = _parts(saved["binary"][0])
    meta["params"]["hidden_layer_sizes"] = "<deep>"
    meta["checksum"] = "0"
    text = json.dumps(meta).replace('"<deep>"', "[" * levels + "0" + "]" * levels)
    path = tmp_path / "f"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("skmultihead.json", text)
        zf.writestr("model.keras", model)
    with pytest.raises(ValueError, match="nested|JSON"):
        skmultihead.load(path)


def test_duplicate_and_unexpected_members_are_refused(saved, tmp_path):
    meta, model = _parts(saved["binary"][0])
    with pytest.warns(UserWarning):  # zipfile warns of the duplicate it writes
        path = _write(tmp_path / "dup", meta, model, extra=[("model.keras", model)])
    with pytest.raises(ValueError, match="duplicate"):
        skmultihead.load(path)
    with pytest.raises(ValueError, match="unexpected"):
        skmultihead.load(_write(tmp_path / "extra", meta, model, extra=[("run.py", b"print(1)")]))


def test_metadata_that_does_not_match_the_network_is_refused(saved, tmp_path):
    binary_meta, binary_model = _parts(saved["binary"][0])
    three_meta, three_model = _parts(saved["three"][0])
    # binary metadata with a 3-class network
    with pytest.raises(ValueError, match="output|heads"):
        skmultihead.load(_write(tmp_path / "a", binary_meta, three_model))
    # a multiclass head of one unit
    meta = json.loads(json.dumps(three_meta))
    meta["fitted"]["spec"]["heads"][0][1] = 1
    meta["fitted"]["network"]["heads"][0][1] = 1
    with pytest.raises(ValueError, match="unit"):
        skmultihead.load(_write(tmp_path / "b", meta, three_model))
    # three classes on the 2-class network
    meta = json.loads(json.dumps(binary_meta))
    meta["fitted"]["spec"]["classes"][0] = {"values": ["a", "b", "c"], "dtype": "<U1"}
    with pytest.raises(ValueError, match="classes"):
        skmultihead.load(_write(tmp_path / "c", meta, binary_model))
    # another input width
    meta = json.loads(json.dumps(binary_meta))
    meta["fitted"]["n_features_in_"] = 7
    with pytest.raises(ValueError, match="n_features_in_"):
        skmultihead.load(_write(tmp_path / "d", meta, binary_model))
    # logits said to be probabilities
    meta = json.loads(json.dumps(binary_meta))
    meta["fitted"]["network"]["from_logits"] = False
    with pytest.raises(ValueError, match="from_logits"):
        skmultihead.load(_write(tmp_path / "e", meta, binary_model))


@pytest.mark.parametrize("version", [True, -7, 0, "1", 1.0, None, [2]])
def test_format_versions_that_are_not_versions_are_refused(saved, tmp_path, version):
    meta, model = _parts(saved["binary"][0])
    meta["format_version"] = version
    with pytest.raises(ValueError, match="version"):
        skmultihead.load(_write(tmp_path / "f", meta, model))


def _paths(value, prefix=()):
    """Every place in the metadata: dict keys and list items, down to the leaves."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):  # the first items stand for the rest
            yield from _paths(v, (*prefix, i))


JUNK = [None, True, False, -1, 0, 1.5, 10**30, -1e308, "x", "", [], {}, [[]], [None], {"__tuple__": 5}]


def _mutate(meta, path, junk):
    meta = json.loads(json.dumps(meta))
    if not path:
        return junk
    parent = meta
    for step in path[:-1]:
        parent = parent[step]
    if junk == "<delete>":
        del parent[path[-1]]
    else:
        parent[path[-1]] = junk
    return meta


@pytest.mark.parametrize("name", ["binary", "labels"])
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_any_mutation_loads_identically_or_raises_value_error(saved, tmp_path, name, data):
    path, original = saved[name]
    meta, model = _parts(path)
    places = [p for p in _paths(meta) if p]
    place = data.draw(st.sampled_from(places))
    junk = data.draw(st.sampled_from([*JUNK, "<delete>"]))
    mutated = _mutate(meta, place, junk)
    for recompute in (False, True):
        target = tmp_path / f"m{int(recompute)}"
        _write(target, mutated if isinstance(mutated, dict) else {"x": mutated}, model, recompute=recompute)
        try:
            loaded = skmultihead.load(target)
        except ValueError:
            continue
        if not recompute:  # an edit the checksum does not see must change nothing
            _same(loaded, original, saved["X"])
        else:  # a well-formed file: the untouched network answers as before
            np.testing.assert_array_equal(
                loaded.predict_proba(saved["X"]), original.predict_proba(saved["X"])
            )
            loaded.predict(saved["X"])


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_any_damaged_byte_loads_identically_or_raises_value_error(saved, tmp_path, data):
    path, original = saved["binary"]
    raw = bytearray(path.read_bytes())
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[i]))
    target = tmp_path / "damaged"
    target.write_bytes(bytes(raw))
    try:
        loaded = skmultihead.load(target)
    except ValueError:
        return
    _same(loaded, original, saved["X"])


# ---------------------------------------------------------------------------
# the network's own archive, and paths that are not files
# ---------------------------------------------------------------------------


def _inner(model: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(model)) as zf:
        return {i.filename: zf.read(i.filename) for i in zf.infolist()}


def _pack(members, compression=zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name it writes
        with zipfile.ZipFile(out, "w", compression=compression) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return out.getvalue()


def _declare(archive: bytes, name: str, size: int) -> bytes:
    """The archive with member ``name`` declaring ``size`` bytes once
    uncompressed, in its local header and its directory entry; data unchanged."""
    raw = bytearray(archive)
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        struct.pack_into("<I", raw, zf.getinfo(name).header_offset + 22, size)
    at = raw.find(b"PK\x01\x02")
    while at != -1:
        length = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46 : at + 46 + length] == name.encode():
            struct.pack_into("<I", raw, at + 24, size)
        at = raw.find(b"PK\x01\x02", at + 4)
    return bytes(raw)


def _ints(value, path=()):
    """Where the integers of a config are."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _ints(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _ints(v, (*path, i))
    elif isinstance(value, int) and not isinstance(value, bool):
        yield path


SIZES = [0, 1, -1, 2, 7, 4096, 10**6, 20_000_000, 2**40]
EDITS = st.one_of(
    st.tuples(st.just("int"), st.integers(0, 10**6), st.sampled_from(SIZES)),
    st.tuples(
        st.just("member"),
        st.sampled_from(
            ["assets/x", "assets/a/b.txt", "extra.bin", "../x", "model.weights.npz", "config.json"]
        ),
        st.sampled_from([0, 100, 100_000, (1 << 20) - 1, 3 << 20]),
        st.booleans(),  # zeros, deflated, or random bytes, stored
    ),
    st.tuples(
        st.just("many"),
        st.sampled_from([(2, (1 << 20) - 1), (60, (1 << 20) - 1), (400, 100_000), (1200, 10)]),
    ),
    st.tuples(
        st.just("declare"),
        st.sampled_from(["config.json", "metadata.json", "model.weights.h5"]),
        st.sampled_from([0, 1, 100, 2**31, 2**32 - 1]),
    ),
    st.tuples(st.just("drop"), st.sampled_from(["config.json", "metadata.json", "model.weights.h5"])),
    st.tuples(
        st.just("byte"),
        st.sampled_from(["config.json", "model.weights.h5"]),
        st.floats(0, 1),
        st.integers(0, 255),
    ),
    st.tuples(st.just("pad"), st.sampled_from([1000, 10**6, 4 * 10**6])),  # whitespace in config.json
)


def _edited(model: bytes, edit) -> tuple[bytes, bool]:
    """The network's archive after ``edit``, and whether the network is unchanged."""
    members = list(_inner(model).items())
    kind = edit[0]
    if kind == "int":
        config = json.loads(dict(members)["config.json"])
        places = list(_ints(config))
        *parents, last = places[edit[1] % len(places)]
        node = config
        for step in parents:
            node = node[step]
        node[last] = edit[2]
        members = [(n, json.dumps(config).encode() if n == "config.json" else d) for n, d in members]
        return _pack(members), False
    if kind == "member":
        _, name, size, zeros = edit
        data = bytes(size) if zeros else np.random.RandomState(size).bytes(size)
        compression = zipfile.ZIP_DEFLATED if zeros else zipfile.ZIP_STORED
        return _pack([*members, (name, data)], compression), name.startswith("assets/")
    if kind == "many":
        count, size = edit[1]
        pad = [(f"assets/pad{i}", bytes(size)) for i in range(count)]
        return _pack([*members, *pad], zipfile.ZIP_DEFLATED), True
    if kind == "declare":
        return _declare(_pack(members), edit[1], edit[2]), False
    if kind == "drop":
        return _pack([(n, d) for n, d in members if n != edit[1]]), False
    if kind == "byte":
        _, name, where, value = edit
        out = []
        for n, d in members:
            if n == name:
                d = bytearray(d)
                d[int(where * (len(d) - 1))] = value
                d = bytes(d)
            out.append((n, d))
        return _pack(out), False
    pad = b" " * edit[1]
    return _pack([(n, d + pad if n == "config.json" else d) for n, d in members]), True


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@settings(FUZZ, max_examples=40)
@given(edit=EDITS, max_bytes=st.sampled_from([1 << 30, 10**6]))
def test_any_edit_of_the_network_archive_loads_correctly_or_raises_value_error(
    saved, tmp_path, edit, max_bytes
):
    """Config sizes, members inserted or many, sizes declared, bytes damaged:
    a correct load or a ValueError, at once, with little memory."""
    path, original = saved["binary"]
    meta, model = _parts(path)
    inner, unchanged = _edited(model, edit)
    target = _write(tmp_path / "edited", meta, inner)
    before, start = _peak_rss_mib(), time.monotonic()
    with mock.patch.object(tempfile, "mkdtemp", wraps=tempfile.mkdtemp) as mkdtemp:
        try:
            loaded = skmultihead.load(target, max_bytes=max_bytes)
        except ValueError:
            loaded = None
    assert time.monotonic() - start < 30
    # Only Keras writes, extracting the assets of an archive that passed every check
    assert mkdtemp.call_count == 0 or (
        loaded is not None and any(n.startswith("assets/") for n in _inner(inner))
    )
    if sys.platform.startswith("linux"):
        assert _peak_rss_mib() - before < 256
    if loaded is None:
        return
    proba = loaded.predict_proba(saved["X"])
    assert proba.shape == original.predict_proba(saved["X"]).shape
    if unchanged:
        _same(loaded, original, saved["X"])


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"), reason="POSIX paths")
@settings(FUZZ, max_examples=25)
@given(
    kind=st.sampled_from(["model", "missing", "folder", "fifo", "dev_zero", "dev_null"]),
    links=st.integers(0, 3),
)
def test_any_path_loads_or_is_refused_at_once(saved, tmp_path_factory, kind, links):
    """Through any chain of symlinks: a model file loads; a missing path is a
    FileNotFoundError; a folder, FIFO or device a ValueError before a read."""
    folder = tmp_path_factory.mktemp("paths")
    target = {"model": saved["binary"][0], "missing": folder / "missing", "folder": folder}.get(kind)
    target = target or {"dev_zero": "/dev/zero", "dev_null": "/dev/null"}.get(kind)
    if kind == "fifo":
        target = folder / "fifo"
        os.mkfifo(target)
    path = target
    for i in range(links):
        link = folder / f"link{i}"
        link.symlink_to(path)
        path = link
    try:
        outcome, peak = load_watched(path)
    finally:
        if kind == "fifo":  # let a reader blocked on it go on
            try:
                os.close(os.open(target, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    assert outcome is not None, f"load blocked on a {kind}"
    if kind == "model":
        _same(outcome["value"], saved["binary"][1], saved["X"])
        return
    assert peak < 4 << 20
    assert isinstance(outcome.get("error"), FileNotFoundError if kind == "missing" else ValueError), outcome


# ---------------------------------------------------------------------------
# save
# ---------------------------------------------------------------------------


def test_save_ignores_a_symlink_planted_at_a_predictable_name(saved, tmp_path):
    est = saved["binary"][1]
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "model.skmh"
    for name in (f"model.skmh.tmp{os.getpid()}", f".model.skmh.{os.getpid()}.tmp", "model.skmh.tmp"):
        (tmp_path / name).symlink_to(victim)
    est.save(target)
    assert victim.read_text() == "precious"
    _same(skmultihead.load(target), est, saved["X"])


def test_concurrent_saves_to_one_path_leave_one_loadable_file(saved, tmp_path):
    a, b = saved["binary"][1], saved["three"][1]
    target = tmp_path / "model.skmh"
    errors = []

    def save(est):
        try:
            for _ in range(3):
                est.save(target)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(est,)) for est in (a, b) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    loaded = skmultihead.load(target)
    assert loaded.task_ in ("binary", "multiclass")
    _same(loaded, a if loaded.task_ == "binary" else b, saved["X"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skmh"]


def test_a_failed_save_keeps_the_old_file_and_leaves_nothing_behind(saved, tmp_path, monkeypatch):
    est = saved["binary"][1]
    target = tmp_path / "model.skmh"
    est.save(target)
    before = target.read_bytes()
    real = zipfile.ZipFile.writestr

    def failing(self, name, data, *args, **kwargs):
        if name == "model.keras":
            raise OSError(28, "No space left on device")
        return real(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing)
    with pytest.raises(OSError, match="No space"):
        saved["three"][1].save(target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skmh"]


def test_a_new_file_gets_the_usual_permissions(saved, tmp_path):
    saved["binary"][1].save(tmp_path / "m")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o666 & ~mask
