"""ThresholdDisplay and TrainingCurvesDisplay, drawn headless."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

from skmultihead import (  # noqa: E402
    MultiClassKerasClassifier,
    MultiLabelKerasClassifier,
    ThresholdDisplay,
    TrainingCurvesDisplay,
)

from ._helpers import FAST, make_X  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def auto_fit():
    X = make_X(1200, 6)
    rng = np.random.RandomState(0)
    Y = ((X[:, :5] + rng.randn(1200, 5)) > np.array([0.0, 0.5, 1.0, 1.5, 2.0])).astype(int)
    return MultiLabelKerasClassifier(**{**FAST, "epochs": 4}, threshold="auto").fit(X, Y)


def test_threshold_display_draws_the_objective_each_label_is_tuned_for(auto_fit):
    display = ThresholdDisplay.from_estimator(auto_fit)
    y, proba, _ = auto_fit._holdout_
    t = auto_fit.thresholds_
    assert display.curves_.shape == (5, 101) and display.labels_ == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(display.thresholds_, t)
    for j in (0, 3):
        for k in (10, 35, 80):
            moved = t.copy()
            moved[j] = display.grid_[k]
            expected = f1_score(y >= 0.5, proba >= moved, average="micro", zero_division=0)
            assert display.curves_[j][k] == pytest.approx(expected)
    axes = display.axes_
    assert len(axes) == 5
    chosen = [line for line in axes[1].lines if line.get_label().startswith("chosen")]
    assert chosen[0].get_xdata()[0] == pytest.approx(t[1])
    np.testing.assert_allclose(axes[1].lines[0].get_ydata(), display.curves_[1])


def test_threshold_display_per_label_objective_and_subset(auto_fit):
    auto_fit.set_params(threshold_objective="f1_macro")
    try:
        display = ThresholdDisplay.from_estimator(auto_fit, max_labels=2)
        y, proba, _ = auto_fit._holdout_
        assert display.labels_ == [0, 1]  # the two labels with most held-out positives
        k = 40
        expected = f1_score(y[:, 1] >= 0.5, proba[:, 1] >= display.grid_[k], zero_division=0)
        assert display.curves_[1][k] == pytest.approx(expected)
        fig, axes = plt.subplots(1, 2)
        display.plot(ax=axes)
        assert display.figure_ is fig
    finally:
        auto_fit.set_params(threshold_objective="f1_micro")


def test_threshold_display_needs_held_out_predictions():
    X = make_X(100, 4)
    est = MultiLabelKerasClassifier(**FAST).fit(X, (X[:, :2] > 0).astype(int))
    with pytest.raises(ValueError, match="threshold='auto'"):
        ThresholdDisplay.from_estimator(est)


STOPPING = dict(
    hidden_layer_sizes=(64,),
    epochs=40,
    learning_rate=0.05,
    early_stopping=True,
    n_iter_no_change=3,
    random_state=0,
)


def test_training_curves_show_history_and_the_kept_epoch():
    X = make_X(300, 4)
    y = (X[:, 0] + np.random.RandomState(1).randn(300) > 0).astype(int)
    est = MultiClassKerasClassifier(**STOPPING).fit(X, y)
    display = TrainingCurvesDisplay.from_estimator(est)
    assert display.metrics_ == ["loss", "accuracy"]
    best = int(np.argmin(est.history_["val_loss"]))
    assert display.best_epoch_ == best
    loss_axes = display.axes_[0]
    train, val, kept = loss_axes.lines[:3]
    np.testing.assert_allclose(train.get_ydata(), est.history_["loss"])
    np.testing.assert_allclose(val.get_ydata(), est.history_["val_loss"])
    assert kept.get_xdata()[0] == best + 1


def test_training_curves_mark_the_epoch_of_best_micro_f1_on_multilabel():
    X = make_X(300, 4)
    Y = (X[:, :3] + np.random.RandomState(1).randn(300, 3) > 0).astype(int)
    est = MultiLabelKerasClassifier(**STOPPING).fit(X, Y)
    display = TrainingCurvesDisplay.from_estimator(est)
    best = int(np.argmax(est.history_["val_f1_micro"]))
    assert display.best_epoch_ == best
    # where the two rules disagree (which a real run may or may not show), micro-F1 decides
    est.history_ = {
        "loss": [0.7, 0.5, 0.4, 0.3],
        "val_loss": [0.6, 0.45, 0.5, 0.55],
        "val_f1_micro": [0.3, 0.5, 0.6, 0.55],
    }
    assert TrainingCurvesDisplay.from_estimator(est).best_epoch_ == 2


def test_training_curves_without_validation_and_with_chosen_metrics():
    X = make_X(100, 4)
    est = MultiLabelKerasClassifier(**FAST).fit(X, (X[:, :3] > 0).astype(int))
    display = TrainingCurvesDisplay.from_estimator(est, metrics=["hamming_loss"])
    assert display.best_epoch_ is None and len(display.axes_[0].lines) == 1
    with pytest.raises(ValueError, match="no \\['nope'\\]"):
        TrainingCurvesDisplay.from_estimator(est, metrics=["nope"])


def test_the_plots_example_writes_both_pngs(tmp_path, monkeypatch):
    import runpy
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["plots.py", "--quick"])
    runpy.run_path(str(Path(__file__).parents[1] / "examples" / "plots.py"), run_name="__main__")
    for name in ("thresholds.png", "training_curves.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
