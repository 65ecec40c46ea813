"""Memory: repeated fits stay bounded, and a large sparse input never densifies.

1. 50 fits in a row (a 50-candidate search), each followed by a prediction:
   resident memory after each fit; growth per fit from fit 10 to fit 50, for
   skmultihead (unseeded and seeded) against plain Keras fitting the same
   network in the same run (which keeps every traced training step alive:
   tensorflow/tensorflow#97697).
2. A 200,000 x 50,000 CSR input at 0.1% density with 50 labels (40 GB if
   densified): one epoch and a full predict_proba, peak resident memory
   (target: under 3 GB). Run in a child process so the peak is its own.
3. Many labels: a sparse y of 20,000 x 20,000 (5 labels a row; 1.5 GB
   densified in float32), X 20,000 x 5,000 CSR at 1%: peak resident memory
   growth through one epoch of hidden_layer_sizes=(64,) and a predict,
   against y's dense size, at threshold 0.5 and with threshold="auto".

Run: python benchmarks/memory.py [--quick] [--part repeated|sparse|labels|all]
     (per backend: KERAS_BACKEND=jax python benchmarks/memory.py, and torch)
"""

import argparse
import ctypes
import gc
import subprocess
import sys

import keras
import numpy as np
import psutil
from _common import machine

import skmultihead
from skmultihead import MultiLabelKerasClassifier


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def _plain_keras_fit(X, Y, lr):
    inp = keras.Input((X.shape[1],))
    out = keras.layers.Dense(Y.shape[1])(keras.layers.Dense(64, activation="relu")(inp))
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.Adam(lr), keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(X, Y.astype("float32"), epochs=2, verbose=0)
    model.predict(X, verbose=0)


def _ours_fit(X, Y, lr, random_state=None):
    clf = MultiLabelKerasClassifier(
        hidden_layer_sizes=(64,), dropout=0.0, epochs=2, learning_rate=lr, random_state=random_state
    )
    clf.fit(X, Y).predict_proba(X)


def _ours_fit_seeded(X, Y, lr):
    # The fit cache would serve repeated seeded fits without training; every fit trains here.
    with skmultihead.config_context(fit_cache=False):
        _ours_fit(X, Y, lr, random_state=0)


def repeated_fits(n_fits):
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 50).astype("float32")
    Y = (X[:, :8] > 0.5).astype(int)
    growth = {}
    print(f"\n## {n_fits} fits in a row (64 hidden units, 2 epochs, 2,000 x 50, 8 labels)\n")
    print(f"| loop | after fit 10 (MB) | after fit {n_fits} (MB) | growth per fit (MB) |")
    print("|---|---|---|---|")
    loops = (
        ("plain Keras, same network (baseline)", _plain_keras_fit),
        ("skmultihead, defaults (3 metrics, unseeded)", _ours_fit),
        ("skmultihead, random_state=0 (as in a search)", _ours_fit_seeded),
    )
    for name, fit in loops:
        rss = []
        for i in range(n_fits):
            fit(X, Y, 1e-3 * (1 + i % 7))
            gc.collect()
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # count live memory, not freed pages
            rss.append(rss_mb())
        growth[name] = (rss[-1] - rss[9]) / (n_fits - 10)
        print(f"| {name} | {rss[9]:.0f} | {rss[-1]:.0f} | {growth[name]:.3f} |")
    baseline = growth["plain Keras, same network (baseline)"]
    per_fit = max(v for k, v in growth.items() if k.startswith("skmultihead"))
    if baseline > 0.01:
        print(f"\nskmultihead / plain Keras growth per fit: {per_fit / baseline:.3f}")
    else:  # a backend on which plain Keras does not grow either
        print(f"\nplain Keras grows {baseline:.3f} MB per fit, skmultihead {per_fit:.3f} MB")
    return per_fit


CHILD = r"""
import os, sys, time, resource
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, scipy.sparse as sp
from skmultihead import MultiLabelKerasClassifier
n, d, labels = int(sys.argv[1]), int(sys.argv[2]), 50
rng = np.random.default_rng(0)
X = sp.random(n, d, density=0.001, format="csr", dtype=np.float32, random_state=rng)
W = rng.standard_normal((d, labels)).astype(np.float32)
Y = (X @ W > 0.5).astype(np.int8)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
t = time.perf_counter()
clf = MultiLabelKerasClassifier(hidden_layer_sizes=(256,), dropout=0.0, epochs=1, batch_size=256, random_state=0).fit(X, Y)
fit_s = time.perf_counter() - t
t = time.perf_counter()
P = clf.predict_proba(X)
pred_s = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
print(f"{X.data.nbytes / 2**20 + X.indices.nbytes / 2**20:.0f} {base:.0f} {peak:.0f} {fit_s:.1f} {pred_s:.1f} {P.shape[0]}")
"""


