"""X -> arrays and batches for Keras, and the forward pass for prediction."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import validate_data

from . import _backend

# Up to this many rows, prediction calls the network once; larger inputs go
# through the same compiled graph in batches of max(batch_size, 256) rows.
DIRECT_ROWS = 1024

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def check_X(estimator, X, reset: bool):
    """Validate X the scikit-learn way; float32, CSR for sparse input.

    At predict, a plain 2-D float array of the fitted width, all finite, for an
    estimator fitted without feature names, is what ``validate_data`` would
    return anyway: it goes through without that function's fixed cost (about
    a tenth of a millisecond, most of a 1-row prediction). Anything else, and
    every error, takes the full validation.
    """
    if (
        not reset
        and type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOATS
        and X.shape[0] >= 1
        and X.shape[1] == getattr(estimator, "n_features_in_", None)
        and not hasattr(estimator, "feature_names_in_")
        and np.isfinite(X).all()
    ):
        return X.astype(np.float32, copy=False)
    return validate_data(
        estimator,
        X,
        reset=reset,
        accept_sparse="csr",
        dtype=np.float32,
        allow_nd=estimator.model is not None,
        ensure_min_samples=1,
    )


def forward(model, X, batch_size: int) -> list:
    """Run ``model`` on X in batches; one NumPy array per output.

    Sparse X into a network with a dense input is densified one batch at a time.
    """
    expects_sparse = _expects_sparse(model)
    if not sp.issparse(X) and expects_sparse:
        X = sp.csr_matrix(X)
    densify = sp.issparse(X) and not expects_sparse
    fn = _backend.predictor(model)
    n = X.shape[0]
    step = max(batch_size, 256) if densify or n > DIRECT_ROWS else n
    parts = []
    for start in range(0, n, step):
        part = X[start : start + step]
        parts.append(fn(part.toarray() if densify else part))
    return parts[0] if len(parts) == 1 else [np.concatenate(p, axis=0) for p in zip(*parts)]


def _expects_sparse(model) -> bool:
    try:
        return any(getattr(t, "sparse", False) for t in model.inputs)
    except (AttributeError, ValueError):
        return False
