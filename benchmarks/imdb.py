"""Training time to equal quality on IMDB (120,919 x 1,001 sparse, 28 labels).

sklearn's MLPClassifier(256) trains 4 epochs (batch 256); its test micro-F1
at threshold 0.5 is the quality to reach. skmultihead trains the same network
(Dense(256, relu) -> 28 sigmoids, Adam) one epoch at a time (``partial_fit``)
until it reaches that micro-F1; the time spent in ``partial_fit`` is counted
(evaluation excluded), first call included: building the network, tracing and
compiling are part of what a user waits for.

Each skmultihead configuration runs in a fresh process on the backend of
``KERAS_BACKEND``, so one configuration's warm-up (imports, compiled steps)
never helps the next. MLPClassifier runs in this process, in the same run.

Run: KERAS_BACKEND=jax python benchmarks/imdb.py [--levers] [--scikeras] [--quick]

Without ``--levers`` it measures the user guide's recommended settings for such
data; ``--levers`` measures each lever on its own against the defaults;
``--scikeras`` adds scikeras on the same network (dense X: its
``partial_fit`` takes no sparse input).
"""

import argparse
import json
import os
import subprocess
import sys
import time

from _common import load, machine
from sklearn.metrics import f1_score

BATCH = 256
MAX_EPOCHS = 10
# The user guide's settings for large sparse data ("Large sparse data").
RECOMMENDED = {"steps_per_execution": 32}
LEVERS = [
    ("defaults (batch 256 here, as MLPClassifier)", {}),
    ("steps_per_execution=32", {"steps_per_execution": 32}),
    ("jit_compile=True (dense X: XLA has no sparse matmul)", {"jit_compile": True, "dense": True}),
    ("dense X (densified before fit)", {"dense": True}),
    ("batch 1024, learning_rate 0.004", {"batch_size": 1024, "learning_rate": 0.004}),
    (
        "batch 1024, learning_rate 0.004, steps_per_execution=32",
        {"batch_size": 1024, "learning_rate": 0.004, "steps_per_execution": 32},
    ),
]


def micro_f1(Y, pred):
    return f1_score(Y, pred, average="micro", zero_division=0)


def data(quick):
    X_tr, X_te, Y_tr, Y_te = load("imdb")
    if quick:
        X_tr, Y_tr, X_te, Y_te = X_tr[:8000], Y_tr[:8000], X_te[:3000], Y_te[:3000]
    return X_tr, X_te, Y_tr, Y_te


def until(target, est, X, Y, X_te, Y_te):
    spent, f1, epoch = 0.0, 0.0, 0
    for epoch in range(1, MAX_EPOCHS + 1):  # noqa: B007 (the last epoch is reported)
        t = time.perf_counter()
        est.partial_fit(X, Y)
        spent += time.perf_counter() - t
        f1 = micro_f1(Y_te, est.predict(X_te))
        if f1 >= target:
            break
    return {"time": spent, "f1": f1, "epochs": epoch, "reached": f1 >= target}


def child(config: dict, target: float, quick: bool) -> None:
    """One configuration, in this (fresh) process; prints its result as JSON."""
    X_tr, X_te, Y_tr, Y_te = data(quick)
    config = dict(config)
    what = config.pop("estimator", "skmultihead")
    if config.pop("dense", False):
        X_tr, X_te = X_tr.toarray(), X_te.toarray()
    if what == "scikeras":
        from _common import scikeras_multilabel
        from scikeras.wrappers import KerasClassifier

        est = KerasClassifier(scikeras_multilabel(Y_tr.shape[1]), batch_size=BATCH, verbose=0, random_state=0)
    else:
        from skmultihead import MultiLabelKerasClassifier

        config.setdefault("batch_size", BATCH)
        est = MultiLabelKerasClassifier(hidden_layer_sizes=(256,), dropout=0.0, random_state=0, **config)
    print(json.dumps(until(target, est, X_tr, Y_tr, X_te, Y_te)))


def run_child(config: dict, target: float, quick: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(config), "--target", repr(target)]
    out = subprocess.run(cmd + (["--quick"] if quick else []), capture_output=True, text=True, env=os.environ)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--levers", action="store_true")
    parser.add_argument("--scikeras", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--target", type=float)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child), args.target, args.quick)

    from sklearn.neural_network import MLPClassifier

    print(f"machine: {machine()}")
    X_tr, X_te, Y_tr, Y_te = data(args.quick)
    epochs = 2 if args.quick else 4
    print(
        f"train {X_tr.shape[0]:,} x {X_tr.shape[1]:,} sparse ({X_tr.nnz / X_tr.shape[0]:.1f} non-zeros a row), "
        f"{Y_tr.shape[1]} labels\n"
    )
    mlp = MLPClassifier((256,), batch_size=BATCH, max_iter=epochs, random_state=0)
    t = time.perf_counter()
    mlp.fit(X_tr, Y_tr)
    t_mlp = time.perf_counter() - t
    target = micro_f1(Y_te, mlp.predict(X_te))

    rows = [("sklearn MLPClassifier(256)", {"time": t_mlp, "f1": target, "epochs": epochs, "reached": True})]
    configs = LEVERS if args.levers else [(f"skmultihead, recommended settings {RECOMMENDED}", RECOMMENDED)]
    for label, config in configs:
        rows.append(
            (f"skmultihead: {label}" if args.levers else label, run_child(config, target, args.quick))
        )
    if args.scikeras:
        rows.append(
            ("scikeras (dense X)", run_child({"estimator": "scikeras", "dense": True}, target, args.quick))
        )

    print(
        f"backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}; quality to reach: micro-F1 {target:.3f}\n"
    )
    print("| estimator | epochs | training time (s) | test micro-F1 | time / MLPClassifier's |")
    print("|---|---|---|---|---|")
    for label, r in rows:
        mark = "" if r["reached"] else " (not reached)"
        print(
            f"| {label} | {r['epochs']} | {r['time']:.1f} | {r['f1']:.3f}{mark} | {r['time'] / t_mlp:.2f} |"
        )


if __name__ == "__main__":
    main()
