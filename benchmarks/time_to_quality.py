"""Time to quality: how soon the defaults reach the best classical method's test micro-F1.

For each standard split (../shared/datasets/splits) and IMDB
(../shared/datasets/imdb.npz, the first 30% of rows held out as in
``_common.load``):

1. fit the quick classical methods (one-vs-rest logistic regression and
   LinearSVC, MLPClassifier(256, early_stopping=True)), each timed, and read
   their test micro-F1 at their own decision rule;
2. fit ``MultiLabelKerasClassifier()`` with its defaults, reading test
   micro-F1 at threshold 0.5 after every epoch (a callback; the reading's own
   time is subtracted from the clock), and note when it first reaches the best
   of those methods' micro-F1;
3. print, per split, that time over the best method's fit time (the *time to
   quality ratio*: at most 1.0 is the goal where that method trains for a
   second or more), and the defaults' whole fit over MLPClassifier's (at most
   3, or the fit under 2 s, on the others).

Features scaled by StandardScaler (MaxAbsScaler for sparse X) fitted on the
training part; random_state=0; one run each, in this process (the first
split's fit pays the process's one-time imports and tracing, as a user's
first fit does).

Run: python benchmarks/time_to_quality.py [--data emotions,scene,...,imdb] [--params '{}']
"""

import argparse
import json
import time
import warnings

import keras
from _common import SPLITS, load, load_split, machine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import MaxAbsScaler, StandardScaler
from sklearn.svm import LinearSVC

from skmultihead import MultiLabelKerasClassifier


def micro(Y, pred):
    return f1_score(Y, pred, average="micro", zero_division=0)


class EpochReader(keras.callbacks.Callback):
    """Test micro-F1 at threshold 0.5 after each epoch, and the training time before it."""

    def __init__(self, X_test, Y_test):
        super().__init__()
        self.X_test, self.Y_test = X_test, Y_test
        self.readings = []  # (seconds of training so far, micro-F1)

    def on_train_begin(self, logs=None):
        self.reading_s = 0.0

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        logits = self.model.predict(self.X_test, batch_size=1024, verbose=0)
        logits = logits[0] if isinstance(logits, list) else logits
        f1 = micro(self.Y_test, (logits >= 0).astype(int))  # sigmoid(z) >= 0.5 where z >= 0
        end = time.perf_counter()
        self.reading_s += end - start
        self.readings.append((end - self.fit_start - self.reading_s, f1))


def data(name):
    if name == "imdb":
        X_tr, X_te, Y_tr, Y_te = load("imdb")
        import scipy.sparse as sp

        return X_tr, X_te, Y_tr, Y_te, sp.issparse(X_tr)
    return load_split(name)


def classical(sparse, seed=0):
    return {
        "one-vs-rest logistic regression": OneVsRestClassifier(LogisticRegression(max_iter=2000)),
        "one-vs-rest LinearSVC": OneVsRestClassifier(LinearSVC()),
        "MLPClassifier": MLPClassifier((256,), early_stopping=True, max_iter=500, random_state=seed),
    }


def measure(name, params):
    X_tr, X_te, Y_tr, Y_te, sparse = data(name)
    scaler = (MaxAbsScaler if sparse else StandardScaler)().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, method in classical(sparse).items():
            t = time.perf_counter()
            method.fit(X_tr, Y_tr)
            results[label] = (time.perf_counter() - t, micro(Y_te, method.predict(X_te)))
    best_label = max(results, key=lambda k: results[k][1])
    best_s, best_f1 = results[best_label]
    reader = EpochReader(X_te, Y_te)
    est = MultiLabelKerasClassifier(random_state=0, callbacks=[reader], **params)
    reader.fit_start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X_tr, Y_tr)
    whole_s = time.perf_counter() - reader.fit_start - reader.reading_s
    final_f1 = micro(Y_te, est.predict(X_te))
    reached = next((s for s, f1 in reader.readings if f1 >= best_f1), None)
    mlp_s = results["MLPClassifier"][0]
    ratio = "never" if reached is None else f"{reached:.1f} s / {best_s:.1f} s = {reached / best_s:.2f}"
    print(
        f"| {name} ({X_tr.shape[0]} rows) | {best_label} {best_f1:.3f} | {ratio} | "
        f"{len(reader.readings)} epochs, {final_f1:.3f} | "
        f"{whole_s:.1f} s / {mlp_s:.1f} s = {whole_s / mlp_s:.1f} |",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=",".join((*SPLITS, "imdb")))
    parser.add_argument("--params", default="{}", help="JSON of estimator parameters")
    args = parser.parse_args()
    params = json.loads(args.params)
    print(f"machine: {machine()}")
    print(f"parameters: {params or 'defaults'}\n")
    print(
        "| split | best quick classical method, test micro-F1 | defaults' time to reach it / "
        "that method's fit time | defaults: epochs, final micro-F1 at 0.5 | defaults' whole fit / "
        "MLPClassifier's |"
    )
    print("|---|---|---|---|---|")
    for name in args.data.split(","):
        measure(name, params)


if __name__ == "__main__":
    main()
