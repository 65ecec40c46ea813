"""Wrapper cost: fit time against plain Keras, and 1-row prediction latency.

1. fit: MultiLabelKerasClassifier against keras.Model.fit on the same network
   (Dense(256, relu) -> Dense(L) logits, binary cross-entropy from logits,
   Adam), data, epochs and batch size; repetitions alternate, the median
   ratio is reported (target: at most 1.05). Measured without metrics (the
   wrapper's own cost) and with each side's metrics.
2. predict_proba on 1 row, hidden layers (512, 512), against sklearn's
   MLPClassifier with the same hidden layers (target: no slower, on every
   backend), keras Model.predict on the same row and scikeras's
   KerasClassifier.predict_proba.
3. predict_proba on 200,000 rows against keras Model.predict with the same
   batch size: large inputs are batched, and must not be slower for it.

Run: python benchmarks/overhead.py [--quick]
     (per backend: KERAS_BACKEND=jax python benchmarks/overhead.py, and torch)
"""

import argparse
import statistics
import time
import warnings

import keras
import numpy as np
from _common import machine, scikeras_multilabel
from sklearn.exceptions import ConvergenceWarning

from skmultihead import MultiLabelKerasClassifier, _cache

HIDDEN = (512, 512)


def plain_keras(X, Y, epochs, batch_size, metrics):
    keras.utils.set_random_seed(0)
    inp = keras.Input((X.shape[1],))
    h = keras.layers.Dense(256, activation="relu")(inp)
    out = keras.layers.Dense(Y.shape[1])(h)
    model = keras.Model(inp, out)
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=metrics,
    )
    model.fit(X, Y.astype("float32"), epochs=epochs, batch_size=batch_size, verbose=0)
    return model


def ours(X, Y, epochs, batch_size, metrics):
    _cache.clear()  # each repetition trains (a cached fit would take no time)
    # The same settings as plain Keras: every row trains, no validation data
    # (early_stopping="auto" would hold 10% out from 10,000 rows on).
    return MultiLabelKerasClassifier(
        hidden_layer_sizes=(256,),
        dropout=0.0,  # plain Keras's network has no dropout
        epochs=epochs,
        batch_size=batch_size,
        metrics=metrics,
        random_state=0,
        early_stopping=False,
    ).fit(X, Y)


def fit_overhead(X, Y, epochs, batch_size, reps):
    print("\n## fit: skmultihead against plain Keras\n")
    print(
        f"data {X.shape[0]} x {X.shape[1]} dense, {Y.shape[1]} labels; {epochs} epochs, batch {batch_size}; median of {reps}\n"
    )
    print("| metrics | plain Keras (s) | skmultihead (s) | median ratio | ratio of fastest runs |")
    print("|---|---|---|---|---|")
    keras_metrics = [
        keras.metrics.BinaryAccuracy(threshold=0.0),
        keras.metrics.F1Score(average="micro", threshold=0.5),
    ]
    results = {}
    for label, ours_metrics, their_metrics in (
        ("none (the wrapper's own cost)", [], []),
        ("each side's defaults", None, keras_metrics),
    ):
        plain_keras(X[:256], Y[:256], 1, batch_size, [])  # warm-up: TF's first-use costs
        ours(X[:256], Y[:256], 1, batch_size, ours_metrics)
        t_plain, t_ours = [], []
        for _ in range(reps):
            t = time.perf_counter()
            plain_keras(
                X, Y, epochs, batch_size, [type(m).from_config(m.get_config()) for m in their_metrics]
            )
            t_plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            ours(X, Y, epochs, batch_size, ours_metrics)
            t_ours.append(time.perf_counter() - t)
        ratio = statistics.median(o / p for o, p in zip(t_ours, t_plain))
        best = min(t_ours) / min(t_plain)
        results[label] = ratio
        print(
            f"| {label} | {statistics.median(t_plain):.2f} | {statistics.median(t_ours):.2f} | {ratio:.3f} | {best:.3f} |"
        )
    return results


