"""X -> arrays and batches for Keras, and the forward pass for prediction."""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import validate_data

# Up to this many rows, prediction calls the model directly instead of going
# through ``Model.predict``, whose fixed cost (building a dataset and a
# predict function) is tens of milliseconds.
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


_LOCK = threading.Lock()
_FORWARD = "_skmultihead_forward"


def _compiled(model):
    """The model's forward pass as one graph: a small call then costs well
    under a millisecond instead of the eager layer-by-layer dispatch.

    Kept on the model itself, so that it goes when the model goes.
    """
    fn = model.__dict__.get(_FORWARD)
    if fn is None:
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        with _LOCK:
            fn = model.__dict__.setdefault(_FORWARD, fn)
    return fn


def forward(model, X, batch_size: int) -> list:
    """Run ``model`` on X; one NumPy array per output."""
    if sp.issparse(X) and not _expects_sparse(model):
        return _forward_dense_batches(model, X, batch_size)
    if not sp.issparse(X) and _expects_sparse(model):
        X = sp.csr_matrix(X)
    if X.shape[0] <= DIRECT_ROWS:
        out = _compiled(model)(_to_tensor(X))
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [np.asarray(o) for o in outs]
    # Model.predict builds its predict function lazily; serialise that.
    with _LOCK:
        out = model.predict(X, batch_size=max(batch_size, 256), verbose=0)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _forward_dense_batches(model, X, batch_size):
    step = max(batch_size, 256)
    parts = []
    for start in range(0, X.shape[0], step):
        parts.append(forward(model, X[start : start + step].toarray(), batch_size))
    return [np.concatenate(p, axis=0) for p in zip(*parts)]


def _expects_sparse(model) -> bool:
    try:
        return any(getattr(t, "sparse", False) for t in model.inputs)
    except (AttributeError, ValueError):
        return False
