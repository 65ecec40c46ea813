"""What one ``load`` may build, unpack, write and read is bounded, whatever the file says.

- no network is built beyond what the file's own weights back, and Keras
  objects among the parameters (which have no stored weights) only a little;
- every member of the file and of the network's archive, and every weight
  array, counts against one ``max_bytes``; members are few; nothing is
  written to a temporary folder;
- only regular files are read;
- restored parameters pass the checks of their destination, classes are
  sorted as fit gives them, and ``memory`` is never taken from a file.
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import tracemalloc
import zipfile

import h5py
import keras
import numpy as np
import pytest

import skmultihead
from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier, _cache, _savefile

from ._helpers import learnable, load_watched, outcome_within

TINY = dict(hidden_layer_sizes=(4,), epochs=1, dropout=0.0, batch_size=32, random_state=0)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("limits")
    X, yb, y3, _ = learnable()
    out = {"X": X, "y": yb, "folder": folder}
    labels = [["a"] if v else ["b", "c"] for v in yb]
    columns = np.column_stack([np.where(yb, "yes", "no"), y3])
    for name, est, y in (
        ("binary", MultiClassKerasClassifier(**TINY), yb),
        ("columns", MultiClassKerasClassifier(**TINY), columns),
        ("collections", MultiLabelKerasClassifier(**TINY), labels),
    ):
        est.fit(X, y)
        est.save(folder / name)
        out[name] = (folder / name, est, y)
    return out


def _parts(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("skmultihead.json")), zf.read("model.keras")


def _members(model: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(model)) as zf:
        return {i.filename: zf.read(i.filename) for i in zf.infolist()}


def _pack(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def _write(path, meta, model):
    """A file as an attacker writes it: a valid checksum over anything."""
    meta = {**meta, "checksum": _savefile.checksum(meta, model)}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("skmultihead.json", json.dumps(meta))
        zf.writestr("model.keras", model)
    return str(path)


def _with_config(model: bytes, edit) -> bytes:
    members = _members(model)
    config = json.loads(members["config.json"])
    edit(config)
    return _pack({**members, "config.json": json.dumps(config).encode()})


def _widen(n):
    """A network of 3 or 5 inputs and 4 hidden units (the binary network, the
    template) with n of each: shapes that agree, weights the file does not hold."""

    def edit(config):
        stack = [config]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if item.get("class_name") == "Dense" and item["config"].get("units") == 4:
                    item["config"]["units"] = n
                stack.extend(item.values())
            elif isinstance(item, list):
                if item in ([None, 3], [None, 4], [None, 5]):
                    item[1] = n
                stack.extend(item)

    return edit


def _keras_param(obj, edit=None) -> dict:
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))  # as a file holds it
    if edit is not None:
        edit(config)
    return {"__keras__": config}


def _set_units(n, layer="Dense"):
    def edit(config):
        for item in config["config"]["layers"]:
            if item["class_name"] == layer:
                item["config"]["units"] = n

    return edit


def _template():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])


def _same(a, b, X):
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


# ---------------------------------------------------------------------------
# 1. No network beyond what the file's weights back
# ---------------------------------------------------------------------------

_MEASURE = r"""
import json, resource, sys
import skmultihead
spec = json.loads(sys.argv[1])
skmultihead.load(spec["warm"])  # Keras's own first-use allocations are not the file's
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
outcomes = []
for path, kwargs in spec["files"]:
    try:
        skmultihead.load(path, **kwargs)
        outcomes.append("loaded")
    except ValueError as exc:
        outcomes.append("ValueError: " + str(exc)[:400])
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"outcomes": outcomes, "grown_mib": grown / 1024}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in KiB on Linux")
def test_configs_that_would_allocate_far_more_than_the_file_are_refused_unbuilt(saved, tmp_path):
    """A few KB of config once allocated gigabytes before a check said no.
    Measured in a fresh process, whose peak memory tells."""
    meta, model = _parts(saved["binary"][0])
    wide = lambda n: _write(tmp_path / f"wide{n}", meta, _with_config(model, _widen(n)))  # noqa: E731

    def with_param(name, key, value):
        return _write(tmp_path / name, {**meta, "params": {**meta["params"], key: value}}, model)

    auc = keras.metrics.AUC(num_thresholds=10)
    adam = _keras_param(keras.optimizers.Adam(0.01))["__keras__"]
    adam["config"]["learning_rate"] = _keras_param(_template(), _set_units(20_000_000))["__keras__"]
    files = [
        (wide(20_000_000), {"max_bytes": 10**6}),  # 20M hidden units: 400 MB of weights
        (wide(10_000), {}),  # each size small, a 400 MB kernel in all
        (with_param("model", "model", _keras_param(_template(), _set_units(20_000_000))), {}),
        (with_param("model3000", "model", _keras_param(_template(), _widen(3000))), {}),
        (with_param("optimizer", "optimizer", {"__keras__": adam}), {}),
        (
            with_param(
                "auc", "metrics", _keras_param(auc, lambda c: c["config"].update(num_thresholds=10**7))
            ),
            {},
        ),
    ]
    for path, _ in files:
        assert os.path.getsize(path) < 16 << 10
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    spec = json.dumps({"warm": str(saved["binary"][0]), "files": files})
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, spec], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(o.startswith("ValueError") for o in result["outcomes"]), result["outcomes"]
    assert "weights do not back" in result["outcomes"][0] and "weights do not back" in result["outcomes"][1]
    assert all("max_bytes" in o for o in result["outcomes"][2:]), result["outcomes"]
    assert result["grown_mib"] < 150, result


