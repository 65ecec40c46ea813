"""Some of my labels are missing
=============================

Q7: "Some of my labels are missing." An annotator labelled some labels of a
row and not the others; an assay measured some targets and not the rest.

Leave the unknown entries as NaN (or None / pd.NA in a DataFrame, null in
polars): MultiLabelKerasClassifier trains each label on its known entries only
(they weigh 0 in the loss, whatever the loss), and its metrics, early stopping,
threshold tuning and score read known entries only. Filling them with 0 would
teach the network that "unknown" means "absent"; dropping every row with a gap
would throw most rows away.

Run: ``python examples/q7_missing_labels.py``
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
from sklearn.datasets import make_multilabel_classification
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler

from skmultihead import MultiLabelKerasClassifier

X, Y = make_multilabel_classification(n_samples=1600, n_features=20, n_classes=6, n_labels=2, random_state=0)
X = StandardScaler().fit_transform(X)
X_train, X_test, Y_train, Y_test = X[:1200], X[1200:], Y[:1200], Y[1200:]

# half of the training entries were never labelled
rng = np.random.RandomState(0)
labels = pd.DataFrame(Y_train, columns=[f"tag_{j}" for j in range(6)]).astype("Int64")
labels = labels.mask(rng.rand(*labels.shape) < 0.5)  # pd.NA where unknown
print(
    f"unknown entries: {labels.isna().to_numpy().mean():.0%}; rows with no gap: {labels.notna().all(1).sum()}"
)

params = dict(hidden_layer_sizes=(64,), epochs=30, random_state=0)
unknown = MultiLabelKerasClassifier(**params).fit(X_train, labels)
as_zero = MultiLabelKerasClassifier(**params).fit(X_train, labels.fillna(0))
complete = labels.notna().all(axis=1).to_numpy()
dropped = MultiLabelKerasClassifier(**params).fit(X_train[complete], labels[complete])

for name, est in (
    ("unknown entries (NaN)", unknown),
    ("filled as 0", as_zero),
    ("rows without a gap", dropped),
):
    pred = est.predict(X_test)
    print(f"{name:>22}: test micro-F1 {f1_score(Y_test, pred, average='micro'):.3f}")
print("labels by name:", list(unknown.classes_))