def sparse_scale(n, d):
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(d)], capture_output=True, text=True)
    if out.returncode:
        print(out.stderr[-3000:])
        raise SystemExit(1)
    x_mb, base, peak, fit_s, pred_s, rows = out.stdout.split()[-6:]
    dense_gb = n * d * 4 / 2**30
    print(f"\n## {n:,} x {d:,} CSR at 0.1% density, 50 labels\n")
    print("| what | value |")
    print("|---|---|")
    print(f"| X as CSR | {x_mb} MB (densified: {dense_gb:.1f} GB) |")
    print(f"| resident memory with data loaded, before fit | {base} MB |")
    print(f"| peak resident memory through fit (1 epoch) and predict_proba | {peak} MB |")
    print(f"| fit, 1 epoch, batch 256 | {fit_s} s |")
    print(f"| predict_proba, {int(rows):,} rows | {pred_s} s |")
    return float(peak)


LABELS_CHILD = r"""
import os, sys, time, resource
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, scipy.sparse as sp
from skmultihead import MultiLabelKerasClassifier
n, d, labels, threshold = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
threshold = threshold if threshold == "auto" else float(threshold)
rng = np.random.default_rng(0)
X = sp.random(n, d, density=0.01, format="csr", dtype=np.float32, random_state=rng)
cols = rng.integers(0, labels, size=(n, 5))  # 5 labels a row
Y = sp.csr_matrix((np.ones(n * 5, dtype=np.int8), cols.ravel(), np.arange(0, n * 5 + 1, 5)), shape=(n, labels))
Y.sum_duplicates(); Y.data[:] = 1
# the runtime's own memory (TensorFlow's threads, kernels, a traced step) first, on small data
MultiLabelKerasClassifier(hidden_layer_sizes=(64,), epochs=1, random_state=0, fit_cache=False).fit(
    X[:64], sp.csr_matrix(Y[:64, :8].toarray() | np.eye(64, 8, dtype=np.int8)))
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 2**10
base = rss()
t = time.perf_counter()
clf = MultiLabelKerasClassifier(hidden_layer_sizes=(64,), epochs=1, threshold=threshold, random_state=0, fit_cache=False).fit(X, Y)
fit_s = time.perf_counter() - t
fit_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
t = time.perf_counter()
P = clf.predict(X)
pred_s = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
params = sum(int(np.prod(v.shape)) for v in clf._network_.train_model.weights)
x_mb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
print(x_mb, params * 4 / 2**20, base, fit_peak, peak, fit_s, pred_s, type(P).__name__, P.nnz)
"""


def many_labels(n, d, labels, threshold):
    """Peak resident memory growth of a fit on a sparse y of many labels, against y's dense size."""
    out = subprocess.run(
        [sys.executable, "-c", LABELS_CHILD, str(n), str(d), str(labels), threshold],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        print(out.stderr[-3000:])
        raise SystemExit(1)
    x_mb, net_mb, base, fit_peak, peak, fit_s, pred_s, kind, nnz = out.stdout.split()[-9:]
    x_mb, net_mb, base, fit_peak, peak = map(float, (x_mb, net_mb, base, fit_peak, peak))
    dense_mb = n * labels * 4 / 2**20
    batch_mb = 32 * labels * 4 / 2**20
    growth = max(fit_peak, peak) - base
    print(
        f"\n## y {n:,} x {labels:,} CSR (5 labels a row), X {n:,} x {d:,} CSR at 1%, threshold={threshold}\n"
    )
    print("| what | value |")
    print("|---|---|")
    print(f"| y densified (float32) | {dense_mb:,.0f} MB |")
    print(f"| X as CSR | {x_mb:.0f} MB |")
    print(
        f"| network weights, (64,) hidden (x3 with Adam's moments) | {net_mb:.1f} MB ({3 * net_mb:.0f} MB) |"
    )
    print(f"| one batch of y, 32 rows dense | {batch_mb:.1f} MB |")
    print(f"| resident memory before fit (after a small warm-up fit) | {base:.0f} MB |")
    print(f"| peak growth through fit (1 epoch) | {fit_peak - base:.0f} MB |")
    print(
        f"| peak growth through fit and predict ({kind}, {int(nnz):,} labels predicted) | {growth:.0f} MB |"
    )
    print(f"| fit, 1 epoch | {float(fit_s):.1f} s |")
    print(f"| predict, {n:,} rows | {float(pred_s):.1f} s |")
    print(f"\npeak growth / dense size of y: {growth / dense_mb:.3f}")
    return growth / dense_mb


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--part", choices=["repeated", "sparse", "labels", "all"], default="all")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if args.part in ("repeated", "all"):
        per_fit = repeated_fits(15 if args.quick else 50)
        print(f"\nrepeated fits: {per_fit:.3f} MB per fit")
    if args.part in ("sparse", "all"):
        peak = sparse_scale(*((20_000, 5_000) if args.quick else (200_000, 50_000)))
        print(f"\nsparse-scale peak: {peak / 1024:.2f} GB (target < 3 GB)")
    if args.part in ("labels", "all"):
        size = (5_000, 5_000, 5_000) if args.quick else (20_000, 5_000, 20_000)
        for threshold in ("0.5", "auto"):
            many_labels(*size, threshold)


if __name__ == "__main__":
    main()
