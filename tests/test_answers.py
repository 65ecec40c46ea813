"""predict, predict_proba, score and the post-fit threshold."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier

from ._helpers import FAST, learnable


def test_binary_threshold_decides_on_positive_probability():
    X, yb, _, _ = learnable()
    clf = MultiClassKerasClassifier(**FAST).fit(X, yb)
    p = clf.predict_proba(X)[:, 1]
    for t in (0.0, 0.3, float(np.median(p)), 1.0):
        clf.set_params(threshold=t)
        np.testing.assert_array_equal(clf.predict(X), (p >= t).astype(int))
        np.testing.assert_array_equal(clf.thresholds_, [t])


def test_changing_threshold_after_fit_does_not_touch_the_network():
    X, _, _, Y = learnable()
    clf = MultiLabelKerasClassifier(**FAST).fit(X, Y)
    weights = [w.copy() for w in clf.model_.get_weights()]
    proba = clf.predict_proba(X)
    clf.set_params(threshold=[0.2, 0.5, 0.8])
    np.testing.assert_array_equal(clf.predict(X), (proba >= [0.2, 0.5, 0.8]).astype(int))
    for a, b in zip(weights, clf.model_.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_per_label_threshold_length_is_checked():
    X, _, _, Y = learnable()
    clf = MultiLabelKerasClassifier(**FAST).fit(X, Y)
    clf.set_params(threshold=[0.5, 0.5])
    with pytest.raises(ValueError, match="2 values but the estimator has 3"):
        clf.predict(X)
    with pytest.raises(ValueError, match="2 values"):
        MultiLabelKerasClassifier(threshold=[0.5, 0.5], **FAST).fit(X, Y)


@pytest.mark.parametrize("bad", [1.5, -0.1, [0.5, 2.0], "high"])
def test_out_of_range_threshold_is_refused_before_training(bad):
    X, _, _, Y = learnable()
    with pytest.raises((ValueError, TypeError)):
        MultiLabelKerasClassifier(threshold=bad, **FAST).fit(X, Y)


def test_multioutput_threshold_applies_to_two_class_heads_only():
    X, yb, y3, _ = learnable()
    clf = MultiClassKerasClassifier(threshold=0.0, **FAST).fit(X, np.column_stack([yb, y3]))
    assert clf.thresholds_.shape == (1,)
    pred = clf.predict(X)
    assert (pred[:, 0] == 1).all()  # threshold 0: always the positive class
    np.testing.assert_array_equal(pred[:, 1], np.argmax(clf.predict_proba(X)[1], axis=1))


def test_multiclass_has_no_thresholds():
    X, _, y3, _ = learnable()
    clf = MultiClassKerasClassifier(**FAST).fit(X, y3)
    assert not hasattr(clf, "thresholds_")


def test_score_is_accuracy_and_subset_accuracy():
    X, yb, _, Y = learnable()
    b = MultiClassKerasClassifier(**FAST).fit(X, yb)
    assert b.score(X, yb) == pytest.approx(accuracy_score(yb, b.predict(X)))
    m = MultiLabelKerasClassifier(**FAST).fit(X, Y)
    assert m.score(X, Y) == pytest.approx(accuracy_score(Y, m.predict(X)))  # subset accuracy
    w = np.linspace(0.1, 1, len(X))
    assert m.score(X, Y, sample_weight=w) == pytest.approx(accuracy_score(Y, m.predict(X), sample_weight=w))


def test_multioutput_score_is_exact_row_match():
    X, yb, y3, _ = learnable()
    Y = np.column_stack([yb, y3])
    clf = MultiClassKerasClassifier(**FAST).fit(X, Y)
    assert clf.score(X, Y) == pytest.approx(np.mean(np.all(clf.predict(X) == Y, axis=1)))


def test_unfitted_estimator_raises_not_fitted():
    X, _, _, _ = learnable()
    with pytest.raises(NotFittedError):
        MultiClassKerasClassifier().predict(X)


@pytest.mark.parametrize("multi_output", [False, True])
def test_large_inputs_are_predicted_in_batches_that_agree(monkeypatch, multi_output):
    from skmultihead import _data

    X, yb, y3, _ = learnable()
    y = np.column_stack([yb, y3]) if multi_output else y3
    clf = MultiClassKerasClassifier(**FAST).fit(X, y)
    small = clf.predict_proba(X)
    big = np.tile(X, ((_data.DIRECT_ROWS // len(X)) + 2, 1))
    assert len(big) > _data.DIRECT_ROWS
    rows = []
    real = _data._backend.predictor

    def counting(model):
        run = real(model)
        return lambda part: rows.append(part.shape[0]) or run(part)

    monkeypatch.setattr(_data._backend, "predictor", counting)
    proba = clf.predict_proba(big)
    assert max(rows) == max(clf.batch_size, 256) and sum(rows) == len(big)
    for p_big, p_small in zip(proba, small) if multi_output else [(proba, small)]:
        assert len(p_big) == len(big)
        np.testing.assert_allclose(p_big[: len(X)], p_small, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(p_big[-len(X) :], p_small, rtol=1e-5, atol=1e-6)


def _targets_of_every_probability_form():
    X, binary, three, _ = learnable(200)
    yield "binary", X, binary
    yield "multiclass", X, three
    yield "one-hot", X, np.eye(3, dtype=int)[three]
    yield "several outputs", X, np.column_stack([three, binary, (three + binary) % 3])


@pytest.mark.parametrize("case", [c[0] for c in _targets_of_every_probability_form()])
def test_probabilities_are_float64_rows_summing_to_one_as_log_loss_checks(case):
    import warnings

    from sklearn.metrics import log_loss

    _, X, y = next(c for c in _targets_of_every_probability_form() if c[0] == case)
    clf = MultiClassKerasClassifier(**FAST).fit(X, y)
    probas = clf.predict_proba(X)
    probas = probas if isinstance(probas, list) else [probas]
    columns = y.T if case == "several outputs" else [y.argmax(1) if case == "one-hot" else y]
    for proba, column in zip(probas, columns):
        assert proba.dtype == np.float64
        assert np.abs(proba.sum(axis=1) - 1).max() <= 4 * np.finfo(np.float64).eps
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "The y_prob values do not sum to one"
            log_loss(column, proba, labels=range(proba.shape[1]))
