"""I want two outputs from one network, each with its own loss
===========================================================

Q6: two outputs forked from one network, each with its own categorical
loss.  Give MultiClassKerasClassifier one column per output: it builds one
shared trunk with one head per column, a loss per head, metrics per head.

Run: ``python examples/q6_two_heads.py``
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from skmultihead import MultiClassKerasClassifier

rng = np.random.RandomState(0)
X = rng.randn(2000, 10).astype("float32")
colour = np.array(["red", "green", "blue"])[np.argmax(X[:, :3], axis=1)]
size = np.array(["small", "large"])[(X[:, 3] + X[:, 4] > 0).astype(int)]
Y = np.column_stack([colour, size])

clf = MultiClassKerasClassifier(
    hidden_layer_sizes=(64,), epochs=15, learning_rate=0.005, loss_weights=[1.0, 0.5], random_state=0
)
clf.fit(X[:1500], Y[:1500])
print(f"task={clf.task_!r}, heads={clf.n_outputs_}, classes={[c.tolist() for c in clf.classes_]}")
print("network outputs:", [t.shape for t in clf.model_.outputs])
print(
    "per-head training loss, last epoch:",
    {k: round(v[-1], 3) for k, v in clf.history_.items() if k.endswith("_loss")},
)
pred = clf.predict(X[1500:])
print("first predictions:", pred[:3].tolist())
print(
    f"held-out accuracy: colour {np.mean(pred[:, 0] == Y[1500:, 0]):.3f}, size {np.mean(pred[:, 1] == Y[1500:, 1]):.3f}, "
    f"both right {clf.score(X[1500:], Y[1500:]):.3f}"
)
