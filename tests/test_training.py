"""Training controls: early stopping, weights, callbacks, seeds, warm starts."""

import keras
import numpy as np
import pytest

import skmultihead
from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier, TrainingDivergedError
from skmultihead._fitting import Fitting

from ._helpers import FAST, count_trainings, learnable


def test_epochs_batch_size_and_verbose_reach_keras(capsys):
    X, yb, _, _ = learnable()
    clf = MultiClassKerasClassifier(
        hidden_layer_sizes=(4,), epochs=4, batch_size=40, verbose=1, random_state=0
    )
    clf.fit(X, yb)
    assert len(clf.history_["loss"]) == 4
    out = capsys.readouterr().out
    assert "Epoch 4/4" in out and "3/3" in out  # 120 rows / 40 per batch
    MultiClassKerasClassifier(**FAST).fit(X, yb)
    assert "Epoch" not in capsys.readouterr().out


def test_learning_rate_and_routed_optimizer_params():
    X, yb, _, _ = learnable()
    clf = MultiClassKerasClassifier(optimizer="sgd", learning_rate=0.05, optimizer__momentum=0.9, **FAST).fit(
        X, yb
    )
    opt = clf._network_.train_model.optimizer
    assert isinstance(opt, keras.optimizers.SGD)
    assert float(opt.learning_rate) == pytest.approx(0.05) and opt.momentum == 0.9


def test_optimizer_object_is_copied_not_reused():
    X, yb, _, _ = learnable()
    opt = keras.optimizers.Adam(learning_rate=0.01)
    clf = MultiClassKerasClassifier(optimizer=opt, **FAST).fit(X, yb)
    assert clf._network_.train_model.optimizer is not opt
    assert float(clf._network_.train_model.optimizer.learning_rate) == pytest.approx(0.01)


def test_early_stopping_holds_out_data_and_restores_best_weights():
    X, yb, _, _ = learnable(200)
    flip = np.random.RandomState(0).rand(200) < 0.3
    yb = np.where(flip, 1 - yb, yb)  # noisy labels: a big network overfits them
    clf = MultiClassKerasClassifier(
        hidden_layer_sizes=(128,),
        epochs=200,
        learning_rate=0.05,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=3,
        random_state=0,
    ).fit(X, yb)
    val = clf.history_["val_loss"]
    assert len(val) < 200  # stopped early
    # the network kept is the best epoch's: its validation loss is the minimum
    best = int(np.argmin(val))
    assert best < len(val) - 1
    train_idx, val_idx = Fitting(clf).split(len(X), clf._spec_, [yb.reshape(-1, 1).astype("float32")], 0)
    assert len(val_idx) == 40
    logits_model = clf._network_.train_model
    loss = logits_model.evaluate(X[val_idx], yb[val_idx].reshape(-1, 1).astype("float32"), verbose=0)
    loss = loss[0] if isinstance(loss, list) else loss
    assert loss == pytest.approx(val[best], rel=1e-3)


# a big network, a high learning rate and noisy labels: it overfits, and
# early stopping has an epoch to find
OVERFIT = dict(
    hidden_layer_sizes=(128,),
    dropout=0,
    epochs=200,
    learning_rate=0.05,
    early_stopping=True,
    n_iter_no_change=3,
    random_state=0,
)


def _noisy_labels(n=300, seed=0):
    X, _, _, Y = learnable(n, seed)
    flip = np.random.RandomState(seed).rand(*Y.shape) < 0.25
    return X, np.where(flip, 1 - Y, Y)  # noisy labels: a big network overfits them


def test_multilabel_early_stopping_keeps_the_epoch_of_best_validation_micro_f1():
    from sklearn.metrics import f1_score

    X, Y = _noisy_labels()
    clf = MultiLabelKerasClassifier(**OVERFIT, validation_fraction=0.2).fit(X, Y)
    scores = clf.history_["val_f1_micro"]
    best = int(np.argmax(scores))
    # it stopped n_iter_no_change epochs after the best micro-F1, not after the best loss
    assert len(scores) == best + 1 + 3 < 200
    _, val_idx = Fitting(clf).split(len(X), clf._spec_, [Y.astype("float32")], 0)
    assert len(val_idx) == 60
    kept = f1_score(Y[val_idx], clf.predict(X[val_idx]), average="micro")
    assert kept == pytest.approx(scores[best])
    assert kept == pytest.approx(max(scores))


