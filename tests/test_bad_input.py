"""Every bad input a user can give, and the message it gets (before training)."""

import inspect
import os
import re

import keras
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier
from skmultihead._targets import infer_targets

from ._helpers import FAST, learnable, make_X

try:
    import polars as pl
except ImportError:  # optional: its rows run where it is installed
    pl = None


@pytest.fixture(autouse=True)
def no_training(monkeypatch, request):
    """Bad input must be refused before Keras trains anything."""
    if request.node.get_closest_marker("trains"):
        return

    def refuse(*args, **kwargs):
        raise AssertionError("training started on bad input")

    monkeypatch.setattr(keras.Model, "fit", refuse)


X4 = make_X(4)
KERAS_FIT_SIGNATURE = inspect.signature(keras.Model.fit)  # before no_training replaces it
CASES = [
    # (estimator, X, y, fit kwargs, error type, message fragment)
    (
        "nan in X",
        MultiClassKerasClassifier,
        np.array([[np.nan, 1], [1, 2], [3, 4]]),
        [0, 1, 0],
        {},
        ValueError,
        "NaN",
    ),
    (
        "inf in X",
        MultiClassKerasClassifier,
        np.array([[np.inf, 1], [1, 2], [3, 4]]),
        [0, 1, 0],
        {},
        ValueError,
        "infinity",
    ),
    ("nan in y", MultiClassKerasClassifier, X4, [0.0, 1.0, np.nan, 1.0], {}, ValueError, "NaN"),
    (
        "nan in multi-label y, a label with no known entry",
        MultiLabelKerasClassifier,
        X4,
        np.array([[0, np.nan], [1, np.nan], [0, np.nan], [1, np.nan]]),
        {},
        ValueError,
        r"column \[1\] has no known entry",
    ),
    (
        "None in y",
        MultiClassKerasClassifier,
        X4,
        np.array(["a", None, "b", "a"], dtype=object),
        {},
        ValueError,
        "missing value",
    ),
    ("empty X", MultiClassKerasClassifier, np.empty((0, 3)), [], {}, ValueError, "0 sample"),
    ("no features", MultiClassKerasClassifier, np.empty((4, 0)), [0, 1, 0, 1], {}, ValueError, "0 feature"),
    ("one class", MultiClassKerasClassifier, X4, [1, 1, 1, 1], {}, ValueError, "only one class"),
    (
        "length mismatch",
        MultiClassKerasClassifier,
        X4,
        [0, 1, 0],
        {},
        ValueError,
        "inconsistent numbers of samples",
    ),
    ("ragged X", MultiClassKerasClassifier, [[1, 2], [3]], [0, 1], {}, ValueError, "inhomogeneous"),
    (
        "object X of strings",
        MultiClassKerasClassifier,
        np.array([["a", "b"], ["c", "d"]], dtype=object),
        [0, 1],
        {},
        ValueError,
        "convert",
    ),
    ("ragged y", MultiClassKerasClassifier, X4[:2], [[0, 1], [1]], {}, ValueError, "label collections"),
    ("y is None", MultiClassKerasClassifier, X4, None, {}, ValueError, "requires y"),
    ("3-D y", MultiClassKerasClassifier, X4, np.zeros((4, 2, 2)), {}, ValueError, "1-D"),
    (
        "regression y",
        MultiClassKerasClassifier,
        X4,
        [0.1, 2.5, 3.7, -1.2],
        {},
        ValueError,
        "regression target",
    ),
    (
        "regression y, multi-label",
        MultiLabelKerasClassifier,
        X4,
        np.array([[0.1, 2.5], [3.7, -1.2]] * 2),
        {},
        ValueError,
        "regression target",
    ),
    (
        "1-D y, multi-label",
        MultiLabelKerasClassifier,
        X4,
        [0, 1, 0, 1],
        {},
        ValueError,
        "MultiClassKerasClassifier",
    ),
    (
        "several 1s, multiclass",
        MultiClassKerasClassifier,
        X4,
        np.array([[1, 1], [0, 1], [1, 0], [1, 1]]),
        {},
        ValueError,
        "MultiLabelKerasClassifier",
    ),
    (
        "sample_weight length",
        MultiClassKerasClassifier,
        X4,
        [0, 1, 0, 1],
        {"sample_weight": [1, 2]},
        ValueError,
        "sample_weight",
    ),
    (
        "sample_weight 2-D",
        MultiClassKerasClassifier,
        X4,
        [0, 1, 0, 1],
        {"sample_weight": np.ones((4, 2))},
        ValueError,
        r"sample_weight has shape \(4, 2\): per-entry weights are for a 2-D y",
    ),
    (
        "sample_weight negative",
        MultiClassKerasClassifier,
        X4,
        [0, 1, 0, 1],
        {"sample_weight": [1, -1, 1, 1]},
        ValueError,
        "Negative values",
    ),
    (
        "sample_weight all zero",
        MultiClassKerasClassifier,
        X4,
        [0, 1, 0, 1],
        {"sample_weight": [0, 0, 0, 0]},
        ValueError,
        "only zeros were passed in sample_weight",  # scikeras's words
    ),
    (
        "sample_weight NaN",
        MultiClassKerasClassifier,
        X4,
        [0, 1, 0, 1],
        {"sample_weight": [1, np.nan, 1, 1]},
        ValueError,
        "NaN",
    ),
]

