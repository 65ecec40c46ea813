"""The fit cache serves a network only to a fit that would have trained exactly it,
and its memory= folder holds data, never code."""

import functools
import os
import pickle
import textwrap
import types
import warnings
import zipfile

import joblib
import keras
import numpy as np
import pytest

import skmultihead
from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier, _cache, _cachekey, _savefile

from ._helpers import FAST, count_trainings, learnable, make_X

C = MultiClassKerasClassifier


@pytest.fixture
def trainings(monkeypatch):
    return count_trainings(monkeypatch)


def _binary(n=50):
    X = make_X(n, 5)
    return X, (X[:, 0] > 0).astype(int)


def test_partial_fit_is_not_served_a_full_fit_and_back(trainings):
    X, y = _binary()
    full = C(hidden_layer_sizes=(4,), epochs=30, random_state=0).fit(X, y)
    part = C(hidden_layer_sizes=(4,), epochs=30, random_state=0).partial_fit(X, y)
    assert len(full.history_["loss"]) == 30 and len(part.history_["loss"]) == 1
    skmultihead.clear_cache()
    part = C(hidden_layer_sizes=(4,), epochs=30, random_state=0).partial_fit(X, y)
    full = C(hidden_layer_sizes=(4,), epochs=30, random_state=0).fit(X, y)
    assert len(part.history_["loss"]) == 1 and len(full.history_["loss"]) == 30
    assert trainings == [30, 1, 1, 30]


def test_partial_fit_classes_do_not_leak_into_a_later_fit():
    X, y = _binary()
    wide = C(random_state=0, epochs=2).partial_fit(X, y, classes=[0, 1, 2])
    assert list(wide.classes_) == [0, 1, 2] and wide.task_ == "multiclass"
    plain = C(random_state=0, epochs=2).fit(X, y)
    assert list(plain.classes_) == [0, 1] and plain.task_ == "binary"
    other = C(random_state=0, epochs=2).partial_fit(X, y, classes=[0, 1, 3])
    assert list(other.classes_) == [0, 1, 3]


def test_identical_fits_share_one_training(trainings):
    X, y = _binary()
    a = C(**FAST).fit(X, y)
    b = C(**{**FAST, "threshold": 0.3}).fit(X, y)
    assert len(trainings) == 1 and a.model_ is not b.model_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_a_change_to_the_package_source_retrains(trainings, tmp_path, monkeypatch):
    # a memory= folder outlives the code that filled it: an entry made by other
    # code of the same version (a working copy, a patched install) is not served
    X, y = _binary()
    C(**FAST, memory=str(tmp_path)).fit(X, y)
    skmultihead.clear_cache()
    C(**FAST, memory=str(tmp_path)).fit(X, y)
    assert len(trainings) == 1
    skmultihead.clear_cache()
    monkeypatch.setattr(_cachekey, "_source_digest", lambda: "other source")
    C(**FAST, memory=str(tmp_path)).fit(X, y)
    assert len(trainings) == 2


# ---------------------------------------------------------------------------
# By default, only fits decided by data are shared
# ---------------------------------------------------------------------------


