"""threshold="auto", objective choice, and one network per fold in searches."""

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sklearn.model_selection import FixedThresholdClassifier, GridSearchCV, KFold, TunedThresholdClassifierCV

import skmultihead
from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier, _cache
from skmultihead._thresholds import best_threshold, tune_thresholds

from ._helpers import count_trainings


@pytest.fixture(autouse=True)
def fresh_cache():
    _cache.clear()
    yield
    _cache.clear()


def noisy_multilabel(n=1200, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 8).astype("float32")
    Y = (X[:, :4] + 0.8 * rng.randn(n, 4) > 1.4).astype(int)  # rare, noisy labels
    return X, Y


SMALL = dict(hidden_layer_sizes=(16,), epochs=4, learning_rate=0.01, random_state=0)


def test_best_threshold_maximises_f1_by_brute_force():
    rng = np.random.RandomState(0)
    y = (rng.rand(300) < 0.2).astype(int)
    scores = np.clip(0.3 * y + rng.rand(300) * 0.7, 0, 1)
    t = best_threshold(y, scores)
    grid = np.linspace(0, 1, 2001)
    best = max(f1_score(y, scores >= g) for g in grid)
    assert f1_score(y, scores >= t) == pytest.approx(best)


@pytest.mark.parametrize("objective", ["balanced_accuracy", "accuracy", "jaccard"])
def test_other_objectives_are_maximised(objective):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, jaccard_score

    metric = {
        "balanced_accuracy": balanced_accuracy_score,
        "accuracy": accuracy_score,
        "jaccard": jaccard_score,
    }[objective]
    rng = np.random.RandomState(1)
    y = (rng.rand(200) < 0.3).astype(int)
    scores = np.clip(0.25 * y + rng.rand(200) * 0.75, 0, 1)
    t = best_threshold(y, scores, objective)
    best = max(metric(y, (scores >= g).astype(int)) for g in np.linspace(0, 1, 1001))
    assert metric(y, (scores >= t).astype(int)) == pytest.approx(best)


def test_labels_without_positives_fall_back_to_the_pooled_threshold():
    rng = np.random.RandomState(0)
    y = np.column_stack([(rng.rand(100) < 0.3), np.zeros(100), np.ones(100)]).astype(int)
    proba = rng.rand(100, 3)
    t = tune_thresholds(y, proba)
    pooled = best_threshold(y.T.ravel(), proba.T.ravel())
    assert t[1] == pytest.approx(pooled) and t[2] == pytest.approx(pooled)
    assert 0 < t[1] < 1


def test_auto_tunes_per_label_on_held_out_data_and_beats_half():
    X, Y = noisy_multilabel(3000)
    auto = MultiLabelKerasClassifier(threshold="auto", **SMALL).fit(X, Y)
    t = auto.thresholds_
    assert t.shape == (4,) and len(set(np.round(t, 6))) > 1
    y_val, proba_val, _ = auto._holdout_
    assert len(y_val) == 300  # validation_fraction of the data, not trained on
    np.testing.assert_array_equal(t, tune_thresholds(y_val, proba_val))
    Xt, Yt = noisy_multilabel(2000, seed=1)
    half = auto.predict_proba(Xt) >= 0.5
    assert f1_score(Yt, auto.predict(Xt), average="macro") > f1_score(Yt, half, average="macro")


def test_auto_on_small_data_uses_out_of_fold_predictions():
    X, Y = noisy_multilabel(150)
    clf = MultiLabelKerasClassifier(threshold="auto", **SMALL).fit(X, Y)
    y_oof, proba_oof, _ = clf._holdout_
    assert proba_oof.shape == (150, 4)  # every row predicted by a network that did not see it
    np.testing.assert_array_equal(y_oof, Y)


def test_objective_is_post_fit():
    X, Y = noisy_multilabel()
    clf = MultiLabelKerasClassifier(threshold="auto", **SMALL).fit(X, Y)
    f1 = clf.thresholds_.copy()
    weights = [w.copy() for w in clf.model_.get_weights()]
    clf.set_params(threshold_objective="balanced_accuracy")
    assert not np.allclose(clf.thresholds_, f1)
    for a, b in zip(weights, clf.model_.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_auto_for_binary_and_multioutput_two_class_heads():
    X, Y = noisy_multilabel()
    binary = MultiClassKerasClassifier(threshold="auto", **SMALL).fit(X, Y[:, 0])
    assert binary.thresholds_.shape == (1,) and binary.thresholds_[0] != 0.5
    y3 = np.digitize(X[:, 5], [-0.5, 0.5])
    multi = MultiClassKerasClassifier(threshold="auto", **SMALL).fit(X, np.column_stack([Y[:, 0], y3]))
    assert multi.thresholds_.shape == (1,)


def test_auto_after_a_fit_without_held_out_data_explains():
    X, Y = noisy_multilabel(200)
    clf = MultiLabelKerasClassifier(**SMALL).fit(X, Y)
    clf.set_params(threshold="auto")
    with pytest.raises(ValueError, match="Refit with threshold='auto'"):
        clf.predict(X)


def test_grid_search_over_thresholds_trains_one_network_per_fold(monkeypatch):
    X, Y = noisy_multilabel(300)
    calls = count_trainings(monkeypatch)
    grid = {"threshold": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]}
    search = GridSearchCV(MultiLabelKerasClassifier(**SMALL), grid, cv=KFold(3), scoring="f1_macro").fit(X, Y)
    assert len(calls) == 3 + 1  # one per fold, plus the refit on all data
    # identical to refitting every candidate from scratch with the same seed
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        scores = []
        for train, test in KFold(3).split(X):
            _cache.clear()
            est = MultiLabelKerasClassifier(**SMALL, **params).fit(X[train], Y[train])
            scores.append(f1_score(Y[test], est.predict(X[test]), average="macro"))
        assert score == pytest.approx(np.mean(scores), abs=1e-12)


