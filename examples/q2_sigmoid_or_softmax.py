"""Each object can be in several classes: softmax or sigmoid?
==========================================================

Q2: each object can belong to several classes: softmax or sigmoid? which
loss?  Sigmoid + binary cross-entropy from logits. The estimators choose from y.

Run: ``python examples/q2_sigmoid_or_softmax.py``
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier

rng = np.random.RandomState(0)
X = rng.randn(500, 8).astype("float32")
several = (X[:, :4] > 0).astype(int)  # an object may be in several classes
exactly_one = np.argmax(X[:, :4], axis=1)  # exactly one class per object

for name, est, y in [
    ("several classes per object", MultiLabelKerasClassifier(epochs=5, random_state=0), several),
    ("exactly one class per object", MultiClassKerasClassifier(epochs=5, random_state=0), exactly_one),
]:
    est.fit(X, y)
    loss = est._network_.train_model.loss
    activation = est.model_.layers[-1].get_config()["activation"]
    print(
        f"{name}: task={est.task_!r}, output activation={activation}, "
        f"loss={type(loss).__name__}(from_logits={loss.get_config()['from_logits']})"
    )

try:
    MultiClassKerasClassifier(epochs=1).fit(X, several)
except ValueError as err:
    print("MultiClassKerasClassifier on multi-label y says:\n ", err)
