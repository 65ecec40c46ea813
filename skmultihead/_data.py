"""X -> arrays and batches for Keras, and the forward pass for prediction."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import validate_data

# Up to this many rows, prediction calls the network once; larger inputs go
# through the same compiled graph in batches of max(batch_size, 256) rows.
DIRECT_ROWS = 1024


def check_X(estimator, X, reset: bool):
    """Validate X the scikit-learn way; float32, CSR for sparse input."""
    return validate_data(
        estimator,
        X,
        reset=reset,
        accept_sparse="csr",
        dtype=np.float32,
        allow_nd=estimator.model is not None,
        ensure_min_samples=1,
    )


def _to_tensor(X):
    if sp.issparse(X):
        import tensorflow as tf

        coo = X.tocoo()
        indices = np.column_stack([coo.row, coo.col]).astype(np.int64)
        return tf.sparse.reorder(tf.SparseTensor(indices, coo.data.astype(np.float32), coo.shape))
    return X


_FORWARD = "_skmultihead_forward"


def _compiled(model):
    """The model's forward pass as one graph: a small call then costs well
    under a millisecond instead of ``Model.predict``'s tens of milliseconds of
    set-up (a dataset and a predict function for every call).

    Kept on the model itself, so that it goes when the model goes.
    """
    fn = model.__dict__.get(_FORWARD)
    if fn is None:
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        # Every estimator's function shares this lambda's code, which TensorFlow's
        # frequent-retracing warning counts as one function retraced over and
        # over; each network is in fact traced once or twice.
        fn._omit_frequent_tracing_warning = True
        fn = model.__dict__.setdefault(_FORWARD, fn)  # atomic: racing threads share one
    return fn


def forward(model, X, batch_size: int) -> list:
    """Run ``model`` on X in batches; one NumPy array per output.

    Sparse X into a network with a dense input is densified one batch at a time.
    """
    expects_sparse = _expects_sparse(model)
    if not sp.issparse(X) and expects_sparse:
        X = sp.csr_matrix(X)
    densify = sp.issparse(X) and not expects_sparse
    fn = _compiled(model)
    n = X.shape[0]
    step = max(batch_size, 256) if densify or n > DIRECT_ROWS else n
    parts = []
    for start in range(0, n, step):
        part = X[start : start + step]
        out = fn(part.toarray() if densify else _to_tensor(part))
        parts.append([np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])])
    return parts[0] if len(parts) == 1 else [np.concatenate(p, axis=0) for p in zip(*parts)]


def _expects_sparse(model) -> bool:
    try:
        return any(getattr(t, "sparse", False) for t in model.inputs)
    except (AttributeError, ValueError):
        return False
