"""Memory: repeated fits stay bounded, and a large sparse input never densifies.

1. 50 fits in a row (a 50-candidate search): resident memory after each fit;
   growth from fit 10 to fit 50 is reported, against the memory of one fit's
   data and network as the baseline of the same run.
2. A 200,000 x 50,000 CSR input at 0.1% density with 50 labels (40 GB if
   densified): one epoch and a full predict_proba, peak resident memory
   (target: under 3 GB). Run in a child process so the peak is its own.

Run: python benchmarks/memory.py [--quick]
"""

import argparse
import gc
import subprocess
import sys

import numpy as np
import psutil
from _common import machine

from skmultihead import MultiLabelKerasClassifier


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def repeated_fits(n_fits):
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 50).astype("float32")
    Y = (X[:, :8] > 0.5).astype(int)
    rss = []
    for i in range(n_fits):
        clf = MultiLabelKerasClassifier(hidden_layer_sizes=(64,), epochs=2, learning_rate=1e-3 * (1 + i % 7))
        clf.fit(X, Y).predict_proba(X)
        del clf
        gc.collect()
        rss.append(rss_mb())
    print(f"\n## {n_fits} fits in a row\n")
    print("| after fit | resident memory (MB) |")
    print("|---|---|")
    for i in sorted({0, 9, n_fits // 2 - 1, n_fits - 1}):
        print(f"| {i + 1} | {rss[i]:.0f} |")
    per_fit = (rss[-1] - rss[9]) / (n_fits - 10)
    print(f"\ngrowth from fit 10 to fit {n_fits}: {rss[-1] - rss[9]:.1f} MB ({per_fit:.2f} MB per fit)")
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
clf = MultiLabelKerasClassifier(hidden_layer_sizes=(256,), epochs=1, batch_size=256, random_state=0).fit(X, Y)
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    per_fit = repeated_fits(15 if args.quick else 50)
    peak = sparse_scale(*((20_000, 5_000) if args.quick else (200_000, 50_000)))
    print(f"\nrepeated fits: {per_fit:.2f} MB per fit; sparse-scale peak: {peak / 1024:.2f} GB (target < 3 GB)")


if __name__ == "__main__":
    main()
