"""Quickstart: how do I train a Keras classifier the scikit-learn way?
===================================================================

The same estimators read binary, multiclass, multi-label and multi-output
tasks from y, and drop into scikit-learn tools.

Run: ``python examples/quickstart.py``
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from sklearn.datasets import load_iris, make_multilabel_classification
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier

# Multiclass: 1-D labels -> softmax head, sparse categorical cross-entropy.
X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
clf = make_pipeline(
    StandardScaler(),
    MultiClassKerasClassifier(hidden_layer_sizes=(32,), epochs=60, learning_rate=0.01, random_state=0),
)
clf.fit(X_train, y_train)
net = clf[-1]
print(
    f"iris: task={net.task_!r} classes={net.classes_.tolist()} test accuracy={clf.score(X_test, y_test):.3f}"
)
print("  probabilities of the first test flower:", np.round(clf.predict_proba(X_test[:1]), 3).tolist())

# Binary with string labels -> one sigmoid unit; predict_proba is (n, 2).
y_binary = np.where(y == 0, "setosa", "other")
binary = MultiClassKerasClassifier(hidden_layer_sizes=(16,), epochs=30, learning_rate=0.01, random_state=0)
binary.fit(X, y_binary)
print(
    f"binary: task={binary.task_!r} predictions={binary.predict(X[:3]).tolist()} threshold={binary.thresholds_}"
)

# Multi-label: a 0/1 indicator matrix -> sigmoid heads, binary cross-entropy,
# honest metrics (subset accuracy, Hamming loss, micro-F1) in history_.
X, Y = make_multilabel_classification(n_samples=600, n_features=20, n_classes=5, random_state=0)
ml = MultiLabelKerasClassifier(hidden_layer_sizes=(64,), epochs=30, learning_rate=0.005, random_state=0)
scores = cross_val_score(make_pipeline(StandardScaler(), ml), X, Y, cv=3, scoring="f1_micro")
ml.fit(StandardScaler().fit_transform(X), Y)
print(f"multi-label: task={ml.task_!r} metrics logged={sorted(ml.history_)}")
print(f"  3-fold micro-F1: {scores.mean():.3f}")

# Several multiclass outputs at once: one softmax/sigmoid head per column.
Y2 = np.column_stack([np.where(Y[:, 0] == 1, "yes", "no"), Y[:, 1:4].sum(axis=1)])
mo = MultiClassKerasClassifier(hidden_layer_sizes=(64,), epochs=30, learning_rate=0.005, random_state=0)
mo.fit(StandardScaler().fit_transform(X), Y2)
print(f"multi-output: task={mo.task_!r} heads={mo.n_outputs_} classes={[c.tolist() for c in mo.classes_]}")