def test_variables_beyond_the_stored_weights_are_refused(saved, tmp_path):
    meta, model = _parts(saved["binary"][0])
    # 200,000 inputs and hidden units: no size is large, the kernel is 200,000 x 200,000
    path = _write(tmp_path / "f", meta, _with_config(model, _widen(200_000)))
    with pytest.raises(ValueError, match="weights do not back"):
        skmultihead.load(path)
    # raising max_bytes does not help: the file holds no such weights
    with pytest.raises(ValueError, match="weights do not back"):
        skmultihead.load(path, max_bytes=1 << 40)


def test_a_pickled_network_is_bounded_by_its_own_weights(saved):
    """Unpickling reads the network with no max_bytes worth the name; the
    network still cannot outgrow the weights the pickle carries."""
    _, model = _parts(saved["binary"][0])
    wide = _with_config(model, _widen(200_000))
    with pytest.raises(ValueError, match="weights do not back"):
        _savefile.model_from_bytes(wide, limits=_savefile.Limits(max_bytes=2**62))
    state = saved["binary"][1].__getstate__()
    meta, _ = state["_fitted_"]
    clone = MultiClassKerasClassifier.__new__(MultiClassKerasClassifier)
    with pytest.raises(ValueError, match="weights do not back"):
        clone.__setstate__({**state, "_fitted_": (meta, wide)})


def test_keras_objects_among_the_parameters_are_bounded(saved, tmp_path):
    meta, model = _parts(saved["binary"][0])

    def path_with(name, key, value):
        return _write(tmp_path / name, {**meta, "params": {**meta["params"], key: value}}, model)

    big = path_with("big", "model", _keras_param(_template(), _widen(3000)))  # 36 MB of fresh weights
    with pytest.raises(ValueError, match=r"max_bytes/64"):
        skmultihead.load(big)
    # a trusted file: enough max_bytes, and the template loads
    loaded = skmultihead.load(big, max_bytes=64 * (40 << 20))
    assert isinstance(loaded.model, keras.Model) and loaded.model.layers[-1].units == 3000
    del loaded
    # an optimizer cannot smuggle a network in as its learning rate
    adam = _keras_param(keras.optimizers.Adam(0.01))["__keras__"]
    adam["config"]["learning_rate"] = _keras_param(_template(), _widen(3000))["__keras__"]
    with pytest.raises(ValueError, match=r"max_bytes/64"):
        skmultihead.load(path_with("opt", "optimizer", {"__keras__": adam}))
    # a metric's sizes are sizes too
    auc = _keras_param(
        keras.metrics.AUC(num_thresholds=10), lambda c: c["config"].update(num_thresholds=10**7)
    )
    with pytest.raises(ValueError, match=r"max_bytes/64"):
        skmultihead.load(path_with("auc", "metrics", auc))


