"""Searches on a cluster, through joblib: Dask's ``dask.distributed`` backend
(a LocalCluster of 2 worker processes) and Ray's joblib backend (a local Ray
of 2 CPUs). Each search must give the scores of ``n_jobs=1`` with the same
seeds, and a threshold grid must train one network per fold: the workers
share the ``memory=`` folder."""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier

from ._helpers import learnable

SMALL = dict(hidden_layer_sizes=(8,), epochs=3, learning_rate=0.01, random_state=0)
GRID = {"threshold": [0.3, 0.5, 0.7]}


def _counting_trunk(log: str):
    """A model function (pickled by value for the workers) that writes a line
    to ``log`` each time a network is built: once per training, never for a
    network read from the shared folder."""

    def trunk(meta):
        import keras

        with open(log, "a") as f:
            f.write("built\n")
        return keras.Sequential(
            [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(8, activation="relu")]
        )

    return trunk


def _search_on(backend_name, tmp_path):
    X, _, y3, Y = learnable(160)
    log = tmp_path / "builds.log"
    kw = {k: v for k, v in SMALL.items() if k != "hidden_layer_sizes"}
    # a model function is code: sharing its fits is the user's explicit choice
    est = MultiLabelKerasClassifier(
        _counting_trunk(str(log)), **kw, memory=str(tmp_path / "shared"), fit_cache="code"
    )
    with joblib.parallel_backend(backend_name):
        search = GridSearchCV(est, GRID, cv=KFold(2), scoring="f1_micro", n_jobs=-1).fit(X, Y)
        cv = cross_val_score(MultiClassKerasClassifier(**SMALL), X, y3, cv=KFold(2), n_jobs=-1)
    serial = GridSearchCV(
        MultiLabelKerasClassifier(_counting_trunk(str(tmp_path / "serial.log")), **kw, fit_cache="code"),
        GRID,
        cv=KFold(2),
        scoring="f1_micro",
    ).fit(X, Y)
    serial_cv = cross_val_score(MultiClassKerasClassifier(**SMALL), X, y3, cv=KFold(2))
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"], rtol=1e-6
    )
    np.testing.assert_allclose(cv, serial_cv, rtol=1e-6)
    # 3 thresholds x 2 folds trained 2 networks across the workers, plus the refit on all rows
    assert log.read_text().count("built") == 2 + 1
    assert len(list((tmp_path / "shared" / "skmultihead").glob("*.skmh"))) == 2 + 1
    assert search.best_estimator_.predict(X).shape == Y.shape


@pytest.mark.backend("tensorflow", "jax")
def test_grid_search_and_cross_val_score_on_a_dask_cluster(tmp_path):
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            _search_on("dask", tmp_path)
            # the work ran in the 2 worker processes, not in this one
            assert len(client.scheduler_info()["workers"]) == 2


@pytest.mark.backend("tensorflow")
def test_grid_search_and_cross_val_score_on_ray(tmp_path):
    import ray
    from ray.util.joblib import register_ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        register_ray()
        _search_on("ray", tmp_path)
    finally:
        ray.shutdown()