MC, ML = MultiClassKerasClassifier, MultiLabelKerasClassifier
NAT = pd.to_datetime(["2020-01-01", None, "2020-01-02", "2020-01-01"])


def _frame(dtype, *columns):
    return pd.DataFrame({f"c{j}": pd.array(c, dtype=dtype) for j, c in enumerate(columns)})


# Missing values, every way they arrive: refused, with where they are and what to do.
MISSING = r"missing value.*row.*1.*drop those rows"
MISSING_Y = [
    ("nan among strings in a list", MC, ["cat", float("nan"), "dog", "cat"]),
    ("None among ints in a list", MC, [0, None, 1, 1]),
    ("nan in a list of lists", MC, [["a", "b"], ["c", float("nan")], ["a", "b"], ["c", "d"]]),
    ("pd.NA in string dtype", MC, pd.Series(["a", pd.NA, "b", "a"], dtype="string")),
    ("NaN in pandas' default str dtype", MC, pd.Series(["a", None, "b", "a"])),
    ("NaN in an object Series", MC, pd.Series(["a", np.nan, "b", "a"], dtype=object)),
    ("NA in nullable Int64", MC, pd.Series([0, None, 1, 1], dtype="Int64")),
    ("NA in nullable Float64", MC, pd.Series([0.0, None, 1.0, 1.0], dtype="Float64")),
    ("NA in nullable boolean", MC, pd.Series([True, None, False, True], dtype="boolean")),
    ("NaN in category", MC, pd.Series(["a", None, "b", "a"], dtype="category")),
    ("NaN in int category", MC, pd.Series([1, None, 2, 1], dtype="category")),
    ("NaT in datetime", MC, pd.Series(NAT)),
    ("NaT in tz-aware datetime", MC, pd.Series(NAT).dt.tz_localize("UTC")),
    ("NaT in timedelta", MC, pd.Series(pd.to_timedelta(["1D", None, "2D", "1D"]))),
    ("NaT in numpy datetime64", MC, np.array(["2020-01-01", "NaT", "2020-01-02", "2020-01-01"], "M8[D]")),
    ("None in label collections", ML, [["a"], ["b", None], ["a"], ["b"]]),
    ("NaN in label collections", ML, [["a"], [float("nan")], ["a"], ["b"]]),
    ("pd.NA in label collections", ML, [["a"], ["b", pd.NA], ["a"], ["b"]]),
    ("None for a whole label collection", ML, [["a"], None, ["a"], ["b"]]),
    ("None in a Series of label lists", ML, pd.Series([["a"], ["b", None], ["a"], ["b"]])),
]
if pl is not None:
    MISSING_Y += [
        ("null in polars strings", MC, pl.Series(["a", None, "b", "a"])),
        ("null in polars ints", MC, pl.Series([0, None, 1, 1])),
        ("null in polars booleans", MC, pl.Series([True, None, False, True])),
        ("null in polars categorical", MC, pl.Series(["a", None, "b", "a"], dtype=pl.Categorical)),
        ("null in polars label lists", ML, pl.Series([["a"], ["b", None], ["a"], ["b"]])),
    ]
CASES += [(f"missing: {n}", cls, X4, y, {}, ValueError, MISSING) for n, cls, y in MISSING_Y]
CASES.append(
    (
        "NaN in sparse multi-label y",
        ML,
        X4,
        sp.csr_matrix(np.array([[0, 1], [1, np.nan], [0, 1], [1, 0]])),
        {},
        ValueError,
        "sparse and stores NaN.*dense",
    )
)

