"""How were the thresholds chosen, and how did training go?
========================================================

Look rather than read: the tuned thresholds and the training curves.

Fits a multi-label network with early stopping and threshold="auto", then
draws two figures (the gallery shows them below) and saves them in the
current folder as

- thresholds.png: per label, micro-F1 on the held-out rows as that label's
  threshold moves, the chosen threshold marked (ThresholdDisplay);
- training_curves.png: loss and metrics per epoch, training and validation,
  the epoch whose weights were kept marked (TrainingCurvesDisplay).

Run: ``python examples/plots.py``   (needs matplotlib: ``pip install -e ".[plot]"``)
"""

import sys

import matplotlib

matplotlib.use("Agg")  # no screen needed

from sklearn.datasets import make_multilabel_classification  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skmultihead import MultiLabelKerasClassifier, ThresholdDisplay, TrainingCurvesDisplay  # noqa: E402

quick = "--quick" in sys.argv
X, Y = make_multilabel_classification(n_samples=1500, n_features=20, n_classes=8, n_labels=2, random_state=0)
X = StandardScaler().fit_transform(X)

clf = MultiLabelKerasClassifier(
    hidden_layer_sizes=(32,) if quick else (128,),
    epochs=3 if quick else 100,
    early_stopping=True,
    threshold="auto",
    random_state=0,
).fit(X, Y)
print("thresholds_:", clf.thresholds_.round(2))

# %%
# The thresholds: per label, micro-F1 on the held-out rows as that label's
# threshold moves, the chosen threshold marked.
ThresholdDisplay.from_estimator(clf).figure_.savefig("thresholds.png", dpi=90)

# %%
# The training curves: loss and metrics per epoch, training and validation,
# the epoch whose weights were kept marked.
TrainingCurvesDisplay.from_estimator(clf).figure_.savefig("training_curves.png", dpi=90)
print("wrote thresholds.png and training_curves.png")
