"""Threshold tuning: cost of a GridSearchCV over thresholds, and quality.

1. A search over 8 thresholds against a search over 1, n_jobs=1 and
   n_jobs=2 (with memory=): candidates that differ only in the threshold
   share one trained network per fold, so the ratio should be near 1
   (target: at most 1.2).
2. Macro/micro-F1 on yeast and scene (../shared/datasets) at threshold 0.5,
   with threshold="auto", and with a GridSearchCV-tuned global threshold,
   against MLPClassifier(256) and one-vs-rest logistic regression.

Run: python benchmarks/thresholds.py [--quick] [--part search|quality|all]
"""

import argparse
import tempfile

import numpy as np
from _common import load, machine, timed
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmultihead import MultiLabelKerasClassifier, _cache

THRESHOLDS = [0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]


def search_cost(X, Y, epochs):
    print("\n## GridSearchCV over 8 thresholds vs over 1 (yeast, cv=3)\n")
    print("| n_jobs | 1 threshold (s) | 8 thresholds (s) | ratio |")
    print("|---|---|---|---|")
    ratios = {}
    for n_jobs in (1, 2):
        times = {}
        # Warm the worker processes so that neither search pays their start-up.
        warm = MultiLabelKerasClassifier(hidden_layer_sizes=(8,), epochs=1, random_state=99)
        GridSearchCV(warm, {"threshold": [0.5]}, cv=KFold(2), n_jobs=n_jobs).fit(X[:100], Y[:100])
        for seed, grid in ((1, THRESHOLDS[-1:]), (2, THRESHOLDS)):
            _cache.clear()
            with tempfile.TemporaryDirectory() as memory:
                est = MultiLabelKerasClassifier(
                    hidden_layer_sizes=(256,),
                    dropout=0.0,
                    epochs=epochs,
                    random_state=seed,
                    memory=memory if n_jobs > 1 else None,
                )
                search = GridSearchCV(
                    est, {"threshold": grid}, cv=KFold(3), scoring="f1_micro", n_jobs=n_jobs
                )
                times[len(grid)], _ = timed(search.fit, X, Y)
        ratios[n_jobs] = times[8] / times[1]
        print(f"| {n_jobs} | {times[1]:.1f} | {times[8]:.1f} | {ratios[n_jobs]:.2f} |")
    return ratios


def f1s(Y, pred):
    return f1_score(Y, pred, average="macro", zero_division=0), f1_score(
        Y, pred, average="micro", zero_division=0
    )


def quality(name, epochs):
    X_tr, X_te, Y_tr, Y_te = load(name)
    rows = []
    ours = dict(hidden_layer_sizes=(256,), dropout=0.0, epochs=epochs, early_stopping=True, random_state=0)
    half = make_pipeline(StandardScaler(), MultiLabelKerasClassifier(**ours)).fit(X_tr, Y_tr)
    rows.append(("skmultihead, threshold 0.5", f1s(Y_te, half.predict(X_te))))
    auto = make_pipeline(StandardScaler(), MultiLabelKerasClassifier(threshold="auto", **ours)).fit(
        X_tr, Y_tr
    )
    rows.append(('skmultihead, threshold="auto" (per label, F1)', f1s(Y_te, auto.predict(X_te))))
    grid = {"multilabelkerasclassifier__threshold": list(np.round(np.arange(0.1, 0.61, 0.05), 2))}
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MultiLabelKerasClassifier(**ours)),
        grid,
        cv=KFold(3),
        scoring="f1_micro",
    ).fit(X_tr, Y_tr)
    best = search.best_params_["multilabelkerasclassifier__threshold"]
    rows.append((f"skmultihead, GridSearchCV global threshold ({best})", f1s(Y_te, search.predict(X_te))))
    mlp = make_pipeline(
        StandardScaler(), MLPClassifier((256,), early_stopping=True, max_iter=500, random_state=0)
    )
    rows.append(("sklearn MLPClassifier(256), 0.5", f1s(Y_te, mlp.fit(X_tr, Y_tr).predict(X_te))))
    ovr = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(max_iter=2000)))
    rows.append(("one-vs-rest logistic regression, 0.5", f1s(Y_te, ovr.fit(X_tr, Y_tr).predict(X_te))))
    print(f"\n## {name}: test macro-F1 / micro-F1\n")
    print("| model | macro-F1 | micro-F1 |")
    print("|---|---|---|")
    for label, (macro, micro) in rows:
        print(f"| {label} | {macro:.3f} | {micro:.3f} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="few epochs, for a smoke run")
    parser.add_argument("--part", choices=["search", "quality", "all"], default="all")
    args = parser.parse_args()
    epochs = 3 if args.quick else 200
    print(f"machine: {machine()}")
    if args.part in ("search", "all"):
        X, _, Y, _ = load("yeast")
        X = StandardScaler().fit_transform(X)
        ratios = search_cost(X, Y, epochs=3 if args.quick else 30)
    if args.part in ("quality", "all"):
        for name in ("yeast", "scene"):
            quality(name, epochs)
    if args.part in ("search", "all"):
        print(
            f"\n8-vs-1 search cost ratio: n_jobs=1 {ratios[1]:.2f}, n_jobs=2 {ratios[2]:.2f} (target <= 1.2)"
        )


if __name__ == "__main__":
    main()