# A 2-D y of one label (or one output) per column: a missing entry is unknown,
# not refused; it is encoded as NaN (a float target) or -1 (a class index).
UNKNOWN_Y = [
    ("None in a 2-D object array", MC, np.array([["a", "x"], [None, "y"], ["b", "x"], ["a", "y"]], object)),
    ("NA in a nullable Int64 frame, multi-output", MC, _frame("Int64", [0, None, 2, 1], [1, 0, 1, 0])),
    ("NA in nullable Int64 multi-label columns", ML, _frame("Int64", [0, None, 1, 1], [1, 0, 1, 0])),
    (
        "NA in nullable boolean multi-label columns",
        ML,
        _frame("boolean", [True, None, False, True], [1, 0, 1, 0]),
    ),
    ("NaN in soft labels", ML, np.array([[0.2, 0.5], [0.1, np.nan], [0.9, 0.3], [0.4, 0.6]])),
    ("NaN in multi-label y", ML, np.array([[0, 1], [1, np.nan], [0, 0], [1, 1]])),
    (
        "None in yes/no columns",
        ML,
        np.array([["yes", "no"], ["no", None], ["yes", "yes"], ["no", "no"]], object),
    ),
]
if pl is not None:
    UNKNOWN_Y.append(("null in a polars frame", ML, pl.DataFrame({"a": [0, None, 1, 1], "b": [1, 0, 1, 0]})))


def _unknown_positions(encoded) -> np.ndarray:
    """(n, k): where the encoded heads hold NaN (float targets) or -1 (class indices)."""
    return np.column_stack(
        [
            np.isnan(e).reshape(len(e), -1) if e.dtype.kind == "f" else (e < 0).reshape(len(e), -1)
            for e in encoded
        ]
    )


@pytest.mark.parametrize("name, cls, y", UNKNOWN_Y, ids=[c[0] for c in UNKNOWN_Y])
def test_missing_entries_of_a_2d_y_are_unknown_where_pandas_sees_them(name, cls, y):
    from skmultihead._targets import missing_mask

    spec = infer_targets(y, cls._estimator_kind)
    encoded = spec.encode(y)
    where = missing_mask(y)
    unknown = _unknown_positions(encoded)
    np.testing.assert_array_equal(unknown, where)
    assert where.any()


# Labels of several types that NumPy would turn into strings or fail to sort.
MIXED_Y = [
    (
        "ints and strings in an object array",
        MC,
        np.array([1, "a", 2, "a"], dtype=object),
        "y mixes.*int, str",
    ),
    ("ints and strings in a list", MC, [1, "a", 2, "a"], "y mixes.*int, str"),
    ("ints and strings in a Series", MC, pd.Series([1, "a", 2, "a"]), "y mixes.*int, str"),
    ("floats and strings in a list", MC, [1.5, "a", 2.5, "a"], "y mixes.*float, str"),
    ("dates and strings", MC, pd.Series([pd.Timestamp("2020"), "a", "b", "a"]), "y mixes.*Timestamp, str"),
    (
        "a column of ints and strings, multi-output",
        MC,
        pd.DataFrame({"a": [1, "x", 2, 1], "b": ["u", "v", "u", "v"]}),
        "Column 0 of y mixes.*int, str",
    ),
    (
        "a column of ints and strings, multi-label",
        ML,
        np.array([[1, "u"], ["x", "v"], [1, "u"], ["x", "v"]], dtype=object),
        "Column 0 of y mixes.*int, str",
    ),
    (
        "ints and strings in label collections",
        ML,
        [["a", 1], ["b"], ["a"], ["b"]],
        "labels in y mix.*int, str",
    ),
]
CASES += [(f"mixed: {n}", cls, X4, y, {}, TypeError, frag) for n, cls, y, frag in MIXED_Y]