def test_early_stopping_on_micro_f1_does_not_depend_on_the_threshold(monkeypatch):
    # thresholds stay a post-fit choice: the epoch kept is chosen at 0.5
    X, Y = _noisy_labels(200)
    calls = count_trainings(monkeypatch)
    kw = dict(hidden_layer_sizes=(32,), epochs=30, early_stopping=True, n_iter_no_change=2, random_state=0)
    low = MultiLabelKerasClassifier(**kw, threshold=0.2).fit(X, Y)
    skmultihead.clear_cache()  # train again rather than share the first network
    high = MultiLabelKerasClassifier(**kw, threshold=0.8).fit(X, Y)
    assert len(calls) == 2
    assert low.history_ == high.history_
    np.testing.assert_allclose(low.predict_proba(X), high.predict_proba(X))


@pytest.mark.parametrize(
    "make_y",
    [
        lambda Y: np.clip(Y * 0.8 + 0.1, 0, 1),  # soft labels
        lambda Y: Y[:, 0],  # one label per row: MultiClassKerasClassifier's case
    ],
    ids=["soft", "binary"],
)
def test_other_targets_stop_early_on_the_validation_loss(make_y):
    X, Y = _noisy_labels()
    y = make_y(Y)
    cls = MultiClassKerasClassifier if y.ndim == 1 else MultiLabelKerasClassifier
    clf = cls(**OVERFIT).fit(X, y)
    val = clf.history_["val_loss"]
    assert len(val) == int(np.argmin(val)) + 1 + 3 < 200


def test_sample_weight_changes_the_fit():
    X, yb, _, _ = learnable()
    w = np.where(yb == 1, 5.0, 1.0)
    a = MultiClassKerasClassifier(**FAST).fit(X, yb)
    b = MultiClassKerasClassifier(**FAST).fit(X, yb, sample_weight=w)
    assert b.predict_proba(X)[:, 1].mean() > a.predict_proba(X)[:, 1].mean()


@pytest.mark.parametrize(
    "cls, target",
    [(MultiClassKerasClassifier, 1), (MultiClassKerasClassifier, 2), (MultiLabelKerasClassifier, 3)],
)
def test_sample_weight_equals_repeating_rows_in_full_batch_training(cls, target):
    # What scikit-learn's sample-weight equivalence check asks, once mini-batches
    # are out of the way: a row weighted k trains as the row repeated k times.
    X, *ys = learnable()
    y = ys[target - 1]
    w = np.random.RandomState(0).randint(0, 3, len(X))
    kw = {**FAST, "batch_size": 1000, "epochs": 20, "learning_rate": 0.01}
    weighted = cls(**kw).fit(X, y, sample_weight=w.astype(float))
    repeated = cls(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w, axis=0))
    unweighted = cls(**kw).fit(X, y)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-5)
    assert np.abs(weighted.predict_proba(X) - unweighted.predict_proba(X)).max() > 0.05


def test_sample_weight_zero_rows_are_ignored():
    X, yb, _, _ = learnable()
    noise = np.random.RandomState(1).randn(50, X.shape[1]).astype("float32")
    Xa = np.vstack([X, noise])
    ya = np.concatenate([yb, np.ones(50, dtype=int)])
    w = np.concatenate([np.ones(len(X)), np.zeros(50)])
    a = MultiClassKerasClassifier(**FAST).fit(Xa, ya, sample_weight=w)
    b = MultiClassKerasClassifier(**FAST).fit(X, yb)
    assert abs(a.predict_proba(X)[:, 1].mean() - b.predict_proba(X)[:, 1].mean()) < 0.1


