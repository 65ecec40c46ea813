"""Quality on the standard multi-label splits (../shared/datasets/splits).

For each of emotions, scene, yeast, medical and bibtex (the train/test
splits the literature reports on), test micro-F1, macro-F1 and Hamming loss of

- MultiLabelKerasClassifier with its defaults (threshold 0.5);
- the same with threshold="auto", for each threshold objective (one fit:
  the objective is a post-fit parameter);
- the rank cuts on those networks (post-fit too): min_labels=1 (at least one
  label per row) at 0.5 and with "auto", and top_k=k with k the training
  rows' mean label count, rounded;
- the same with one global threshold chosen by GridSearchCV (cv=3, micro-F1);
- the classical methods (``classical()``): one-vs-rest logistic regression
  and LinearSVC, MLPClassifier(256, early stopping), multi-output random
  forest and extra trees (100 trees), and an ensemble of 10 logistic-regression
  classifier chains in random orders (under 100 labels),

features scaled by StandardScaler (MaxAbsScaler for sparse X) fitted on the
training part, random_state=0, one run each.

Run: python benchmarks/quality.py [--data emotions,scene] [--no-grid] [--no-baselines]
     [--params '{"dropout": 0.2}']

With --seeds 0,1,2,3,4 it prints instead, per split, the threshold-0.5 test
micro-F1 of the estimator and of MLPClassifier(256, early_stopping=True) for
each random_state, and their means: how much of a difference one seed makes.
"""

import argparse
import json
import time

import numpy as np
from _common import SPLITS, load_split, machine
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, hamming_loss
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import ClassifierChain
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler
from sklearn.svm import LinearSVC

from skmultihead import MultiLabelKerasClassifier
from skmultihead._thresholds import OBJECTIVES


def scores(Y, pred):
    return (
        f1_score(Y, pred, average="micro", zero_division=0),
        f1_score(Y, pred, average="macro", zero_division=0),
        hamming_loss(Y, pred),
    )


class ChainEnsemble(ClassifierMixin, BaseEstimator):
    """Mean probability of ``n`` logistic-regression classifier chains in random label orders."""

    def __init__(self, n=10, random_state=0):
        self.n, self.random_state = n, random_state

    def fit(self, X, Y):
        Y = np.asarray(Y)
        # a label with one value in training is that value (a chain's logistic
        # regression cannot fit it; one-vs-rest predicts it constant too)
        self.varying_ = Y.min(axis=0) != Y.max(axis=0)
        self.constant_ = Y[0]
        self.chains_ = [
            ClassifierChain(
                LogisticRegression(max_iter=2000), order="random", random_state=self.random_state + i
            ).fit(X, Y[:, self.varying_])
            for i in range(self.n)
        ]
        return self

    def predict(self, X):
        out = np.tile(self.constant_, (X.shape[0], 1))
        proba = np.mean([c.predict_proba(X) for c in self.chains_], axis=0)
        out[:, self.varying_] = proba >= 0.5
        return out


def classical(sparse, n_labels, seed=0):
    """The classical methods, by name: unfitted pipelines (scaled as ours)."""
    scaler = MaxAbsScaler if sparse else StandardScaler
    methods = {
        "one-vs-rest logistic regression": OneVsRestClassifier(LogisticRegression(max_iter=2000)),
        "one-vs-rest LinearSVC": OneVsRestClassifier(LinearSVC()),
        "MLPClassifier(256, early_stopping=True)": MLPClassifier(
            (256,), early_stopping=True, max_iter=500, random_state=seed
        ),
        "random forest (100 trees)": RandomForestClassifier(100, n_jobs=1, random_state=seed),
        "extra trees (100 trees)": ExtraTreesClassifier(100, n_jobs=1, random_state=seed),
    }
    if n_labels < 100:  # 10 chains of 159 models each take minutes on bibtex
        methods["10 logistic-regression classifier chains"] = ChainEnsemble(10, seed)
    return {name: make_pipeline(scaler(), m) for name, m in methods.items()}