# 2-D y whose values are not what the form it looks like needs: the message names them.
CASES += [
    (
        "values not 0/1, one row",
        MC,
        X4[:1],
        np.array([[-1.0, -1.0]]),
        {},
        ValueError,
        r"only one class \(-1.0\).*values \[-1.0\], not only 0s and 1s",
    ),
    (
        "values not 0/1, one class per column",
        MC,
        X4,
        np.array([[-1, 3], [-1, 3], [-1, 3], [-1, 3]]),
        {},
        ValueError,
        r"Column 0 of y has only one class \(-1\).*\[-1, 3\]",
    ),
    (
        "continuous values name their range",
        MC,
        X4,
        np.array([[0.5, 2.5], [1.5, 0.25], [0.5, 2.5], [1.5, 0.25]]),
        {},
        ValueError,
        r"\[0.25, 0.5, 1.5, 2.5\].*regression target",
    ),
    (
        "multi-label values outside [0, 1] named",
        ML,
        X4,
        np.array([[0.5, 2.5], [1.5, -0.25], [0.5, 2.5], [1.5, 0.25]]),
        {},
        ValueError,
        r"\[-0.25, 0.25, 0.5, 1.5, 2.5\].*regression target",
    ),
    (
        "infinity in y",
        MC,
        X4,
        [0.0, np.inf, 1.0, 0.0],
        {},
        ValueError,
        r"infinity, in row \[1\]",
    ),
    (
        "NaT in a datetime column of X",
        MC,
        pd.DataFrame({"when": NAT, "v": [1.0, 2.0, 3.0, 4.0]}),
        [0, 1, 0, 1],
        {},
        ValueError,
        r"Column 'when' of X holds missing dates or times \(NaT\) at rows \[1\]",
    ),
]