def test_class_weight_dict_and_balanced_shift_predictions():
    X, _, y3, _ = learnable()
    plain = MultiClassKerasClassifier(**FAST).fit(X, y3)
    heavy = MultiClassKerasClassifier(class_weight={2: 20.0}, **FAST).fit(X, y3)
    assert heavy.predict_proba(X)[:, 2].mean() > plain.predict_proba(X)[:, 2].mean()
    MultiClassKerasClassifier(class_weight="balanced", **FAST).fit(X, y3)
    with pytest.raises(ValueError, match="class 7"):
        MultiClassKerasClassifier(class_weight={7: 1.0}, **FAST).fit(X, y3)


def test_multilabel_balanced_class_weight_weights_rare_positives():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 4).astype("float32")
    Y = np.column_stack([(X[:, 0] > 1.5), (X[:, 1] > 0)]).astype(int)  # label 0 is rare
    clf = MultiLabelKerasClassifier(class_weight="balanced", **FAST).fit(X, Y)
    pos = Y.sum(axis=0)
    np.testing.assert_allclose(clf._pos_weight_, (200 - pos) / pos)
    plain = MultiLabelKerasClassifier(**FAST).fit(X, Y)
    assert clf.predict_proba(X)[:, 0].mean() > plain.predict_proba(X)[:, 0].mean()


def test_multioutput_class_weight_per_column():
    X, yb, y3, _ = learnable()
    Y = np.column_stack([yb, y3])
    clf = MultiClassKerasClassifier(class_weight=[{1: 10.0}, "balanced"], **FAST).fit(X, Y)
    plain = MultiClassKerasClassifier(**FAST).fit(X, Y)
    assert clf.predict_proba(X)[0][:, 1].mean() > plain.predict_proba(X)[0][:, 1].mean()


def test_callbacks_are_called():
    class Count(keras.callbacks.Callback):
        epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            Count.epochs += 1

    X, yb, _, _ = learnable()
    MultiClassKerasClassifier(callbacks=[Count()], **FAST).fit(X, yb)
    assert Count.epochs == FAST["epochs"]


def test_same_random_state_gives_the_same_model(monkeypatch):
    calls = count_trainings(monkeypatch)
    X, _, y3, _ = learnable()
    with skmultihead.config_context(fit_cache=False):  # two real trainings, not one and a copy
        first = MultiClassKerasClassifier(**FAST).fit(X, y3)
        second = MultiClassKerasClassifier(**FAST).fit(X, y3)
        c = MultiClassKerasClassifier(**{**FAST, "random_state": 1}).fit(X, y3).predict_proba(X)
    assert len(calls) == 3 and first.model_ is not second.model_
    a, b = first.predict_proba(X), second.predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_random_state_does_not_leave_numpy_seeded(monkeypatch):
    calls = count_trainings(monkeypatch)
    X, yb, _, _ = learnable()
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    with skmultihead.config_context(fit_cache=False):
        MultiClassKerasClassifier(**FAST).fit(X, yb)
    assert len(calls) == 1  # it trained, seeding everything on the way
    assert np.random.rand() == expected


def test_warm_start_continues_training():
    X, _, y3, _ = learnable()
    clf = MultiClassKerasClassifier(warm_start=True, **FAST).fit(X, y3)
    first = clf.model_.get_layer("output").get_weights()[0].copy()
    net = clf._network_
    clf.fit(X, y3)
    assert clf._network_ is net  # same network, trained further
    assert len(clf.history_["loss"]) == 2 * FAST["epochs"]
    assert not np.allclose(first, clf.model_.get_layer("output").get_weights()[0])
    cold = MultiClassKerasClassifier(**FAST).fit(X, y3)
    old = cold._network_
    cold.fit(X, y3)
    assert cold._network_ is not old


def test_partial_fit_one_epoch_at_a_time_with_classes():
    X, _, y3, _ = learnable()
    clf = MultiClassKerasClassifier(**FAST)
    first = y3 != 2
    clf.partial_fit(X[first], y3[first], classes=[0, 1, 2])
    assert list(clf.classes_) == [0, 1, 2]
    clf.partial_fit(X, y3)
    assert len(clf.history_["loss"]) == 2
    assert clf.predict_proba(X).shape == (len(X), 3)
    with pytest.raises(ValueError, match="not seen at fit"):
        clf.partial_fit(X, np.full(len(X), 5))


