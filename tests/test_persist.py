"""Pickle, cloudpickle, and the safe save/load format."""

import json
import os
import pickle
import subprocess
import sys
import zipfile

import cloudpickle
import keras
import numpy as np
import pytest

import skmultihead
from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier, _savefile

from ._helpers import FAST, learnable


@pytest.fixture(scope="module")
def fitted():
    X, yb, y3, Y = learnable()
    Ymo = np.column_stack([np.where(yb, "yes", "no"), y3])
    return X, [
        (MultiClassKerasClassifier(**FAST).fit(X, np.where(yb, "spam", "ham")), np.where(yb, "spam", "ham")),
        (MultiClassKerasClassifier(**FAST).fit(X, y3), y3),
        (MultiLabelKerasClassifier(threshold=[0.3, 0.5, 0.7], **FAST).fit(X, Y), Y),
        (MultiClassKerasClassifier(**FAST).fit(X, Ymo), Ymo),
    ]


def _same_answers(a, b, X):
    pa, pb = a.predict_proba(X), b.predict_proba(X)
    for x, y in zip(pa if isinstance(pa, list) else [pa], pb if isinstance(pb, list) else [pb]):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.task_ == b.task_


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_fitted_estimators_pickle_with_identical_answers(fitted, dumps):
    X, models = fitted
    for est, _ in models:
        _same_answers(est, pickle.loads(dumps(est)), X)


def test_pickle_holds_the_network_in_keras_format_and_is_small(fitted):
    X, models = fitted
    est = models[1][0]
    state = est.__getstate__()
    assert "_network_" not in state and "model_" not in state
    assert state["_fitted_"][1][:2] == b"PK"  # a .keras (zip) file
    assert len(pickle.dumps(est)) < 200_000


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_save_and_load_round_trip(fitted, tmp_path, index):
    X, models = fitted
    est, y = models[index]
    path = tmp_path / "model.skmh"
    est.save(path)
    loaded = skmultihead.load(path)
    _same_answers(est, loaded, X)
    assert loaded.get_params()["threshold"] == est.get_params()["threshold"]
    assert loaded.score(X, y) == est.score(X, y)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["model.keras", "skmultihead.json"]
        meta = json.loads(zf.read("skmultihead.json"))
    assert meta["format_version"] == _savefile.FORMAT_VERSION and meta["class"] == type(est).__name__


def test_loaded_estimator_refits(fitted, tmp_path):
    X, models = fitted
    est, y = models[1]
    est.save(tmp_path / "m")
    loaded = skmultihead.load(tmp_path / "m")
    loaded.fit(X, y)
    assert loaded.predict(X).shape == (len(X),)


def test_python_function_params_are_named_not_stored(tmp_path):
    def trunk(meta):
        inp = keras.Input((meta["n_features_in_"],))
        return keras.Model(inp, keras.layers.Dense(4)(inp))

    X, yb, _, _ = learnable()
    est = MultiClassKerasClassifier(trunk, epochs=1, random_state=0).fit(X, yb)
    est.save(tmp_path / "m")
    loaded = skmultihead.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert "trunk" in loaded.model and loaded.model.startswith("<not saved")
    with pytest.raises(ValueError, match="'model' parameter"):
        loaded.fit(X, yb)


def test_keras_objects_in_params_survive(tmp_path):
    X, _, _, Y = learnable()
    est = MultiLabelKerasClassifier(
        loss=keras.losses.BinaryFocalCrossentropy(gamma=3.0), optimizer=keras.optimizers.SGD(0.1), **FAST
    ).fit(X, Y)
    est.save(tmp_path / "m")
    loaded = skmultihead.load(tmp_path / "m")
    assert isinstance(loaded.loss, keras.losses.BinaryFocalCrossentropy) and loaded.loss.gamma == 3.0
    assert isinstance(loaded.optimizer, keras.optimizers.SGD)


def test_lambda_layer_refused_in_safe_mode(tmp_path):
    def trunk(meta):
        inp = keras.Input((meta["n_features_in_"],))
        return keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0)(inp))

    X, yb, _, _ = learnable()
    est = MultiClassKerasClassifier(trunk, epochs=1, random_state=0).fit(X, yb)
    est.save(tmp_path / "m")
    with pytest.raises(ValueError, match="safe_mode=False"):
        skmultihead.load(tmp_path / "m")
    trusted = skmultihead.load(tmp_path / "m", safe_mode=False)
    np.testing.assert_allclose(trusted.predict_proba(X), est.predict_proba(X), rtol=1e-6)