@pytest.mark.parametrize("name,cls,X,y,kwargs,error,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_fit_input_is_refused_with_a_clear_message(name, cls, X, y, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        cls(**FAST).fit(X, y, **kwargs)


def test_missing_values_are_refused_when_classes_are_given_up_front():
    # the task is read from `classes`; y itself is checked when it is encoded
    with pytest.raises(ValueError, match="1 missing value.*in row 1"):
        MC(**FAST).partial_fit(X4, ["a", None, "b", "a"], classes=["a", "b"])
    with pytest.raises(ValueError, match="1 missing value.*in row 0"):
        ML(**FAST).partial_fit(X4, [[None], ["b"], ["a"], ["b"]], classes=["a", "b"])


# Keras fit and optimizer arguments that Keras takes silently (fit(epochs=-3)
# "trains" zero epochs). These need _routing.check_fit_kwargs and
# check_optimizer_kwargs called from _base / _fitting; until then they fail.
KERAS_ARGUMENTS = [
    # (constructor params, fit kwargs, error, message fragment)
    ({}, {"epochs": -3}, ValueError, r"fit\(epochs=-3\): epochs must be an int >= 1"),
    ({}, {"epochs": 0}, ValueError, r"fit\(epochs=0\).*initialize\(X, y\)"),
    ({}, {"epochs": 2.5}, ValueError, r"fit\(epochs=2.5\)"),
    ({}, {"epochs": True}, TypeError, r"fit\(epochs=True\)"),
    ({}, {"batch_size": 0}, ValueError, r"fit\(batch_size=0\)"),
    ({}, {"validation_split": 1.5}, ValueError, r"fit\(validation_split=1.5\).*\[0, 1\)"),
    ({}, {"shuffle": "yes"}, TypeError, r"fit\(shuffle='yes'\)"),
    ({}, {"verbose": 7}, ValueError, r"fit\(verbose=7\)"),
    ({}, {"initial_epoch": -1}, ValueError, r"fit\(initial_epoch=-1\)"),
    ({}, {"class_weight": {0: 2.0}}, ValueError, r"fit\(class_weight=.*class_weight parameter"),
    ({}, {"callbacks": []}, ValueError, r"fit\(callbacks=\[\]\).*callbacks parameter"),
    ({}, {"epoch": 3}, TypeError, r"fit\(epoch=3\) is not an argument of keras.Model.fit"),
    ({"fit__epochs": 3}, {}, ValueError, r"fit__epochs=3: the estimator sets epochs itself"),
    ({"fit__batch_size": -1}, {}, ValueError, r"fit__batch_size=-1"),
    ({"fit__validation_freq": 0}, {}, ValueError, r"fit__validation_freq=0"),
    ({"fit__sample_weight": [1, 1, 1, 1]}, {}, ValueError, r"fit__sample_weight=.*sample_weight="),
    ({"validation_split": 2.0}, {}, ValueError, r"^validation_split=2.0: validation_split must be"),
    ({"steps_per_epoch": 0}, {}, ValueError, r"^steps_per_epoch=0"),
    ({"optimizer__learning_rate": -1}, {}, ValueError, r"optimizer__learning_rate=-1: learning_rate must be"),
    ({"optimizer__learning_rate": np.nan}, {}, ValueError, r"optimizer__learning_rate=nan"),
    ({"optimizer__weight_decay": -0.1}, {}, ValueError, r"optimizer__weight_decay=-0.1"),
    ({"optimizer__beta_1": 1.0}, {}, ValueError, r"optimizer__beta_1=1.0"),
    ({"optimizer__epsilon": 0.0}, {}, ValueError, r"optimizer__epsilon=0.0"),
    ({"optimizer__clipnorm": -1.0}, {}, ValueError, r"optimizer__clipnorm=-1.0"),
]


@pytest.mark.parametrize(
    "params,kwargs,error,fragment",
    KERAS_ARGUMENTS,
    ids=[",".join({**p, **k}) for p, k, _, _ in KERAS_ARGUMENTS],
)
def test_bad_keras_arguments_are_refused_before_training(params, kwargs, error, fragment):
    """Needs the wiring of check_fit_kwargs / check_optimizer_kwargs (see _routing)."""
    with pytest.raises(error, match=fragment):
        MC(**{**FAST, **params}).fit(X4, [0, 1, 0, 1], **kwargs)


@pytest.mark.parametrize(
    "kwargs,where,error,fragment",
    [
        ({"epochs": -3}, "fit()", ValueError, r"^fit\(epochs=-3\): epochs must be an int >= 1"),
        ({"epochs": 0}, "fit()", ValueError, r"initialize\(X, y\)"),
        ({"epochs": np.int64(-1)}, "fit()", ValueError, "epochs must be an int >= 1"),
        ({"epochs": True}, "fit()", TypeError, "epochs must be an int"),
        ({"epochs": 3}, "fit__", ValueError, r"^fit__epochs=3: the estimator sets epochs itself"),
        (
            {"batch_size": 0},
            "fit__",
            ValueError,
            r"^fit__batch_size=0: batch_size must be an int >= 1 or None",
        ),
        ({"batch_size": False}, "fit__", TypeError, "batch_size must be"),
        ({"validation_split": 1.0}, "", ValueError, r"^validation_split=1.0: .*\[0, 1\)"),
        ({"validation_split": np.nan}, "", ValueError, "validation_split must be"),
        ({"validation_split": "0.2"}, "", TypeError, "validation_split must be"),
        ({"initial_epoch": -1}, "", ValueError, "initial_epoch must be an int >= 0"),
        ({"steps_per_epoch": 0}, "", ValueError, "steps_per_epoch must be an int >= 1 or None"),
        ({"validation_steps": -2}, "", ValueError, "validation_steps must be"),
        ({"validation_batch_size": 0}, "", ValueError, "validation_batch_size must be"),
        ({"shuffle": 1}, "", ValueError, "shuffle must be True or False"),
        ({"verbose": 3}, "fit()", ValueError, 'verbose must be 0, 1, 2 or "auto"'),
        ({"verbose": "loud"}, "fit()", TypeError, "verbose must be"),
        ({"validation_freq": 0}, "fit__", ValueError, "validation_freq must be"),
        ({"validation_freq": [0, 2]}, "fit__", TypeError, "validation_freq must be"),
        ({"class_weight": {0: 1}}, "fit__", ValueError, "the estimator's class_weight parameter"),
        ({"sample_weight": [1]}, "fit__", ValueError, r"fit\(X, y, sample_weight=\.\.\.\)"),
        ({"callbacks": []}, "fit()", ValueError, "the callbacks parameter"),
        ({"validation_data": ([], [])}, "fit()", ValueError, "validation_fraction"),
        ({"x": 1}, "fit__", ValueError, r"fit\(X, y\)"),
        ({"epoch": 3}, "fit()", TypeError, r"^fit\(epoch=3\) is not an argument of keras.Model.fit"),
    ],
)
def test_check_fit_kwargs_refuses_what_keras_would_take_silently(kwargs, where, error, fragment):
    from skmultihead._routing import check_fit_kwargs

    with pytest.raises(error, match=fragment):
        check_fit_kwargs(kwargs, where)


def test_check_fit_kwargs_accepts_what_keras_takes():
    from skmultihead._routing import check_fit_kwargs

    good = {
        "epochs": 3,
        "batch_size": None,
        "verbose": "auto",
        "validation_split": 0.0,
        "shuffle": np.bool_(False),
        "initial_epoch": 0,
        "steps_per_epoch": np.int64(5),
        "validation_steps": None,
        "validation_batch_size": 64,
        "validation_freq": [1, 3],
    }
    check_fit_kwargs(good, "fit()")
    check_fit_kwargs({k: v for k, v in good.items() if k != "epochs"} | {"verbose": True}, "fit__")
    check_fit_kwargs({}, "")


def test_check_fit_kwargs_knows_every_argument_of_keras_fit():
    from skmultihead._routing import _FIT_ARGS, _SET_BY_ESTIMATOR, KERAS_FIT_ARGS

    keras_args = set(KERAS_FIT_SIGNATURE.parameters) - {"self"}
    assert set(_FIT_ARGS) | set(_SET_BY_ESTIMATOR) == keras_args
    assert KERAS_FIT_ARGS <= set(_FIT_ARGS)  # every constructor extra has its check


@pytest.mark.parametrize(
    "kwargs,error,fragment",
    [
        (
            {"learning_rate": -1},
            ValueError,
            r"^optimizer__learning_rate=-1: learning_rate must be a finite number > 0",
        ),
        ({"learning_rate": 0.0}, ValueError, "optimizer__learning_rate=0.0"),
        ({"learning_rate": np.float32("nan")}, ValueError, "optimizer__learning_rate=np.float32\\(nan\\)"),
        ({"learning_rate": float("inf")}, ValueError, "optimizer__learning_rate=inf"),
        ({"learning_rate": "0.01"}, TypeError, "optimizer__learning_rate='0.01'"),
        ({"learning_rate": True}, TypeError, "optimizer__learning_rate=True"),
        ({"weight_decay": -1e-4}, ValueError, "optimizer__weight_decay=-0.0001: weight_decay must be"),
        ({"beta_1": 1.0}, ValueError, r"optimizer__beta_1=1.0: beta_1 must be a number in \[0, 1\)"),
        ({"beta_2": -0.1}, ValueError, "optimizer__beta_2=-0.1"),
        ({"rho": 1.5}, ValueError, "optimizer__rho=1.5"),
        ({"momentum": -0.5}, ValueError, r"optimizer__momentum=-0.5: .*\[0, 1\]"),
        ({"epsilon": 0}, ValueError, "optimizer__epsilon=0: epsilon must be a finite number > 0"),
        ({"clipnorm": -1.0}, ValueError, "optimizer__clipnorm=-1.0"),
        ({"clipvalue": 0.0}, ValueError, "optimizer__clipvalue=0.0"),
        ({"global_clipnorm": np.inf}, ValueError, "optimizer__global_clipnorm=inf"),
    ],
)
def test_check_optimizer_kwargs_refuses_values_no_optimizer_trains_with(kwargs, error, fragment):
    from skmultihead._routing import check_optimizer_kwargs

    with pytest.raises(error, match=fragment):
        check_optimizer_kwargs(kwargs)


def test_check_optimizer_kwargs_accepts_schedules_callables_and_defaults():
    from skmultihead._routing import check_optimizer_kwargs

    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.9)
    check_optimizer_kwargs({"learning_rate": schedule, "beta_1": 0.0, "weight_decay": None, "amsgrad": True})
    check_optimizer_kwargs(
        {"learning_rate": keras.optimizers.schedules.ExponentialDecay}
    )  # a class, built later
    check_optimizer_kwargs({"learning_rate": lambda: 0.01, "momentum": 1.0, "clipnorm": 1.0, "epsilon": 1e-7})
    check_optimizer_kwargs(
        {"learning_rate": np.float32(0.1), "learning_rate__decay_steps": -1}
    )  # nested: not ours


