"""Why do my probabilities come out [1, 1, 1]?
===========================================

Q3: 3 mutually exclusive classes, sigmoid output + categorical
cross-entropy: why do the "probabilities" come out [1, 1, 1]?  Softmax is
needed so that rows sum to 1. The mistake is refused before training.

Run: ``python examples/q3_probabilities_sum_to_one.py``
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from skmultihead import MultiClassKerasClassifier

rng = np.random.RandomState(0)
X = rng.randn(600, 6).astype("float32")
y = np.argmax(X[:, :3] + 0.3 * rng.randn(600, 3), axis=1)


def sigmoid_model(meta):
    """The model from the question: sigmoid units over exclusive classes."""
    return keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(meta["n_classes_"], activation="sigmoid"),
        ]
    )


try:
    MultiClassKerasClassifier(sigmoid_model, epochs=1).fit(X, y)
except ValueError as err:
    print("refused before training:\n ", err)


def trunk(meta):
    """The fix: return the trunk only; the estimator adds the softmax head."""
    inp = keras.Input((meta["n_features_in_"],))
    return keras.Model(inp, keras.layers.Dense(16, activation="relu")(inp))


clf = MultiClassKerasClassifier(trunk, epochs=20, learning_rate=0.01, random_state=0).fit(X, y)
proba = clf.predict_proba(X[:3])
print("probabilities of 3 rows:", np.round(proba, 3).tolist())
print("row sums:", np.round(proba.sum(axis=1), 6).tolist())