def evaluate(name, params, grid, baselines):
    X_tr, X_te, Y_tr, Y_te, sparse = load_split(name)
    scaler = MaxAbsScaler if sparse else StandardScaler
    rows = []

    def ours(**extra):
        return make_pipeline(scaler(), MultiLabelKerasClassifier(random_state=0, **params, **extra))

    t = time.perf_counter()
    default = ours().fit(X_tr, Y_tr)
    fit_s = time.perf_counter() - t
    at_half = default.predict(X_te)
    empty_at_half = int((at_half.sum(axis=1) == 0).sum())
    rows.append((f"skmultihead, threshold 0.5 ({fit_s:.0f} s)", scores(Y_te, at_half)))
    # the rank cuts: post-fit, on the same network
    k = max(1, int(round(Y_tr.sum(axis=1).mean())))
    default[-1].set_params(min_labels=1)
    rows.append(("threshold 0.5, min_labels=1 (at least one)", scores(Y_te, default.predict(X_te))))
    default[-1].set_params(min_labels=0, top_k=k)
    rows.append((f"top_k={k} (training rows' mean label count)", scores(Y_te, default.predict(X_te))))
    default[-1].set_params(top_k=None)
    auto = ours(threshold="auto").fit(X_tr, Y_tr)
    est = auto[-1]
    for objective in OBJECTIVES:
        if objective == "f1":
            continue
        est.set_params(threshold_objective=objective)
        pred = auto.predict(X_te)
        rows.append((f'threshold="auto", {objective}', scores(Y_te, pred)))
        if objective == "f1_micro":
            per_row = pred.sum(axis=1).mean()
            est.set_params(min_labels=1)
            rows.append(('threshold="auto", f1_micro, min_labels=1', scores(Y_te, auto.predict(X_te))))
            est.set_params(min_labels=0)
    if grid:
        search = GridSearchCV(
            ours(),
            {"multilabelkerasclassifier__threshold": [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6]},
            cv=KFold(3),
            scoring="f1_micro",
        ).fit(X_tr, Y_tr)
        best = search.best_params_["multilabelkerasclassifier__threshold"]
        rows.append((f"GridSearchCV global threshold ({best})", scores(Y_te, search.predict(X_te))))
    if baselines:
        for label, method in classical(sparse, Y_tr.shape[1]).items():
            t = time.perf_counter()
            method.fit(X_tr, Y_tr)
            took = time.perf_counter() - t
            rows.append((f"{label} ({took:.1f} s)", scores(Y_te, method.predict(X_te))))
    print(f"\n## {name} ({X_tr.shape[0]} train, {X_te.shape[0]} test, {Y_tr.shape[1]} labels)\n")
    print(
        f'labels predicted per test row with "auto" (f1_micro): {per_row:.2f} (truth {Y_te.sum(1).mean():.2f})\n'
    )
    print(f"test rows without any label at threshold 0.5: {empty_at_half} of {len(Y_te)}\n")
    print("| model | micro-F1 | macro-F1 | Hamming loss |")
    print("|---|---|---|---|")
    for label, (micro, macro, ham) in rows:
        print(f"| {label} | {micro:.3f} | {macro:.3f} | {ham:.4f} |", flush=True)
    return rows


def seeds_only(name, params, seeds):
    X_tr, X_te, Y_tr, Y_te, sparse = load_split(name)
    scaler = MaxAbsScaler if sparse else StandardScaler
    ours, mlp = [], []
    for seed in seeds:
        est = make_pipeline(scaler(), MultiLabelKerasClassifier(random_state=seed, **params)).fit(X_tr, Y_tr)
        ours.append(scores(Y_te, est.predict(X_te))[0])
        base = make_pipeline(
            scaler(), MLPClassifier((256,), early_stopping=True, max_iter=500, random_state=seed)
        ).fit(X_tr, Y_tr)
        mlp.append(scores(Y_te, base.predict(X_te))[0])
    cells = " | ".join(f"{a:.3f} / {b:.3f}" for a, b in zip(ours, mlp))
    print(f"| {name} | {cells} | **{sum(ours) / len(ours):.3f}** / {sum(mlp) / len(mlp):.3f} |", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=",".join(SPLITS))
    parser.add_argument("--params", default="{}", help="JSON of estimator parameters")
    parser.add_argument("--no-grid", action="store_true")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--seeds", help="comma-separated random_state values (see above)")
    args = parser.parse_args()
    params = json.loads(args.params)
    print(f"machine: {machine()}")
    print(f"parameters: {params or 'defaults'}")
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",")]
        print("\nthreshold-0.5 test micro-F1, skmultihead / MLPClassifier, per random_state:\n")
        print(f"| split | {' | '.join(f'random_state={s}' for s in seeds)} | mean |")
        print(f"|---|{'---|' * len(seeds)}---|")
        for name in args.data.split(","):
            seeds_only(name, params, seeds)
        return
    for name in args.data.split(","):
        evaluate(name, params, not args.no_grid, not args.no_baselines)


if __name__ == "__main__":
    main()