def test_every_checked_optimizer_argument_is_taken_by_a_keras_optimizer():
    from skmultihead._routing import _OPTIMIZER_ARGS

    taken = set()
    for name in dir(keras.optimizers):
        cls = getattr(keras.optimizers, name)
        if isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer):
            taken |= set(inspect.signature(cls).parameters)
    assert set(_OPTIMIZER_ARGS) <= taken


@pytest.mark.parametrize(
    "params,error,fragment",
    [
        ({"threshold": 1.5}, ValueError, "threshold"),
        ({"threshold": -0.1}, ValueError, "threshold"),
        ({"threshold": "high"}, ValueError, "threshold"),
        ({"threshold": [0.5, np.nan, 0.5]}, ValueError, "threshold"),
        ({"threshold": [0.5, 0.5]}, ValueError, "2 values"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"batch_size": -1}, ValueError, "batch_size"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"validation_fraction": 1.0}, ValueError, "validation_fraction"),
        ({"optimizer": "sgdd"}, ValueError, "optimizer"),
        ({"loss": "crossentropyy"}, ValueError, "loss"),
        ({"epoch": 3}, TypeError, "unexpected parameters"),
        ({"class_weight": {9: 1.0}}, ValueError, "label 9"),
        ({"class_weight": {0: -1.0}}, ValueError, "non-negative"),
        ({"class_weight": {1: np.nan}}, ValueError, "finite"),
        ({"class_weight": {0: np.inf}}, ValueError, "finite"),
        ({"class_weight": {0: "heavy"}}, TypeError, "number"),
        ({"class_weight": {0: 0.0, 1: 0.0, 2: 0.0}}, ValueError, "at least one must be positive"),
    ],
)
def test_bad_parameters_are_refused_before_training(params, error, fragment):
    X, _, _, Y = learnable(30)
    with pytest.raises(error, match=fragment):
        MultiLabelKerasClassifier(**{**FAST, **params}).fit(X, Y)