def test_nan_loss_raises_with_advice_and_leaves_estimator_unfitted():
    X, yb, _, _ = learnable()
    # near float32's largest value: the first step overflows on every backend
    X = X * 1e38
    clf = MultiClassKerasClassifier(hidden_layer_sizes=(8,), epochs=5, learning_rate=1e6, random_state=0)
    with pytest.raises(TrainingDivergedError, match="learning_rate"):
        clf.fit(X, yb)
    assert not hasattr(clf, "model_") and not hasattr(clf, "n_features_in_")


def test_nan_loss_stops_training_after_its_epoch():
    class Batches(keras.callbacks.Callback):
        seen = 0

        def on_train_batch_end(self, batch, logs=None):
            Batches.seen += 1

    X, yb, _, _ = learnable()
    clf = MultiClassKerasClassifier(
        hidden_layer_sizes=(8,),
        epochs=5,
        batch_size=8,
        learning_rate=1e6,
        random_state=0,
        callbacks=[Batches()],
    )
    with pytest.raises(TrainingDivergedError, match="epoch 1"):
        clf.fit(X * 1e38, yb)
    assert Batches.seen == 120 / 8  # stopped at the end of the first epoch, not the fifth


def test_partial_fit_trains_on_every_row_whatever_early_stopping_says(monkeypatch):
    """Early stopping (and its held-out rows) is for fit; partial_fit trains
    one epoch on all the rows it is given, as scikit-learn's MLP does."""
    rows = []
    real = keras.Model.fit

    def record(self, x, *args, **kwargs):
        rows.append((len(x), kwargs.get("validation_data") is not None))
        return real(self, x, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", record)
    X, _, y3, _ = learnable(200)
    clf = MultiClassKerasClassifier(**FAST, early_stopping=True, validation_fraction=0.25)
    clf.partial_fit(X, y3, classes=[0, 1, 2])
    clf.partial_fit(X, y3)
    assert rows == [(200, False), (200, False)]
    assert "val_loss" not in clf.history_ and len(clf.history_["loss"]) == 2
    clf.fit(X, y3)  # fit still holds a quarter out for early stopping
    assert rows[-1] == (150, True) and "val_loss" in clf.history_


def test_keras_compile_arguments_given_to_the_constructor_reach_compile():
    X, _, _, Y = learnable()
    est = MultiLabelKerasClassifier(**FAST, steps_per_execution=4, run_eagerly=False)
    assert est.get_params()["steps_per_execution"] == 4
    if keras.backend.backend() == "torch":  # Keras runs one step per call there, and says so
        with pytest.raises(ValueError, match="steps_per_execution"):
            est.fit(X, Y)
        assert not hasattr(est, "model_")
    else:
        est.fit(X, Y)
        assert est._network_.train_model.steps_per_execution == 4
    from sklearn.base import clone

    assert clone(est).get_params()["steps_per_execution"] == 4
    with pytest.raises(TypeError, match="steps_per_execution"):
        MultiLabelKerasClassifier(**FAST, steps_per_exec=4).fit(X, Y)


def test_compile_arguments_reach_a_model_function_through_compile_kwargs():
    """A model function that compiles its own model with scikeras's
    ``compile_kwargs`` gets the constructor's compile arguments too, and they
    are not passed as model arguments to one that takes ``**kwargs``."""
    seen = {}

    def build(meta, compile_kwargs, **kwargs):
        seen.update(kwargs)
        model = keras.Sequential(
            [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(3, activation="sigmoid")]
        )
        model.compile(**compile_kwargs)
        return model

    X, _, _, Y = learnable()
    est = MultiLabelKerasClassifier(build, epochs=1, random_state=0, run_eagerly=True).fit(X, Y)
    assert est._network_.train_model.run_eagerly is True
    assert "run_eagerly" not in seen
