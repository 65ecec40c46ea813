"""Unknown label entries on the standard multi-label splits (../shared/datasets/splits).

Part "hide" (the default): for each split and each rate (30%, 50%, 70%), hide
that share of the training entries at random, then train the defaults

(a) with the hidden entries unknown (NaN): what skmultihead does with them;
(b) with them filled as 0, what a Keras user gets by default;
(c) on the rows without any gap, what scikit-learn forces (none may be left);
(d) on the full labels, once per split: the ceiling,

and report test micro- and macro-F1 on the fully labelled test split.

Part "auc": a sixth of the entries unknown in training and in test, as in a
multi-task assay table; mean ROC-AUC over labels on the known test entries of
(a), (b), and a random forest and a logistic regression trained per label on
that label's known rows.

Features scaled by StandardScaler (MaxAbsScaler for sparse X) fitted on the
training part; random_state as given (0 by default), one run each.

Run: python benchmarks/unknown_labels.py [--part hide|auc|all] [--data emotions,scene]
     [--rates 0.3,0.5,0.7] [--seed 0]
"""

import argparse
import time
import warnings

import numpy as np
from _common import SPLITS, load_split, machine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

from skmultihead import MultiLabelKerasClassifier


def _model(sparse, seed):
    return make_pipeline(
        MaxAbsScaler() if sparse else StandardScaler(), MultiLabelKerasClassifier(random_state=seed)
    )


def _f1(Y, pred):
    return f1_score(Y, pred, average="micro", zero_division=0), f1_score(
        Y, pred, average="macro", zero_division=0
    )


def _hide(Y, rate, rng):
    hidden = Y.astype(float)
    hidden[rng.rand(*Y.shape) < rate] = np.nan
    return hidden


def _fit(model, X, Y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rows with no known entry
        return model.fit(X, Y)


def hide(name, rates, seed):
    X_tr, X_te, Y_tr, Y_te, sparse = load_split(name)
    Y_tr, Y_te = np.asarray(Y_tr), np.asarray(Y_te)
    print(f"\n### {name} ({X_tr.shape[0]} train, {X_te.shape[0]} test, {Y_tr.shape[1]} labels)\n")
    print("| hidden | (a) unknown | (b) filled as 0 | (c) rows without a gap | (d) full labels |")
    print("|---|---|---|---|---|")
    t = time.perf_counter()
    full = _f1(Y_te, _model(sparse, seed).fit(X_tr, Y_tr).predict(X_te))
    full_s = time.perf_counter() - t
    for rate in rates:
        rng = np.random.RandomState(seed)
        hidden = _hide(Y_tr, rate, rng)
        known = ~np.isnan(hidden)
        a = _f1(Y_te, _fit(_model(sparse, seed), X_tr, hidden).predict(X_te))
        b = _f1(Y_te, _model(sparse, seed).fit(X_tr, np.nan_to_num(hidden)).predict(X_te))
        complete = known.all(axis=1)
        if complete.sum() >= 10 and (Y_tr[complete].sum(0) > 0).any():
            c_fit = _model(sparse, seed).fit(X_tr[complete], Y_tr[complete])
            c = f"{_cell(_f1(Y_te, c_fit.predict(X_te)))} ({complete.sum()} rows)"
        else:
            c = f"no model ({complete.sum()} rows)"
        print(
            f"| {rate:.0%} | **{_cell(a)}** | {_cell(b)} | {c} | {_cell(full)} ({full_s:.0f} s) |", flush=True
        )


def _cell(pair):
    return f"{pair[0]:.3f} / {pair[1]:.3f}"


def _mean_auc(Y, proba, known):
    aucs = []
    for j in range(Y.shape[1]):
        k = known[:, j]
        if len(np.unique(Y[k, j])) == 2:
            aucs.append(roc_auc_score(Y[k, j], proba[k, j]))
    return float(np.mean(aucs)), len(aucs)


def auc(name, seed, rate=1 / 6):
    X_tr, X_te, Y_tr, Y_te, sparse = load_split(name)
    Y_tr, Y_te = np.asarray(Y_tr), np.asarray(Y_te)
    rng = np.random.RandomState(seed)
    hidden = _hide(Y_tr, rate, rng)
    known_te = rng.rand(*Y_te.shape) >= rate
    rows = {}
    rows["(a) skmultihead, unknown entries"] = _fit(_model(sparse, seed), X_tr, hidden).predict_proba(X_te)
    rows["(b) skmultihead, filled as 0"] = (
        _model(sparse, seed).fit(X_tr, np.nan_to_num(hidden)).predict_proba(X_te)
    )
    scaler = MaxAbsScaler if sparse else StandardScaler
    for label, make in (
        (
            "random forest per label, known rows",
            lambda: RandomForestClassifier(100, random_state=seed, n_jobs=1),
        ),
        ("logistic regression per label, known rows", lambda: LogisticRegression(max_iter=2000)),
    ):
        proba = np.zeros(Y_te.shape)
        for j in range(Y_tr.shape[1]):
            k = ~np.isnan(hidden[:, j])
            y = hidden[k, j].astype(int)
            if len(np.unique(y)) < 2:
                proba[:, j] = y.mean() if len(y) else 0.0
                continue
            proba[:, j] = make_pipeline(scaler(), make()).fit(X_tr[k], y).predict_proba(X_te)[:, 1]
        rows[label] = proba
    print(f"\n### {name}: a sixth of the entries unknown in training and test\n")
    print("| model | mean ROC-AUC over labels, known test entries |")
    print("|---|---|")
    for label, proba in rows.items():
        value, n = _mean_auc(Y_te, proba, known_te)
        print(f"| {label} | {value:.4f} ({n} labels) |", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["hide", "auc", "all"], default="hide")
    parser.add_argument("--data", default=",".join(SPLITS))
    parser.add_argument("--rates", default="0.3,0.5,0.7")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rates = [float(r) for r in args.rates.split(",")]
    for name in args.data.split(","):
        if args.part in ("hide", "all"):
            print("\ntest micro-F1 / macro-F1 at threshold 0.5, defaults")
            hide(name, rates, args.seed)
        if args.part in ("auc", "all"):
            auc(name, args.seed)


if __name__ == "__main__":
    main()