@pytest.mark.parametrize(
    "class_weight,error,fragment",
    [
        ({0: -1.0}, ValueError, "non-negative"),
        ({1: np.nan}, ValueError, "finite"),
        ({0: 0, 1: 0}, ValueError, "at least one must be positive"),
    ],
)
def test_bad_class_weights_are_refused_like_bad_sample_weights(class_weight, error, fragment):
    X, yb, y3, _ = learnable(30)
    with pytest.raises(error, match=fragment):
        MultiClassKerasClassifier(**FAST, class_weight=class_weight).fit(X, yb)
    with pytest.raises(error, match=fragment):
        MultiClassKerasClassifier(**FAST, class_weight=[class_weight, {}]).fit(X, np.column_stack([yb, y3]))


@pytest.fixture(scope="module")
def fitted_models():
    # module scope: set up before the function-scoped no_training fixture
    X, yb, _, Y = learnable()
    df = pd.DataFrame(X, columns=list("abcde"))
    binary = MultiClassKerasClassifier(**FAST).fit(df, np.where(yb, "yes", "no"))
    multi = MultiLabelKerasClassifier(**FAST).fit(X, Y)
    return df, binary, multi


@pytest.mark.trains
def test_bad_predict_input_is_refused(fitted_models):
    df, binary, multi = fitted_models
    X = df.to_numpy()
    with pytest.raises(ValueError, match="5 features"):
        multi.predict(X[:, :3])
    with pytest.raises(ValueError, match="feature names"):
        binary.predict(df.rename(columns={"a": "x"}))
    with pytest.raises(ValueError, match="NaN"):
        multi.predict(np.where(X > 1, np.nan, X))
    with pytest.raises(ValueError, match="2D array"):
        multi.predict(X[0])
    # an unseen label of the right type is just wrong (a class missing from a fold)
    assert binary.score(df, np.full(len(df), "maybe")) == 0.0
    with pytest.raises(TypeError, match="fitted on strings"):
        binary.score(df, np.arange(len(df)))
    with pytest.raises(TypeError, match="fitted on strings"):
        binary.partial_fit(df, np.arange(len(df)))
    with pytest.raises(ValueError, match="shape"):
        multi.score(X, np.zeros((len(X), 2)))


# ---------------------------------------------------------------------------
# Property-based: inference either round-trips labels exactly or says no.
# ---------------------------------------------------------------------------

SHAPE_2D = st.tuples(st.integers(1, 20), st.integers(1, 5))
MISSING_VALUES = st.sampled_from([None, np.nan, pd.NA, pd.NaT])
SCALARS = st.one_of(
    st.integers(-2, 3), st.sampled_from(["a", "b"]), st.booleans(), st.floats(-2, 2), MISSING_VALUES
)

labels = st.one_of(
    hnp.arrays(np.int64, st.integers(1, 30), elements=st.integers(-3, 3)),
    hnp.arrays(
        np.float64,
        st.integers(1, 30),
        elements=st.one_of(st.floats(-5, 5), st.sampled_from([0.0, 1.0, np.nan, np.inf])),
    ),
    st.lists(st.sampled_from(["a", "b", "c", "dd"]), min_size=1, max_size=30).map(np.array),
    hnp.arrays(np.bool_, st.integers(1, 30)),
    hnp.arrays(np.int64, SHAPE_2D, elements=st.integers(0, 2)),
    hnp.arrays(np.int64, SHAPE_2D, elements=st.integers(-2, 3)),
    hnp.arrays(np.float64, SHAPE_2D, elements=st.floats(-1, 2)),
    hnp.arrays(np.float64, SHAPE_2D, elements=st.sampled_from([0.0, 1.0, -1.0, 2.0, 0.5, np.nan, np.inf])),
    # one-hot rows, and rows that look one-hot but hold other values ([[-1, -1]] was one)
    st.tuples(st.lists(st.integers(0, 3), min_size=1, max_size=20), st.sampled_from([1, -1, 2, 0.5])).map(
        lambda a: np.eye(4)[a[0]] * a[1]
    ),
    st.lists(st.lists(st.sampled_from(["x", "y", "z"]), max_size=3), min_size=1, max_size=20),
    # missing values and mixed types: lists, object arrays, label collections, pandas
    st.lists(SCALARS, min_size=1, max_size=20),
    st.lists(SCALARS, min_size=1, max_size=20).map(lambda v: np.array(v + [None], dtype=object)[:-1]),
    st.lists(
        st.lists(st.one_of(st.sampled_from(["x", "y", "z"]), st.integers(0, 2), MISSING_VALUES), max_size=3),
        min_size=1,
        max_size=20,
    ),
    st.lists(st.one_of(st.sampled_from(["a", "b"]), st.none()), min_size=1, max_size=20).map(
        lambda v: pd.Series(v, dtype="string")
    ),
    st.lists(st.one_of(st.integers(0, 2), st.none()), min_size=1, max_size=20).map(
        lambda v: pd.Series(v, dtype="Int64")
    ),
    hnp.arrays(np.float64, SHAPE_2D, elements=st.sampled_from([0.0, 1.0, np.nan])).map(
        lambda a: pd.DataFrame(a).astype("Int64")
    ),
)


