"""The estimators where users put them: pipelines, searches, joblib."""

import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier

from ._helpers import FAST, learnable


def test_pipeline_with_scaling():
    X, _, y3, _ = learnable()
    pipe = make_pipeline(StandardScaler(), MultiClassKerasClassifier(**FAST)).fit(X * 100 + 5, y3)
    assert pipe.predict(X * 100 + 5).shape == (len(X),)


def test_column_transformer_over_a_dataframe():
    X, yb, _, _ = learnable()
    df = pd.DataFrame(X, columns=list("abcde"))
    df["colour"] = np.where(yb == 1, "red", "blue")
    ct = ColumnTransformer([("num", StandardScaler(), list("abcde")), ("cat", OneHotEncoder(), ["colour"])])
    clf = MultiClassKerasClassifier(hidden_layer_sizes=(8,), epochs=30, learning_rate=0.05, random_state=0)
    pipe = make_pipeline(ct, clf).fit(df, yb)
    assert pipe[-1].n_features_in_ == 7
    assert pipe.score(df, yb) > 0.9  # the colour column gives y away


def test_dataframe_feature_names_are_checked():
    X, yb, _, _ = learnable()
    df = pd.DataFrame(X, columns=list("abcde"))
    clf = MultiClassKerasClassifier(**FAST).fit(df, yb)
    assert list(clf.feature_names_in_) == list("abcde")
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(df.rename(columns={"a": "z"}))


@pytest.mark.parametrize("scoring", ["f1_micro", "f1_samples"])
def test_cross_val_score_with_multilabel_scorers(scoring):
    X, _, _, Y = learnable()
    scores = cross_val_score(MultiLabelKerasClassifier(**FAST), X, Y, cv=KFold(3), scoring=scoring)
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def test_grid_search_over_network_hyper_parameters():
    X, _, y3, _ = learnable()
    search = GridSearchCV(
        MultiClassKerasClassifier(epochs=2, random_state=0),
        {"hidden_layer_sizes": [(4,), (8,)], "learning_rate": [0.01, 0.05]},
        cv=2,
    ).fit(X, y3)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.predict(X).shape == (len(X),)


def test_joblib_round_trip_in_a_fresh_process(tmp_path):
    X, _, _, Y = learnable()
    clf = MultiLabelKerasClassifier(threshold=[0.4, 0.5, 0.6], **FAST).fit(X, Y)
    path = tmp_path / "clf.joblib"
    joblib.dump(clf, path)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", clf.predict_proba(X))
    np.save(tmp_path / "expected_pred.npy", clf.predict(X))
    code = textwrap.dedent(
        f"""
        import os
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        import joblib, numpy as np
        clf = joblib.load({str(path)!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        np.testing.assert_array_equal(clf.predict_proba(X), np.load({str(tmp_path / "expected.npy")!r}))
        np.testing.assert_array_equal(clf.predict(X), np.load({str(tmp_path / "expected_pred.npy")!r}))
        print("same", clf.task_)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "same multilabel" in out.stdout


def test_unfitted_estimator_pickles():
    import pickle

    clf = MultiClassKerasClassifier(hidden_layer_sizes=(3,), model__x=1)
    again = pickle.loads(pickle.dumps(clf))
    assert again.get_params() == clf.get_params()