def test_a_small_keras_model_parameter_round_trips_and_refits(tmp_path):
    X, yb, _, _ = learnable()
    template = keras.Sequential([keras.Input((X.shape[1],)), keras.layers.Dense(4, activation="relu")])
    est = MultiClassKerasClassifier(template, **{k: v for k, v in TINY.items() if k != "hidden_layer_sizes"})
    est.fit(X, yb)
    est.save(tmp_path / "m")
    loaded = skmultihead.load(tmp_path / "m")
    as_file = lambda m: json.loads(json.dumps(m.get_config()))  # noqa: E731 (tuples as lists)
    assert isinstance(loaded.model, keras.Model) and as_file(loaded.model) == as_file(template)
    _same(loaded, est, X)
    loaded.fit(X, yb)
    assert loaded.predict(X).shape == (len(X),)


def test_networks_with_batch_normalization_dropout_and_sparse_inputs_still_load(tmp_path):
    """Variables the format leaves out (dropout's seed generators) and those
    it stores (batch normalization's statistics) are within the bound."""
    import scipy.sparse as sp

    X, yb, _, Y = learnable()
    params = {**TINY, "dropout": 0.2, "batch_normalization": True, "hidden_layer_sizes": (8, 4)}
    for est, x, y in (
        (MultiClassKerasClassifier(**params), X, yb),
        (MultiLabelKerasClassifier(**params), sp.csr_matrix(np.where(X > 0.5, X, 0)), Y),
    ):
        est.fit(x, y)
        est.save(tmp_path / "m")
        _same(skmultihead.load(tmp_path / "m"), est, x)
        import pickle

        _same(pickle.loads(pickle.dumps(est)), est, x)


# ---------------------------------------------------------------------------
# 2. One budget for everything a load unpacks; few members; no temporary files
# ---------------------------------------------------------------------------


@pytest.fixture
def no_temporary_files(monkeypatch):
    """Records every temporary folder or file made while a test runs."""
    made = []
    for name in ("mkdtemp", "mkstemp"):
        real = getattr(tempfile, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            made.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(tempfile, name, spy)
    return made


def test_a_load_writes_no_temporary_file(saved, no_temporary_files):
    path, est, _ = saved["binary"]
    _same(skmultihead.load(path), est, saved["X"])
    assert no_temporary_files == []


def test_many_small_members_are_one_bomb(saved, tmp_path, no_temporary_files):
    """400 members just under 1 MiB of zeros each: 400 MiB in a file of a
    few KB, which was once extracted to a temporary folder."""
    meta, model = _parts(saved["binary"][0])
    pad = {f"assets/pad{i}": bytes((1 << 20) - 1) for i in range(400)}
    path = _write(tmp_path / "f", meta, _pack({**_members(model), **pad}, zipfile.ZIP_DEFLATED))
    assert os.path.getsize(path) < 64 << 10
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="members together expands"):
            skmultihead.load(path)
        # were they not a bomb, they would still be within one max_bytes
        with pytest.raises(ValueError, match="max_bytes"):
            skmultihead.load(path, max_ratio=1e9, max_bytes=100 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    assert no_temporary_files == []


def test_all_members_and_weights_share_one_budget(saved, tmp_path):
    path, est, _ = saved["binary"]
    meta, model = _parts(path)
    largest = max(len(model), *map(len, _members(model).values()), len(json.dumps(meta)))
    # each member fits alone; together they do not
    with pytest.raises(ValueError, match="max_bytes"):
        skmultihead.load(path, max_bytes=largest + 1)
    _same(skmultihead.load(path, max_bytes=10 * largest), est, saved["X"])


@pytest.mark.parametrize(
    "count, name_length, message",
    [(1001, 8, r"holds 1,004 members \(limit 1,000\)"), (2000, 600, "directory of .* too many members")],
)
def test_too_many_members_are_refused_before_they_are_listed(saved, tmp_path, count, name_length, message):
    """Counted, and before zipfile lists them (an object each) by the size of
    the archive's directory."""
    meta, model = _parts(saved["binary"][0])
    pad = {f"assets/{i:0{name_length}d}": b"" for i in range(count)}
    path = _write(tmp_path / "f", meta, _pack({**_members(model), **pad}))
    with pytest.raises(ValueError, match=message):
        skmultihead.load(path)


@pytest.mark.parametrize(
    "name", ["../evil.py", "/etc/cron.d/x", "assets/../../x", "model.weights.npz", "run.py", "assets\\..\\x"]
)
def test_members_keras_does_not_write_are_refused(saved, tmp_path, name):
    meta, model = _parts(saved["binary"][0])
    inner = _pack({**_members(model), name: b"x"})
    with pytest.raises(ValueError, match="unexpected members"):
        skmultihead.load(_write(tmp_path / "f", meta, inner))


def test_weight_arrays_declared_but_not_stored_are_refused(saved, tmp_path):
    """300 arrays just under 1 MiB each, with no data behind them (HDF5 fills
    unwritten chunks): 300 MiB declared in a few KB."""
    meta, model = _parts(saved["binary"][0])
    members = _members(model)
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "a") as f:
        for i in range(300):
            f.create_dataset(f"padding/p{i}", shape=((1 << 18) - 1,), dtype="f4", chunks=(1 << 16,))
    path = _write(tmp_path / "f", meta, _pack({**members, "model.weights.h5": buffer.getvalue()}))
    with pytest.raises(ValueError, match="weight arrays together expands"):
        skmultihead.load(path)


