"""skmultihead.load trusts nothing in the file; save never loses or corrupts a file."""

import io
import json
import os
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import skmultihead
from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier, _savefile

from ._helpers import FAST, learnable


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
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
