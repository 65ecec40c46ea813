"""Training time to equal quality on IMDB (120,919 x 1,001 sparse, 28 labels).

sklearn's MLPClassifier(256) trains for a fixed number of epochs; its test
micro-F1 is the quality to reach. skmultihead and scikeras train the same
network (Dense(256, relu) -> 28 sigmoids, Adam, batch 256) one epoch at a
time (partial_fit) until they reach that micro-F1; the time spent training is
compared (evaluation time excluded). X stays sparse for skmultihead and
MLPClassifier.

Run: python benchmarks/imdb.py [--quick]
"""

import argparse
import time

from _common import load, machine, scikeras_multilabel
from sklearn.metrics import f1_score
from sklearn.neural_network import MLPClassifier

from skmultihead import MultiLabelKerasClassifier

BATCH = 256


def micro_f1(Y, pred):
    return f1_score(Y, pred, average="micro", zero_division=0)


def until(target, est, X, Y, X_te, Y_te, max_epochs, fit_kwargs=None):
    spent, f1 = 0.0, 0.0
    epoch = 0
    for epoch in range(1, max_epochs + 1):  # noqa: B007 (the last epoch is reported)
        t = time.perf_counter()
        est.partial_fit(X, Y, **(fit_kwargs or {}))
        spent += time.perf_counter() - t
        f1 = micro_f1(Y_te, est.predict(X_te))
        if f1 >= target:
            break
    return spent, f1, epoch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    X_tr, X_te, Y_tr, Y_te = load("imdb")
    if args.quick:
        X_tr, Y_tr, X_te, Y_te = X_tr[:8000], Y_tr[:8000], X_te[:3000], Y_te[:3000]
    epochs = 2 if args.quick else 4
    print(
        f"train {X_tr.shape[0]:,} x {X_tr.shape[1]:,} sparse ({X_tr.nnz / X_tr.shape[0]:.1f} non-zeros a row), 28 labels\n"
    )

    mlp = MLPClassifier((256,), batch_size=BATCH, max_iter=epochs, random_state=0)
    t = time.perf_counter()
    mlp.fit(X_tr, Y_tr)
    t_mlp = time.perf_counter() - t
    target = micro_f1(Y_te, mlp.predict(X_te))

    ours = MultiLabelKerasClassifier(hidden_layer_sizes=(256,), batch_size=BATCH, random_state=0)
    t_ours, f1_ours, ep_ours = until(target, ours, X_tr, Y_tr, X_te, Y_te, 2 * epochs)

    from scikeras.wrappers import KerasClassifier

    sk = KerasClassifier(scikeras_multilabel(Y_tr.shape[1]), batch_size=BATCH, verbose=0, random_state=0)
    # scikeras does not take sparse X through partial_fit; it gets dense arrays.
    X_tr_d, X_te_d = X_tr.toarray(), X_te.toarray()
    t_sk, f1_sk, ep_sk = until(target, sk, X_tr_d, Y_tr, X_te_d, Y_te, 2 * epochs)

    print("| estimator | epochs | training time (s) | test micro-F1 | time / skmultihead |")
    print("|---|---|---|---|---|")
    print(f"| sklearn MLPClassifier(256) | {epochs} | {t_mlp:.1f} | {target:.3f} | {t_mlp / t_ours:.2f} |")
    print(f"| skmultihead | {ep_ours} | {t_ours:.1f} | {f1_ours:.3f} | 1.00 |")
    print(f"| scikeras (dense X) | {ep_sk} | {t_sk:.1f} | {f1_sk:.3f} | {t_sk / t_ours:.2f} |")
    print(
        f"\nto reach MLPClassifier's micro-F1 {target:.3f}: MLPClassifier/skmultihead = {t_mlp / t_ours:.2f}, "
        f"scikeras/skmultihead = {t_sk / t_ours:.2f}"
    )


if __name__ == "__main__":
    main()
