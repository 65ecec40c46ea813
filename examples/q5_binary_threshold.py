"""Where is the 0.5 threshold, and how do I change it?
===================================================

Q5: sigmoid output for a binary problem: where is the 0.5 threshold and
how do I change it?  It is a decision rule on top of predict_proba: the
``threshold`` parameter, changeable after fit without retraining.

Run: ``python examples/q5_binary_threshold.py``
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from sklearn.datasets import make_classification
from sklearn.metrics import precision_score, recall_score
from sklearn.model_selection import train_test_split

from skmultihead import MultiClassKerasClassifier

X, y = make_classification(n_samples=3000, n_features=20, weights=[0.9], random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
clf = MultiClassKerasClassifier(hidden_layer_sizes=(32,), epochs=20, learning_rate=0.003, random_state=0)
clf.fit(X_train, y_train)
print(f"task={clf.task_!r}; predict uses thresholds_={clf.thresholds_} on predict_proba[:, 1]")
for t in (0.5, 0.3, 0.1):
    clf.set_params(threshold=t)  # no refit: the network is untouched
    pred = clf.predict(X_test)
    print(
        f"threshold {t:.1f}: precision {precision_score(y_test, pred):.3f}, recall {recall_score(y_test, pred):.3f}"
    )