def test_property_tests_are_reproducible_under_ci():
    profile = settings.get_profile("ci")
    assert profile.derandomize and profile.print_blob
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        assert settings.default.derandomize


def _one_label_per_column(y) -> bool:
    """A 2-D array or frame (not label collections): missing entries are read as unknown."""
    if isinstance(y, list):
        return False
    return np.ndim(y) == 2 and not isinstance(y, pd.Series) and np.asarray(y, dtype=object).dtype == object


def _holds_missing(y) -> bool:
    """pandas' own reading of which values are missing (the oracle)."""
    if isinstance(y, list) and all(isinstance(r, list) for r in y):
        values = [v for r in y for v in r]
    else:
        values = np.asarray(y, dtype=object).ravel()
    return any(pd.isna(v) for v in values)


@pytest.mark.filterwarnings("ignore:A column-vector y")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(y=labels, kind=st.sampled_from(["multiclass", "multilabel"]))
def test_inference_round_trips_or_raises_value_or_type_error(y, kind):
    missing = _holds_missing(y)
    try:
        spec = infer_targets(y, kind)
    except (ValueError, TypeError) as exc:
        # one of ours, naming y, never a bare NumPy or pandas error
        assert re.search(r"\by\b", str(exc)), repr(exc)
        if missing and not _one_label_per_column(y):
            # a 1-D y or label collections: the missing value itself is the refusal;
            # a list of equal-length lists of numbers reads as a 2-D y, whose
            # columns must each have a known entry ([[nan]])
            assert isinstance(exc, ValueError) and (
                "missing value" in str(exc) or "no known entry" in str(exc)
            ), repr(exc)
        return
    encoded = spec.encode(y)
    if missing:
        # only a 2-D y of one label or output per column may hold unknown entries: NaN or -1 where missing
        from skmultihead._targets import UNKNOWN_FORMS, missing_mask

        assert spec.form in UNKNOWN_FORMS, "missing values were not refused"
        unknown = _unknown_positions(encoded)
        np.testing.assert_array_equal(unknown, missing_mask(y))
        return
    # Decisions from perfect "probabilities" must give y back exactly.
    outputs = []
    for head, target in zip(spec.heads, encoded):
        if head.kind == "multiclass":
            outputs.append(np.eye(head.units)[target.astype(int)])
        else:
            outputs.append(target.reshape(len(target), -1).astype(float))
    pred = spec.predict(outputs, np.full(spec.n_thresholds, 0.5))
    if spec.form == "collections":
        assert [set(p) for p in pred] == [set(r) for r in y]
    elif spec.form == "soft":
        np.testing.assert_array_equal(pred, (np.asarray(y) >= 0.5).astype(int))
    elif sp.issparse(pred):
        np.testing.assert_array_equal(pred.toarray(), np.asarray(y))
    else:
        # a frame of nullable Int64 columns answers as the int64 matrix it holds
        expected = y.to_numpy("int64") if isinstance(y, pd.DataFrame) else np.asarray(y)
        if expected.ndim == 2 and pred.ndim == 1:
            expected = expected.ravel()
        if spec.form == "onehot":  # one-hot answers are int64, as in MLPClassifier and scikeras
            expected = expected.astype(np.int64)
        np.testing.assert_array_equal(pred, expected)
        assert pred.dtype == expected.dtype
