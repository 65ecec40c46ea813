"""Shared helpers for the benchmarks: data sets and timing."""

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DATASETS = Path(
    os.environ.get("SKMULTIHEAD_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets")
)


def load(name: str):
    """(X_train, X_test, Y_train, Y_test) for a data set of ../shared/datasets.

    Exits cleanly (status 0, with a message) when the data is not there.
    """
    path = DATASETS / f"{name}.npz"
    if not path.exists():
        print(f"skipped: {path} not found (set SKMULTIHEAD_DATASETS to its folder)")
        sys.exit(0)
    z = np.load(path)
    if "X" in z:
        X = z["X"].astype(np.float32)
    else:
        import scipy.sparse as sp

        X = sp.csr_matrix((z["X_data"], z["X_indices"], z["X_indptr"]), shape=tuple(z["X_shape"]))
        X = X.astype(np.float32)
    Y = z["Y"].astype(np.int64)
    if name == "yeast":  # the conventional split
        return X[:1500], X[1500:], Y[:1500], Y[1500:]
    from sklearn.model_selection import train_test_split

    return train_test_split(X, Y, test_size=0.3, random_state=0)


def machine() -> str:
    import keras
    import sklearn

    from skmultihead import _backend

    backend, version, *rest = _backend.environment() + [""]
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}, Keras {keras.__version__} on {backend} {version} "
        f"{' '.join(r for r in rest if r)}, scikit-learn {sklearn.__version__}"
    )


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def scikeras_multilabel(n_labels: int):
    """A scikeras model function for the benchmarks' network: Dense(256, relu)
    -> n_labels sigmoids, compiled as scikeras users do."""
    import keras

    def model(meta):
        m = keras.Sequential(
            [
                keras.Input((meta["n_features_in_"],)),
                keras.layers.Dense(256, activation="relu"),
                keras.layers.Dense(n_labels, activation="sigmoid"),
            ]
        )
        m.compile(loss="binary_crossentropy", optimizer="adam")
        return m

    return model


SPLITS = ("emotions", "scene", "yeast", "medical", "bibtex")


def load_split(name: str):
    """(X_train, X_test, Y_train, Y_test, is_sparse) of a standard split in ../shared/datasets/splits.

    Exits cleanly (status 0, with a message) when the data is not there.
    """
    path = DATASETS / "splits" / f"{name}.npz"
    if not path.exists():
        print(f"skipped: {path} not found (set SKMULTIHEAD_DATASETS to its folder)")
        sys.exit(0)
    z = np.load(path, allow_pickle=False)
    fmt = str(z["x_format"])
    parts = []
    for part in ("X_train", "X_test"):
        if fmt == "dense":
            parts.append(z[part].astype(np.float32))
        else:
            import scipy.sparse as sp

            parts.append(
                sp.csr_matrix(
                    (z[f"{part}_data"], z[f"{part}_indices"], z[f"{part}_indptr"]),
                    shape=tuple(z[f"{part}_shape"]),
                ).astype(np.float32)
            )
    return parts[0], parts[1], z["Y_train"].astype(np.int64), z["Y_test"].astype(np.int64), fmt != "dense"
