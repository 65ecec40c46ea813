"""The fit cache cannot change an answer: random sequences of estimators,
parameter changes, fits, partial fits, clones and cache clears give the very
same predictions with the cache on and off."""

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sklearn.base import clone

import skmultihead
from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier

from ._helpers import learnable

X, YB, Y3, YL = learnable(60)
DATA = {
    MultiClassKerasClassifier: [YB, Y3],
    MultiLabelKerasClassifier: [YL],
}

# Parameters a step may set: each changes training, or only how it is read.
PARAMS = st.sampled_from(
    [
        {"threshold": 0.3},
        {"threshold": 0.5},
        {"threshold": "auto"},
        {"epochs": 1},
        {"epochs": 2},
        {"random_state": 0},
        {"random_state": 1},
        {"dropout": 0.0},
        {"dropout": 0.5},
        {"warm_start": True},
        {"warm_start": False},
        {"optimizer": "sgd"},
        {"loss": "auto"},
        {"hidden_layer_sizes": (4,)},
        {"hidden_layer_sizes": (3, 3)},
    ]
)
STEP = st.one_of(
    st.tuples(st.just("fit"), st.integers(0, 1)),
    st.tuples(st.just("partial_fit"), st.integers(0, 1)),
    st.tuples(st.just("set_params"), PARAMS),
    st.tuples(st.just("clone"), st.none()),
    st.tuples(st.just("clear_cache"), st.none()),
    st.tuples(st.just("new"), st.integers(0, 1)),
)
CLASSES = st.sampled_from([MultiClassKerasClassifier, MultiLabelKerasClassifier])


def _run(cls, steps, cache: bool) -> list:
    """Every answer the steps give, in order."""
    answers = []
    with skmultihead.config_context(fit_cache=cache):
        skmultihead.clear_cache()
        base = dict(hidden_layer_sizes=(4,), dropout=0.0, epochs=1, batch_size=16, random_state=0)
        estimators = [cls(**base)]
        for kind, arg in steps:
            est = estimators[-1]
            if kind == "fit" or kind == "partial_fit":
                ys = DATA[cls]
                y = ys[arg % len(ys)]
                try:
                    getattr(est, kind)(X, y)
                except ValueError as exc:  # e.g. partial_fit with other classes: refused alike
                    answers.append(("refused", str(exc)[:60]))
                    continue
                answers.append(est.predict_proba(X[:10]))
                answers.append(est.predict(X[:10]))
            elif kind == "set_params":
                est.set_params(**arg)
            elif kind == "clone":
                estimators.append(clone(est))
            elif kind == "clear_cache":
                skmultihead.clear_cache()
            else:
                estimators.append(cls(**{**base, "random_state": arg}))
    return answers


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cls=CLASSES, steps=st.lists(STEP, min_size=2, max_size=6))
# the sequences where a served network must go on as a trained one would
@example(cls=MultiClassKerasClassifier, steps=[("fit", 1), ("new", 0), ("fit", 1), ("partial_fit", 1)])
@example(
    cls=MultiLabelKerasClassifier,
    steps=[("set_params", {"dropout": 0.5}), ("fit", 0), ("clone", None), ("fit", 0)]
    + [("set_params", {"warm_start": True}), ("fit", 0)],
)
def test_the_cache_never_changes_an_answer(cls, steps):
    with_cache = _run(cls, steps, cache=True)
    without = _run(cls, steps, cache=False)
    assert len(with_cache) == len(without)
    for a, b in zip(with_cache, without):
        if isinstance(a, tuple):
            assert a == b
        else:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