def test_cache_never_serves_other_data_or_other_hyper_parameters(monkeypatch):
    X, Y = noisy_multilabel(200)
    calls = count_trainings(monkeypatch)
    base = MultiLabelKerasClassifier(**SMALL).fit(X, Y)
    MultiLabelKerasClassifier(**SMALL, threshold=0.3).fit(X, Y)
    assert len(calls) == 1
    other_data = MultiLabelKerasClassifier(**SMALL).fit(X[:150], Y[:150])
    other_y = MultiLabelKerasClassifier(**SMALL).fit(X, 1 - Y)
    other_lr = MultiLabelKerasClassifier(**{**SMALL, "learning_rate": 0.02}).fit(X, Y)
    weighted = MultiLabelKerasClassifier(**SMALL).fit(X, Y, sample_weight=np.linspace(1, 2, 200))
    assert len(calls) == 5
    for est in (other_y, other_lr, weighted):
        assert not np.allclose(est.predict_proba(X), base.predict_proba(X))
    assert other_data.n_features_in_ == 8


def test_cache_sees_a_changed_model_function(monkeypatch):
    import keras

    X, Y = noisy_multilabel(200)
    calls = count_trainings(monkeypatch)

    def make(units):
        def trunk(meta):
            inp = keras.Input((meta["n_features_in_"],))
            return keras.Model(inp, keras.layers.Dense(units)(inp))

        return trunk

    MultiLabelKerasClassifier(make(4), **{k: v for k, v in SMALL.items() if k != "hidden_layer_sizes"}).fit(
        X, Y
    )
    MultiLabelKerasClassifier(make(5), **{k: v for k, v in SMALL.items() if k != "hidden_layer_sizes"}).fit(
        X, Y
    )
    assert len(calls) == 2  # same name and code, other closure: trained again


def test_unseeded_fits_are_not_cached(monkeypatch):
    X, Y = noisy_multilabel(200)
    calls = count_trainings(monkeypatch)
    params = {**SMALL, "random_state": None}
    MultiLabelKerasClassifier(**params).fit(X, Y)
    MultiLabelKerasClassifier(**params).fit(X, Y)
    assert len(calls) == 2


def test_in_process_cache_is_bounded():
    X, Y = noisy_multilabel(100)
    entries = skmultihead.get_config()["fit_cache_entries"]
    for lr in np.linspace(0.001, 0.01, entries + 3):
        MultiLabelKerasClassifier(**{**SMALL, "learning_rate": float(lr), "epochs": 1}).fit(X, Y)
    assert len(_cache._memory) == entries


def test_memory_folder_shares_networks_across_processes(tmp_path):
    X, Y = noisy_multilabel(300)
    grid = {"threshold": [0.2, 0.4, 0.6]}
    est = MultiLabelKerasClassifier(**SMALL, memory=str(tmp_path))
    search = GridSearchCV(est, grid, cv=KFold(2), scoring="f1_macro", n_jobs=2).fit(X, Y)
    files = list((tmp_path / "skmultihead").glob("*.skmh"))
    assert len(files) == 2 + 1  # one network per fold, plus the refit
    serial = GridSearchCV(MultiLabelKerasClassifier(**SMALL), grid, cv=KFold(2), scoring="f1_macro").fit(X, Y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])


def test_disk_cache_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(_cache, "DISK_ENTRIES", 2)
    X, Y = noisy_multilabel(100)
    for lr in (0.001, 0.002, 0.003, 0.004):
        MultiLabelKerasClassifier(**{**SMALL, "learning_rate": lr, "epochs": 1}, memory=str(tmp_path)).fit(
            X, Y
        )
    assert len(list((tmp_path / "skmultihead").glob("*.skmh"))) == 2


def test_binary_estimator_in_tuned_and_fixed_threshold_classifiers():
    X, Y = noisy_multilabel(400)
    y = Y[:, 0]
    tuned = TunedThresholdClassifierCV(MultiClassKerasClassifier(**SMALL), scoring="f1", cv=2).fit(X, y)
    assert 0 < tuned.best_threshold_ < 1
    assert set(tuned.predict(X)) <= {0, 1}
    fixed = FixedThresholdClassifier(MultiClassKerasClassifier(**SMALL), threshold=0.2).fit(X, y)
    p = fixed.estimator_.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(fixed.predict(X), (p >= 0.2).astype(int))