@keras.saving.register_keras_serializable(package="tests")
class Doubling(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def test_registered_custom_layers_load(tmp_path):
    def trunk(meta):
        inp = keras.Input((meta["n_features_in_"],))
        return keras.Model(inp, Doubling()(inp))

    X, yb, _, _ = learnable()
    est = MultiClassKerasClassifier(trunk, epochs=1, random_state=0).fit(X, yb)
    est.save(tmp_path / "m")
    np.testing.assert_array_equal(skmultihead.load(tmp_path / "m").predict_proba(X), est.predict_proba(X))


def test_truncated_foreign_and_newer_files_get_clear_errors(fitted, tmp_path):
    _, models = fitted
    good = tmp_path / "good"
    models[1][0].save(good)
    data = good.read_bytes()
    (tmp_path / "truncated").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a skmultihead model file"):
        skmultihead.load(tmp_path / "truncated")
    (tmp_path / "foreign").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not a skmultihead model file"):
        skmultihead.load(tmp_path / "foreign")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match="lacks"):
        skmultihead.load(tmp_path / "other.zip")
    with zipfile.ZipFile(good) as zf:
        meta = json.loads(zf.read("skmultihead.json"))
        model = zf.read("model.keras")
    meta["format_version"] = 99
    with zipfile.ZipFile(tmp_path / "newer", "w") as zf:
        zf.writestr("skmultihead.json", json.dumps(meta))
        zf.writestr("model.keras", model)
    with pytest.raises(ValueError, match="Upgrade skmultihead"):
        skmultihead.load(tmp_path / "newer")


def test_save_needs_a_fitted_estimator(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MultiClassKerasClassifier().save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


# ---------------------------------------------------------------------------
# Pickles read by tools that trust the estimator's class, not its contents
# ---------------------------------------------------------------------------

_FRESH_PROCESS = r"""
import json, os, pickle, sys
import numpy as np
import joblib
import skops.io

skops_file, pickle_file, joblib_file, marker, trusted, x_file = sys.argv[1:]
X = np.load(x_file)
out = {}
# (a) skops trusts the estimator's class; Keras's safe mode guards the network in it
try:
    skops.io.load(skops_file, trusted=[trusted])
    out["skops"] = "loaded"
except ValueError as exc:
    out["skops"] = "ValueError: " + str(exc)[:300]
out["ran_in_safe_mode"] = os.path.exists(marker)
# (b) the user's own switch: after it, the network's code is trusted and runs
import keras

keras.config.enable_unsafe_deserialization()
with open(pickle_file, "rb") as fh:
    out["pickle"] = pickle.load(fh).predict_proba(X).tolist()
out["joblib"] = joblib.load(joblib_file).predict_proba(X).tolist()
out["skops_unsafe"] = skops.io.load(skops_file, trusted=[trusted]).predict_proba(X).tolist()
out["ran_when_trusted"] = os.path.exists(marker)
print(json.dumps(out))
"""


def test_a_pickled_lambda_network_does_not_run_through_skops(tmp_path):
    """skops.io.load (and mlflow's sklearn flavour through it) runs no code
    of types it does not trust; trusting the estimator's class must not mean
    trusting the network inside it. Keras runs a Lambda layer's function when
    it rebuilds the network from its config (it calls each layer on symbolic
    inputs); its safe mode refuses to rebuild the function at all. The test
    runs in a fresh process, so that no safe-mode switch leaks between tests."""
    import joblib
    import skops.io

    marker = tmp_path / "ran"

    path = str(marker)  # in the Lambda function's closure, which Keras stores with its code

    def trunk(meta):
        inp = keras.Input((meta["n_features_in_"],))
        touch = keras.layers.Lambda(lambda t: (open(path, "a").close(), t)[1])
        return keras.Model(inp, touch(inp))

    X, yb, _, _ = learnable()
    est = MultiClassKerasClassifier(trunk, epochs=1, dropout=0.0, random_state=0).fit(X, yb)
    est.set_params(model=None)  # a Python function is no type skops trusts; the network keeps the Lambda
    files = {name: tmp_path / name for name in ("est.skops", "est.pkl", "est.joblib", "X.npy")}
    skops.io.dump(est, files["est.skops"])
    files["est.pkl"].write_bytes(pickle.dumps(est))
    joblib.dump(est, files["est.joblib"])
    np.save(files["X.npy"], X)
    trusted = skops.io.get_untrusted_types(file=files["est.skops"])
    assert trusted == [f"{type(est).__module__}.{type(est).__name__}"]
    assert marker.exists()  # fitting ran it
    marker.unlink()

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    args = [str(files[n]) for n in ("est.skops", "est.pkl", "est.joblib")]
    args += [str(marker), trusted[0], str(files["X.npy"])]
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["skops"].startswith("ValueError") and "safe_mode" in out["skops"], out["skops"]
    assert out["ran_in_safe_mode"] is False
    assert out["ran_when_trusted"] is True
    expected = est.predict_proba(X)
    for how in ("pickle", "joblib", "skops_unsafe"):
        np.testing.assert_allclose(np.array(out[how]), expected, rtol=1e-6)


def test_skops_round_trips_an_ordinary_estimator(fitted, tmp_path):
    import skops.io

    X, models = fitted
    for est, _ in models:
        skops.io.dump(est, tmp_path / "est.skops")
        trusted = skops.io.get_untrusted_types(file=tmp_path / "est.skops")
        _same_answers(est, skops.io.load(tmp_path / "est.skops", trusted=trusted), X)