@keras.saving.register_keras_serializable("skmh_tests")
class WeightedBCE(keras.losses.Loss):
    """A user's loss whose config leaves out its own argument."""

    def __init__(self, pos_weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.pos_weight = pos_weight

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        per = keras.ops.binary_crossentropy(y_true, y_pred, from_logits=True)
        return per * (1.0 + (self.pos_weight - 1.0) * y_true)


def _smoothed(eps):
    """A decorator that keeps the wrapped loss's name and module (functools.wraps)."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(y_true, y_pred):
            return fn(y_true * (1 - eps) + eps / 2, y_pred)

        return wrapper

    return decorate


def _trunk(meta):
    inp = keras.Input((meta["n_features_in_"],))
    return keras.Model(inp, keras.layers.Dense(4)(inp))


def _replaced_fn():
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    loss.fn = lambda y_true, y_pred, **kw: keras.losses.binary_crossentropy(y_true, y_pred, **kw) * 2.0
    return loss


# (name, parameters of a first fit, of a second fit that must train again)
_USER_CODE = [
    ("a Loss subclass", dict(loss=WeightedBCE(1.0)), dict(loss=WeightedBCE(30.0))),
    (
        "a functools.wraps decorator",
        dict(loss=_smoothed(0.0)(keras.losses.binary_crossentropy)),
        dict(loss=_smoothed(0.9)(keras.losses.binary_crossentropy)),
    ),
    ("a model function", dict(model=_trunk), dict(model=_trunk)),
    ("a Keras loss whose fn was replaced", dict(loss=_replaced_fn()), dict(loss=_replaced_fn())),
    ("a metric function", dict(metrics=[lambda t, p: p]), dict(metrics=[lambda t, p: p])),
    (
        "a RandomState",
        dict(random_state=np.random.RandomState(0)),
        dict(random_state=np.random.RandomState(0)),
    ),
]


@pytest.mark.parametrize("first, second", [c[1:] for c in _USER_CODE], ids=[c[0] for c in _USER_CODE])
def test_a_fit_involving_user_code_trains_by_default(trainings, first, second):
    X, y = _binary()
    a = C(**{**FAST, **first}).fit(X, y)
    b = C(**{**FAST, **second}).fit(X, y)
    assert len(trainings) == 2
    assert a.model_ is not b.model_


def test_a_users_loss_change_is_seen(trainings):
    # the reported case: the second fit must differ from the first
    X, y = _binary()
    a = C(**FAST, loss=WeightedBCE(1.0)).fit(X, y).predict_proba(X)
    b = C(**FAST, loss=WeightedBCE(30.0)).fit(X, y).predict_proba(X)
    assert np.abs(a - b).max() > 1e-3


def test_a_subclass_of_the_estimator_trains_by_default(trainings):
    class Mine(C):
        pass

    X, y = _binary()
    Mine(**FAST).fit(X, y)
    Mine(**FAST).fit(X, y)
    assert len(trainings) == 2


def test_keras_own_objects_with_only_their_config_are_shared(trainings):
    X, y = _binary()
    params = dict(
        loss=keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        optimizer=keras.optimizers.Adam(0.01),
        metrics=[keras.metrics.AUC()],
    )
    a = C(**FAST, **params).fit(X, y)
    b = C(
        **FAST,
        **{
            k: keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(v))
            if not isinstance(v, list)
            else v
            for k, v in params.items()
        },
    ).fit(X, y)
    assert len(trainings) == 1
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    # another config is another fit
    C(**FAST, **{**params, "loss": keras.losses.BinaryCrossentropy(from_logits=True)}).fit(X, y)
    assert len(trainings) == 2


def test_code_mode_shares_user_code_and_sees_what_it_closes_over(trainings):
    X, y = _binary()
    C(**FAST, model=_trunk, fit_cache="code").fit(X, y)
    C(**FAST, model=_trunk, fit_cache="code").fit(X, y)
    assert len(trainings) == 1
    for first, second in ((WeightedBCE(1.0), WeightedBCE(30.0)), (_smoothed(0.0), _smoothed(0.9))):
        if not isinstance(first, keras.losses.Loss):
            first, second = first(keras.losses.binary_crossentropy), second(keras.losses.binary_crossentropy)
        before = len(trainings)
        C(**FAST, loss=first, fit_cache="code").fit(X, y)
        C(**FAST, loss=second, fit_cache="code").fit(X, y)
        C(**FAST, loss=second, fit_cache="code").fit(X, y)
        assert len(trainings) == before + 2


def test_fit_cache_false_always_trains(trainings):
    X, y = _binary()
    C(**FAST, fit_cache=False).fit(X, y)
    C(**FAST, fit_cache=False).fit(X, y)
    assert len(trainings) == 2


def test_every_keras_global_setting_is_part_of_the_key():
    X, y = _binary()
    est = C(**FAST)
    call = ("fit", FAST["epochs"], None, {})
    base = _cachekey.key_for(est, X, y, None, call)
    changes = {
        "epsilon": 1e-3,
        "floatx": "float64",
        "image_data_format": "channels_first",
        "max_epochs": 1,
        "max_steps_per_epoch": 1,
        "dtype_policy": "mixed_float16",
    }
    for name, value in changes.items():
        before = getattr(keras.config, name)()
        getattr(keras.config, f"set_{name}")(value)
        try:
            assert _cachekey.key_for(est, X, y, None, call) != base, name
        finally:
            getattr(keras.config, f"set_{name}")(before)
        assert _cachekey.key_for(est, X, y, None, call) == base


def test_a_name_registered_with_keras_is_not_data():
    @keras.saving.register_keras_serializable("skmh_tests")
    def wobble(x):
        return x

    with pytest.raises(_cachekey.NotData):
        _cachekey.describe({"activation": "wobble"})
    assert _cachekey.describe({"activation": "relu"}) == _cachekey.describe({"activation": "relu"})


@pytest.mark.parametrize("setting, value", [("max_epochs", 1), ("max_steps_per_epoch", 1)])
def test_a_smoke_run_under_a_keras_limit_is_served_to_no_one(trainings, tmp_path, setting, value):
    X, y = _binary(200)
    before = getattr(keras.config, setting)()
    getattr(keras.config, f"set_{setting}")(value)
    try:
        smoke = C(**FAST, memory=str(tmp_path)).fit(X, y)
    finally:
        getattr(keras.config, f"set_{setting}")(before)
    full = C(**FAST, memory=str(tmp_path)).fit(X, y)
    skmultihead.clear_cache()
    from_disk = C(**FAST, memory=str(tmp_path)).fit(X, y)
    assert len(trainings) == 2  # the smoke run was served to nobody; the full one from disk
    assert not np.allclose(smoke.predict_proba(X), full.predict_proba(X))
    np.testing.assert_array_equal(full.predict_proba(X), from_disk.predict_proba(X))


# ---------------------------------------------------------------------------
# A served network goes on exactly as a trained one
# ---------------------------------------------------------------------------

_CONTINUE = dict(hidden_layer_sizes=(8,), dropout=0.5, epochs=3, random_state=0)


def _continued(how, est, X, y):
    if how == "partial_fit":
        est.partial_fit(X, y)
        est.partial_fit(X, y)
    else:
        est.set_params(warm_start=True, epochs=2).fit(X, y)
    return est.predict_proba(X)


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
@pytest.mark.parametrize("where", ["memory", "folder"])
def test_a_served_network_continues_as_the_trained_one(trainings, tmp_path, how, where):
    X, y = _binary()
    memory = str(tmp_path) if where == "folder" else None
    trained = C(**_CONTINUE, memory=memory).fit(X, y)
    if where == "folder":
        skmultihead.clear_cache()
    served = C(**_CONTINUE, memory=memory).fit(X, y)
    assert trainings == [3]
    np.testing.assert_array_equal(_continued(how, trained, X, y), _continued(how, served, X, y))


def _cell(source: str, namespace: dict) -> None:
    """Run source as a notebook cell does: into one shared namespace."""
    exec(textwrap.dedent(source), namespace)


def test_code_mode_model_function_reading_a_changed_global_retrains(trainings):
    X, y = _binary()
    ns = {"__name__": "__main__"}
    _cell(
        """
        import keras
        UNITS = 4
        def trunk(meta):
            inp = keras.Input((meta["n_features_in_"],))
            return keras.Model(inp, keras.layers.Dense(UNITS)(inp))
        """,
        ns,
    )
    first = C(ns["trunk"], epochs=2, random_state=0, fit_cache="code").fit(X, y)
    ns["UNITS"] = 7
    second = C(ns["trunk"], epochs=2, random_state=0, fit_cache="code").fit(X, y)
    assert len(trainings) == 2
    assert first.model_.layers[1].units == 4 and second.model_.layers[1].units == 7


def test_code_mode_model_function_calling_a_redefined_helper_retrains(trainings):
    X, y = _binary()
    ns = {"__name__": "__main__"}
    _cell(
        """
        import keras
        def hidden(x):
            return keras.layers.Dense(3)(x)
        def trunk(meta):
            inp = keras.Input((meta["n_features_in_"],))
            return keras.Model(inp, hidden(inp))
        """,
        ns,
    )
    first = C(ns["trunk"], epochs=2, random_state=0, fit_cache="code").fit(X, y)
    assert first.model_.layers[1].units == 3
    _cell(
        """
        def hidden(x):
            return keras.layers.Dense(6, activation="tanh")(x)
        """,
        ns,
    )
    second = C(ns["trunk"], epochs=2, random_state=0, fit_cache="code").fit(X, y)
    assert len(trainings) == 2 and second.model_.layers[1].units == 6
    third = C(ns["trunk"], epochs=2, random_state=0, fit_cache="code").fit(X, y)  # nothing changed: shared
    assert len(trainings) == 2 and third.model_.layers[1].units == 6


def test_code_mode_functions_of_unknowable_content_are_not_cached(trainings):
    X, y = _binary()
    helpers = types.ModuleType("user_helpers")  # the user's own module, not an installed package
    helpers.units = 3
    ns = {"__name__": "__main__", "helpers": helpers, "keras": keras}
    _cell(
        """
        def trunk(meta):
            inp = keras.Input((meta["n_features_in_"],))
            return keras.Model(inp, keras.layers.Dense(helpers.units)(inp))
        """,
        ns,
    )
    C(ns["trunk"], epochs=2, random_state=0, fit_cache="code").fit(X, y)
    helpers.units = 5
    later = C(ns["trunk"], epochs=2, random_state=0, fit_cache="code").fit(X, y)
    assert len(trainings) == 2 and later.model_.layers[1].units == 5


def test_code_mode_subclass_redefined_with_other_code_retrains(trainings):
    X, y = _binary()
    ns = {"__name__": "__main__", "C": C}
    _cell(
        """
        class Mine(C):
            def _class_weights(self, spec, targets, sample_weight):
                return super()._class_weights(spec, targets, sample_weight)
        """,
        ns,
    )
    ns["Mine"](**FAST, fit_cache="code").fit(X, y)
    _cell(
        """
        class Mine(C):
            def _class_weights(self, spec, targets, sample_weight):
                w, pos = super()._class_weights(spec, targets, None)
                return w, pos
        """,
        ns,
    )
    ns["Mine"](**FAST, fit_cache="code").fit(X, y)
    assert len(trainings) == 2


def test_memory_folder_with_unseeded_fits_trains_every_time(trainings, tmp_path):
    X, y = _binary()
    a = C(**{**FAST, "random_state": None}, memory=str(tmp_path)).fit(X, y)
    b = C(**{**FAST, "random_state": None}, memory=str(tmp_path)).fit(X, y)
    assert len(trainings) == 2
    assert not np.allclose(a.predict_proba(X), b.predict_proba(X))
    assert not list((tmp_path / "skmultihead").glob("*.skmh"))


def test_each_new_objective_function_gets_its_own_thresholds():
    from skmultihead._thresholds import tune_thresholds

    X, _, _, Y = learnable(300)
    est = MultiLabelKerasClassifier(**FAST, threshold="auto").fit(X, Y)
    y_true, proba, weights = est._holdout_
    wrong = 0
    for k in range(30):
        target = (k % 10 + 1) / 11

        def objective(yt, yp, target=target):  # made afresh each time, as in a loop or a notebook cell
            return -abs(yp.mean() - target)

        est.set_params(threshold_objective=objective)
        wrong += not np.array_equal(est.thresholds_, tune_thresholds(y_true, proba, objective, weights))
        del objective
    assert wrong == 0


def test_cache_is_bounded_by_bytes_and_can_be_turned_off_and_emptied(trainings):
    X, y = _binary()
    with skmultihead.config_context(fit_cache_bytes=100):  # smaller than any network
        C(**FAST).fit(X, y)
        assert len(_cache._memory) == 0
        C(**FAST).fit(X, y)
    assert len(trainings) == 2
    C(**FAST).fit(X, y)
    assert len(_cache._memory) == 1
    with skmultihead.config_context(fit_cache=False):
        C(**FAST).fit(X, y)
    assert len(trainings) == 4
    skmultihead.clear_cache()
    assert len(_cache._memory) == 0
    C(**FAST).fit(X, y)
    assert len(trainings) == 5
    with pytest.raises(ValueError, match="non-negative int"):
        skmultihead.set_config(fit_cache_bytes=-1)


def test_a_cached_history_is_a_copy():
    X, y = _binary()
    a = C(**FAST).fit(X, y)
    a.history_["loss"].append(99.0)
    b = C(**FAST).fit(X, y)
    assert len(b.history_["loss"]) == FAST["epochs"]


# ---------------------------------------------------------------------------
# memory= folders
# ---------------------------------------------------------------------------


class _Planted:
    """A pickle that writes a file when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _entry(tmp_path):
    files = list((tmp_path / "skmultihead").glob("*.skmh"))
    assert len(files) == 1
    return files[0]


def test_memory_folder_entries_are_data_and_planted_pickles_never_run(trainings, tmp_path):
    X, y = _binary()
    C(**FAST, memory=str(tmp_path)).fit(X, y)
    entry = _entry(tmp_path)
    with zipfile.ZipFile(entry) as zf:
        assert sorted(zf.namelist()) == ["model.keras", "skmultihead.json"]
    marker = tmp_path / "code-ran"
    # a pickle planted under the entry's own name and under the old .joblib name
    joblib.dump(_Planted(str(marker)), entry)
    entry.with_suffix(".joblib").write_bytes(pickle.dumps(_Planted(str(marker))))
    skmultihead.clear_cache()
    est = C(**FAST, memory=str(tmp_path)).fit(X, y)
    assert not marker.exists()
    assert len(trainings) == 2  # the junk entry was retrained, not read
    assert est.predict_proba(X).shape == (len(X), 2)


def test_junk_and_foreign_entries_retrain_and_say_so(trainings, tmp_path, capsys):
    X, y = _binary()
    C(**FAST, memory=str(tmp_path)).fit(X, y)
    entry = _entry(tmp_path)
    entry.write_bytes(b"junk")
    skmultihead.clear_cache()
    C(**FAST, memory=str(tmp_path), verbose=1).fit(X, y)
    assert "not used" in capsys.readouterr().out
    assert len(trainings) == 2
    # a well-formed entry of another fit, renamed to this fit's key
    X2, y2 = _binary(40)
    skmultihead.clear_cache()
    for f in (tmp_path / "skmultihead").glob("*"):
        f.unlink()
    C(**FAST, memory=str(tmp_path)).fit(X2, y2)
    other = _entry(tmp_path)
    key = _cachekey.key_for(C(**FAST, memory=str(tmp_path)), X, y, None, ("fit", FAST["epochs"], None))
    other.rename(other.with_name(key + ".skmh"))
    skmultihead.clear_cache()
    C(**FAST, memory=str(tmp_path)).fit(X, y)
    assert len(trainings) == 4


def test_an_entry_of_the_right_key_but_another_target_is_not_served(trainings, tmp_path):
    X, y = _binary()
    C(**FAST, memory=str(tmp_path)).fit(X, 1 - y)  # another target, same shapes
    other = _entry(tmp_path)
    key = _cachekey.key_for(C(**FAST, memory=str(tmp_path)), X, y, None, ("fit", FAST["epochs"], None))
    meta, model = _savefile.read_archive(other)
    meta["key"] = key
    meta["fitted"]["spec"]["classes"][0] = {"values": [5, 6], "dtype": "<i8"}
    meta.pop("checksum")
    _savefile.write_archive(other.with_name(key + ".skmh"), meta, model)
    skmultihead.clear_cache()
    est = C(**FAST, memory=str(tmp_path)).fit(X, y)
    assert list(est.classes_) == [0, 1]
    assert len(trainings) == 2


def _plant(tmp_path, folder):
    """A folder holding an entry for the fit below, planted by someone else."""
    X, y = _binary()
    C(**FAST, memory=str(tmp_path / "mine")).fit(X, y)
    (folder / "skmultihead").mkdir(parents=True, exist_ok=True)
    src = _entry(tmp_path / "mine")
    (folder / "skmultihead" / src.name).write_bytes(src.read_bytes())
    skmultihead.clear_cache()
    return X, y


def test_a_folder_others_can_write_is_not_used(trainings, tmp_path):
    shared = tmp_path / "shared"
    X, y = _plant(tmp_path, shared)
    os.chmod(shared, 0o777)
    with pytest.warns(UserWarning, match="may write to it"):
        C(**FAST, memory=str(shared)).fit(X, y)
    assert len(trainings) == 2  # the planted entry was not read
    skmultihead.clear_cache()
    os.chmod(shared, 0o700)
    os.chmod(shared / "skmultihead", 0o777)
    with pytest.warns(UserWarning, match="may write to it"):
        C(**FAST, memory=str(shared)).fit(X, y)
    assert len(trainings) == 3


def test_a_folder_inside_a_parent_others_can_write_is_not_used(trainings, tmp_path):
    # whoever can write the parent can swap the folder between the check and the read
    parent = tmp_path / "open"
    X, y = _plant(tmp_path, parent / "cache")
    os.chmod(parent, 0o777)
    with pytest.warns(UserWarning, match="unsafe"):
        C(**FAST, memory=str(parent / "cache")).fit(X, y)
    assert len(trainings) == 2
    skmultihead.clear_cache()
    os.chmod(parent, 0o777 | 0o1000)  # the sticky bit, as /tmp: no one renames another's files
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        C(**FAST, memory=str(parent / "cache")).fit(X, y)
    assert len(trainings) == 2  # the entry in a safe path is served


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_folder_of_another_user_is_not_used(trainings, tmp_path):
    theirs = tmp_path / "theirs"
    X, y = _plant(tmp_path, theirs)
    os.chown(theirs, 4242, 4242)
    with pytest.warns(UserWarning, match="another user"):
        C(**FAST, memory=str(theirs)).fit(X, y)
    assert len(trainings) == 2


def test_a_read_only_folder_never_fails_a_fit(trainings, tmp_path, monkeypatch):
    X, y = _binary()
    C(**FAST, memory=str(tmp_path)).fit(X, y)
    skmultihead.clear_cache()
    real_open, real_mkstemp = os.open, _savefile.tempfile.mkstemp

    def read_only_open(path, flags, *args, **kwargs):
        if str(path).startswith(str(tmp_path)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    def read_only_mkstemp(*args, dir=None, **kwargs):
        if str(dir).startswith(str(tmp_path)):
            raise PermissionError(13, "Permission denied", dir)
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    monkeypatch.setattr(_savefile.tempfile, "mkstemp", read_only_mkstemp)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read = C(**FAST, memory=str(tmp_path)).fit(X, y)  # the entry is there to be read
        assert len(trainings) == 1
        skmultihead.clear_cache()
        trained = C(**{**FAST, "epochs": 2}, memory=str(tmp_path)).fit(X, y)  # none to read: trains
    assert len(trainings) == 2
    assert read.predict(X).shape == trained.predict(X).shape == (len(X),)