# ---------------------------------------------------------------------------
# 3. Only regular files
# ---------------------------------------------------------------------------


def _unblock(fifo):
    """Open the FIFO's other end, so that a reader blocked on it goes on."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


@pytest.fixture
def fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = str(tmp_path / "fifo")
    os.mkfifo(path)
    yield path
    _unblock(path)


def test_a_fifo_is_refused_at_once(fifo):
    outcome = outcome_within(10, lambda: skmultihead.load(fifo))
    assert outcome is not None, "load blocked on a FIFO"
    assert isinstance(outcome.get("error"), ValueError) and "FIFO" in str(outcome["error"])


def test_a_path_swapped_for_a_fifo_after_the_check_is_refused(fifo, saved, monkeypatch):
    """The file type is checked again on what was opened, and the open
    does not block: a FIFO swapped in after the first check is refused."""
    real_stat, regular = os.stat, os.stat(saved["binary"][0])
    monkeypatch.setattr(
        os, "stat", lambda p, *a, **k: regular if os.fspath(p) == fifo else real_stat(p, *a, **k)
    )
    outcome = outcome_within(10, lambda: skmultihead.load(fifo))
    monkeypatch.undo()
    assert outcome is not None, "load blocked on a FIFO"
    assert isinstance(outcome.get("error"), ValueError) and "FIFO" in str(outcome["error"])


@pytest.mark.parametrize("kind", ["folder", "dev_zero", "link_to_dev_zero", "link_to_folder"])
def test_folders_and_devices_are_refused_before_they_are_read(tmp_path, kind):
    if kind.endswith("dev_zero") and not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    path = {"folder": tmp_path, "dev_zero": "/dev/zero"}.get(kind)
    if path is None:
        path = tmp_path / "link"
        path.symlink_to("/dev/zero" if kind == "link_to_dev_zero" else tmp_path)
    outcome, peak = load_watched(path)
    assert outcome is not None
    assert isinstance(outcome.get("error"), ValueError) and "not a regular file" in str(outcome["error"])
    assert peak < 4 << 20


def test_a_symlink_to_a_model_file_loads_and_a_dangling_one_is_missing(saved, tmp_path):
    path, est, _ = saved["binary"]
    (tmp_path / "link").symlink_to(path)
    _same(skmultihead.load(tmp_path / "link"), est, saved["X"])
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError):
        skmultihead.load(tmp_path / "dangling")


def test_a_fit_cache_entry_that_is_not_a_file_is_not_read(tmp_path):
    key = "0" * 64
    entry = _cache._entry_path(str(tmp_path), key)
    os.mkfifo(entry)
    try:
        outcome = outcome_within(10, lambda: _cache._read_entry(str(tmp_path), key, 5, 0))
    finally:
        _unblock(entry)
    assert outcome == {"value": None}


# ---------------------------------------------------------------------------
# 4. Restored parameters and classes pass the checks their use would apply
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value",
    [
        ("predict__batch_size", "x"),
        ("predict__batch_size", 0),
        ("predict__batch_size", 2.5),
        ("fit__batch_size", -1),
        ("fit__validation_split", 2.0),
        ("fit__shuffle", "yes"),
        ("fit__verbose", 7),
        ("fit__steps_per_epoch", 0),
        ("fit__epochs", 3),  # the estimator passes epochs itself
        ("fit__x", 3),
        ("fit__class_weight", None),  # the estimator's class_weight parameter
        ("fit__no_such_argument", 1),
        ("shuffle", "x"),  # a keras.Model.fit argument given to the constructor
        ("steps_per_execution", 0),  # a compile argument
    ],
)
def test_routed_parameters_are_checked_as_their_destination_would(saved, tmp_path, key, value):
    meta, model = _parts(saved["binary"][0])
    path = _write(tmp_path / "f", {**meta, "params": {**meta["params"], key: value}}, model)
    with pytest.raises(ValueError, match=key):
        skmultihead.load(path)


def test_routed_parameters_of_the_right_kind_load(saved, tmp_path):
    path, est, y = saved["binary"]
    meta, model = _parts(path)
    good = {
        "predict__batch_size": 8,
        "fit__validation_split": 0.2,
        "fit__verbose": 0,
        "fit__validation_freq": [1, 2],
        "score__anything": "goes to the scorer",
        "shuffle": False,
        "steps_per_execution": 2,
    }
    loaded = skmultihead.load(_write(tmp_path / "f", {**meta, "params": {**meta["params"], **good}}, model))
    assert {k: loaded.get_params()[k] for k in good} == good
    np.testing.assert_allclose(loaded.predict_proba(saved["X"]), est.predict_proba(saved["X"]), rtol=1e-6)


def test_keras_fit_arguments_given_to_the_constructor_round_trip(tmp_path):
    X, yb, _, _ = learnable()
    est = MultiClassKerasClassifier(**TINY, shuffle=False).fit(X, yb)
    est.save(tmp_path / "m")
    loaded = skmultihead.load(tmp_path / "m")
    assert loaded.get_params()["shuffle"] is False
    _same(loaded, est, X)


@pytest.mark.parametrize("name, column", [("binary", 0), ("columns", 0), ("columns", 1), ("collections", 0)])
def test_classes_out_of_order_are_refused(saved, tmp_path, name, column):
    path, est, y = saved[name]
    meta, model = _parts(path)
    meta = json.loads(json.dumps(meta))
    classes = meta["fitted"]["spec"]["classes"][column]
    classes["values"] = classes["values"][::-1]
    with pytest.raises(ValueError, match="sorted"):
        skmultihead.load(_write(tmp_path / "f", meta, model))
    # the file as written loads, and a continued fit takes its own classes
    loaded = skmultihead.load(path)
    loaded.partial_fit(saved["X"], y)
    assert len(loaded.predict(saved["X"])) == len(saved["X"])


def test_duplicate_classes_of_another_type_are_refused(saved, tmp_path):
    meta, model = _parts(saved["binary"][0])
    meta = json.loads(json.dumps(meta))
    meta["fitted"]["spec"]["classes"][0] = {"values": [1, 1.0], "dtype": "O"}
    with pytest.raises(ValueError, match="classes"):
        skmultihead.load(_write(tmp_path / "f", meta, model))


def test_a_file_does_not_choose_where_the_next_fit_writes(saved, tmp_path):
    meta, model = _parts(saved["binary"][0])
    planted = tmp_path / "planted"
    path = _write(tmp_path / "f", {**meta, "params": {**meta["params"], "memory": str(planted)}}, model)
    loaded = skmultihead.load(path)
    assert loaded.memory is None
    loaded.fit(saved["X"], saved["y"])
    assert not planted.exists()