def latency(X, Y, reps):
    from sklearn.neural_network import MLPClassifier

    print("\n## predict_proba on 1 row, hidden layers (512, 512)\n")
    clf = MultiLabelKerasClassifier(hidden_layer_sizes=HIDDEN, epochs=1, random_state=0).fit(X, Y)
    # Model.predict on a copy: reading model_ hands the network to the caller,
    # and the estimator then predicts on the backend (see Network.private).
    served = MultiLabelKerasClassifier(hidden_layer_sizes=HIDDEN, epochs=1, random_state=0).fit(X, Y).model_
    row = X[:1]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(HIDDEN, max_iter=1).fit(X, Y)
    candidates = {
        "skmultihead predict_proba": lambda: clf.predict_proba(row),
        "sklearn MLPClassifier predict_proba": lambda: mlp.predict_proba(row),
        "keras Model.predict": lambda: served.predict(row, verbose=0),
    }
    if keras.backend.backend() == "tensorflow":  # scikeras runs on TensorFlow only
        from scikeras.wrappers import KerasClassifier

        sk = KerasClassifier(scikeras_multilabel(Y.shape[1]), epochs=1, verbose=0).fit(X, Y)
        candidates["scikeras predict_proba"] = lambda: sk.predict_proba(row)
    times = {}
    for name, fn in candidates.items():
        for _ in range(5):
            fn()  # warm-up
        samples = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        times[name] = statistics.median(samples)
    ours_t = times["skmultihead predict_proba"]
    print("| method | median (ms) | its time / skmultihead's |")
    print("|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {t * 1000:.3f} | {t / ours_t:.2f} |")
    return ours_t / times["sklearn MLPClassifier predict_proba"]


def large_input(X, Y, n_rows, reps):
    print(f"\n## predict_proba on {n_rows:,} rows\n")
    clf = MultiLabelKerasClassifier(hidden_layer_sizes=(256,), dropout=0.0, epochs=1, random_state=0).fit(
        X, Y
    )
    big = np.tile(X, (n_rows // len(X) + 1, 1))[:n_rows]
    batch = max(clf.batch_size, 256)
    clf.predict_proba(big[:5000])  # warm-up: traces
    clf.model_.predict(big[:5000], batch_size=batch, verbose=0)
    t_ours, t_keras = [], []
    for _ in range(reps):
        t = time.perf_counter()
        clf.predict_proba(big)
        t_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        clf.model_.predict(big, batch_size=batch, verbose=0)
        t_keras.append(time.perf_counter() - t)
    ratio = statistics.median(o / k for o, k in zip(t_ours, t_keras))
    print("| method | median (s) |")
    print("|---|---|")
    print(f"| skmultihead predict_proba | {statistics.median(t_ours):.2f} |")
    print(f"| keras Model.predict, batch {batch} | {statistics.median(t_keras):.2f} |")
    print(f"\nmedian ratio skmultihead / Model.predict: {ratio:.2f}")
    return ratio


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rng = np.random.RandomState(0)
    n = 4000 if args.quick else 30000
    X = rng.randn(n, 100).astype("float32")
    Y = (X[:, :10] + rng.randn(n, 10) > 0.8).astype(int)
    ratios = fit_overhead(X, Y, epochs=2 if args.quick else 5, batch_size=64, reps=2 if args.quick else 9)
    latency_ratio = latency(X[:2000], Y[:2000], reps=50 if args.quick else 300)
    n_large = 20_000 if args.quick else 200_000
    large = large_input(X[:2000], Y[:2000], n_large, reps=2 if args.quick else 5)
    print(
        f"\nfit overhead ratio (no metrics): {ratios[next(iter(ratios))]:.3f} (target <= 1.05); "
        f"1-row predict_proba takes {latency_ratio:.2f}x MLPClassifier's (target <= 1); "
        f"{n_large:,}-row predict_proba takes {large:.2f}x Model.predict's time"
    )


if __name__ == "__main__":
    main()
