"""Every bad input a user can give, and the message it gets (before training)."""

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


@pytest.fixture(autouse=True)
def no_training(monkeypatch, request):
    """Bad input must be refused before Keras trains anything."""
    if request.node.get_closest_marker("trains"):
        return

    def refuse(*args, **kwargs):
        raise AssertionError("training started on bad input")

    monkeypatch.setattr(keras.Model, "fit", refuse)


X4 = make_X(4)
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
        "nan in multi-label y",
        MultiLabelKerasClassifier,
        X4,
        np.array([[0, 1], [1, np.nan], [0, 0], [1, 1]]),
        {},
        ValueError,
        "NaN",
    ),
    (
        "None in y",
        MultiClassKerasClassifier,
        X4,
        np.array(["a", None, "b", "a"], dtype=object),
        {},
        ValueError,
        "missing labels",
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
        "1D array or scalar",
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


@pytest.mark.parametrize("name,cls,X,y,kwargs,error,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_fit_input_is_refused_with_a_clear_message(name, cls, X, y, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        cls(**FAST).fit(X, y, **kwargs)


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

labels = st.one_of(
    hnp.arrays(np.int64, st.integers(1, 30), elements=st.integers(-3, 3)),
    hnp.arrays(
        np.float64,
        st.integers(1, 30),
        elements=st.one_of(st.floats(-5, 5), st.sampled_from([0.0, 1.0, np.nan, np.inf])),
    ),
    st.lists(st.sampled_from(["a", "b", "c", "dd"]), min_size=1, max_size=30).map(np.array),
    hnp.arrays(np.bool_, st.integers(1, 30)),
    hnp.arrays(np.int64, st.tuples(st.integers(1, 20), st.integers(1, 5)), elements=st.integers(0, 2)),
    hnp.arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(1, 5)), elements=st.floats(-1, 2)),
    st.lists(st.lists(st.sampled_from(["x", "y", "z"]), max_size=3), min_size=1, max_size=20),
)


@pytest.mark.filterwarnings("ignore:A column-vector y")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(y=labels, kind=st.sampled_from(["multiclass", "multilabel"]))
def test_inference_round_trips_or_raises_value_or_type_error(y, kind):
    try:
        spec = infer_targets(y, kind)
    except (ValueError, TypeError):
        return
    encoded = spec.encode(y)
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
        expected = np.asarray(y)
        if expected.ndim == 2 and pred.ndim == 1:
            expected = expected.ravel()
        np.testing.assert_array_equal(pred, expected)
        assert pred.dtype == expected.dtype
