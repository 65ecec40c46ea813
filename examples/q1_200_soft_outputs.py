"""I have 200 outputs, each a probability in [0, 1]: binary cross-entropy over sigmoids?
=====================================================================================

Q1: 200 independent outputs, each a probability in [0, 1]. Is binary
cross-entropy over 200 sigmoid units right?  Yes: that is multi-label, and
the targets may be soft percentages. MultiLabelKerasClassifier sees floats in
[0, 1] and trains on them as they are.

Run: ``python examples/q1_200_soft_outputs.py``
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from skmultihead import MultiLabelKerasClassifier

rng = np.random.RandomState(0)
n, d, k = 3000, 30, 200
X = rng.randn(n, d).astype("float32")
W = rng.randn(d, k) / np.sqrt(d)
soft_targets = 1 / (1 + np.exp(-2 * X @ W))  # 200 "percentages" per row

clf = MultiLabelKerasClassifier(hidden_layer_sizes=(128,), epochs=20, learning_rate=0.003, random_state=0)
clf.fit(X[:2500], soft_targets[:2500])
loss = clf._network_.train_model.loss
print(f"task: {clf.task_}, outputs: {clf.predict_proba(X[:1]).shape[1]} sigmoid units")
print(f"loss: {type(loss).__name__}(from_logits={loss.get_config()['from_logits']})")
proba = clf.predict_proba(X[2500:])
mae = np.abs(proba - soft_targets[2500:]).mean()
print(f"held-out mean absolute error of the 200 predicted percentages: {mae:.3f}")
print(f"  (predicting 0.5 everywhere would give {np.abs(0.5 - soft_targets[2500:]).mean():.3f})")
