"""X -> arrays and batches for Keras, and the forward pass for prediction."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import _check_sample_weight, validate_data

from . import _backend
from ._targets import missing_mask

# Up to this many rows, prediction calls the network once; larger inputs go
# through the same compiled graph in batches of max(batch_size, 256) rows.
DIRECT_ROWS = 1024
# Larger inputs, or outputs of more than CHUNK_ENTRIES values (rows x output
# units: many labels), are predicted max(batch_size, CALL_ROWS) rows a call, so
# that no (n, L) array is needed where the answer is read a part at a time.
CALL_ROWS = 256
CHUNK_ENTRIES = 1 << 20

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _user_model(estimator) -> bool:
    return estimator.model is not None or getattr(estimator, "_keras_build_fn", None) is not None


def check_X(estimator, X, reset: bool):
    """Validate X the scikit-learn way: float32 for the built-in network; for a
    network of the user's, numbers as given (objects become float32); CSR for
    sparse input.

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
        return X if _user_model(estimator) else X.astype(np.float32, copy=False)
    _refuse_missing_times(X)
    user_model = _user_model(estimator)
    if user_model and not sp.issparse(X):
        # A network of the user's gets numbers as they are, as in scikeras:
        # integer ids for an Embedding stay exact (float32 holds integers up to
        # 2**24 only) and uint8 images stay a quarter of the size; Keras casts
        # them to each Input's dtype. Text or object columns become float32.
        given = getattr(X, "dtype", None)
        checked = validate_data(
            estimator, X, reset=reset, dtype="numeric", allow_nd=True, ensure_min_samples=1
        )
        if given is None or given.kind == "O" or checked.dtype.kind == "O":
            checked = checked.astype(np.float32)
        return checked
    return validate_data(
        estimator,
        X,
        reset=reset,
        accept_sparse="csr",
        dtype=np.float32,
        allow_nd=user_model,
        ensure_min_samples=1,
    )


def _refuse_missing_times(X) -> None:
    """NaT in datetime or timedelta columns of X is refused: scikit-learn's
    validation turns it into the number -9.2e18 without a word."""
    if isinstance(X, np.ndarray):
        columns = {None: X} if X.dtype.kind in "mM" else {}
    elif hasattr(X, "columns") and hasattr(X, "dtypes"):  # pandas, polars
        columns = {
            name: X[name]
            for name, dtype in zip(X.columns, X.dtypes)
            if getattr(dtype, "kind", None) in ("m", "M") or getattr(dtype, "is_temporal", lambda: False)()
        }
    else:
        return
    for name, column in columns.items():
        mask = np.atleast_1d(np.asarray(missing_mask(column)))
        if mask.any():
            rows = np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))
            where = "X" if name is None else f"Column {name!r} of X"
            raise ValueError(
                f"{where} holds missing dates or times (NaT) at rows {rows[:5].tolist()}"
                f"{' and more' if len(rows) > 5 else ''}. Drop or fill those rows (e.g. with "
                "df.dropna() or an imputer in a Pipeline) before fit or predict."
            )


def check_encoded(X, where: str):
    """What a subclass's ``feature_encoder`` made of X, checked: an array, a
    sparse matrix, or a list or dict of arrays with as many rows each."""
    parts = list(X.values()) if isinstance(X, dict) else X
    if isinstance(parts, (list, tuple)):  # one array per input of the model
        if not parts or not all(isinstance(p, np.ndarray) for p in parts):
            raise TypeError(
                f"{where} returned a {type(X).__name__}; for a model with several inputs "
                "it must hold one NumPy array per input."
            )
        if len({p.shape[0] for p in parts}) != 1:
            raise ValueError(
                f"{where} returned arrays of {sorted({p.shape[0] for p in parts})} rows; every "
                "input needs one row per sample."
            )
    elif not (isinstance(X, np.ndarray) or sp.issparse(X)):
        raise TypeError(
            f"{where} must transform X into an array, a sparse matrix, or a list or dict of "
            f"arrays (several inputs); it returned {type(X).__name__}."
        )
    return X


def n_rows(X) -> int:
    """Rows of X: an array, or the list or dict of arrays a subclass's
    ``feature_encoder`` makes for a model with several inputs."""
    if isinstance(X, dict):
        X = next(iter(X.values()))
    elif isinstance(X, (list, tuple)):
        X = X[0]
    return X.shape[0]


def take(X, rows):
    """``X[rows]`` for an array, a list or a dict of arrays."""
    if isinstance(X, dict):
        return {k: v[rows] for k, v in X.items()}
    if isinstance(X, (list, tuple)):
        return [x[rows] for x in X]
    return X[rows]


def shape(X):
    """X's shape, or the shapes of its arrays (several inputs)."""
    if isinstance(X, dict):
        return {k: tuple(v.shape) for k, v in X.items()}
    if isinstance(X, (list, tuple)):
        return [tuple(x.shape) for x in X]
    return tuple(X.shape)


def forward(model, X, batch_size: int) -> list:
    """Run ``model`` on X in batches; one NumPy array per output.

    Sparse X into a network with a dense input is densified one batch at a time.
    """
    parts = [outputs for _, outputs in forward_parts(model, X, batch_size)]
    return parts[0] if len(parts) == 1 else [np.concatenate(p, axis=0) for p in zip(*parts)]


def forward_parts(model, X, batch_size: int):
    """``(rows, outputs)`` for each call :func:`forward` makes, in order: the
    same calls, so that what is read a part at a time (many labels) is
    exactly what one pass gives."""
    expects_sparse = _expects_sparse(model)
    if not sp.issparse(X) and expects_sparse:
        X = sp.csr_matrix(X)
    densify = sp.issparse(X) and not expects_sparse
    fn = _backend.predictor(model)
    for rows in call_slices(n_rows(X), batch_size, _output_units(model), densify):
        part = take(X, rows)
        yield rows, fn(part.toarray() if densify else part)


def call_slices(n: int, batch_size, units: int = 1, densify: bool = False) -> list:
    """The rows of each call into the network when predicting: all ``n`` in
    one call up to ``DIRECT_ROWS`` rows and ``CHUNK_ENTRIES`` outputs (rows x
    units), else ``max(batch_size, CALL_ROWS)`` rows a call (always, for
    sparse X densified a batch at a time)."""
    if n <= DIRECT_ROWS and not densify and n * units <= CHUNK_ENTRIES:
        return [slice(0, n)]
    step = max(int(batch_size or 32), CALL_ROWS)
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def _output_units(model) -> int:
    try:
        return sum(int(np.prod(t.shape[1:])) for t in model.outputs)
    except (AttributeError, ValueError, TypeError):  # a model not built on keras.Input
        return 1


def _expects_sparse(model) -> bool:
    try:
        return any(getattr(t, "sparse", False) for t in model.inputs)
    except (AttributeError, ValueError):
        return False


def check_weights(X, sample_weight):
    """``sample_weight`` checked against X: (per-row weights or None, per-entry weights or None).

    A 2-D ``sample_weight`` of shape (n_samples, n_labels) holds one weight
    per entry of y (checked against y when the targets are encoded).
    """
    if sample_weight is None:
        return None, None
    if not np.isscalar(sample_weight):
        sample_weight = np.asarray(sample_weight)
    if np.ndim(sample_weight) == 2:
        return None, _check_entry_weight(sample_weight, n_rows(X))
    given = None if np.isscalar(sample_weight) else sample_weight
    if given is not None and given.dtype.kind in "biuf" and given.size and not np.any(given != 0):
        sample_weight = given  # all zero: said in the words below, before any other check
    else:
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)
    if not np.any(sample_weight > 0):
        raise ValueError(
            "All sample weights are zero (only zeros were passed in sample_weight); at least "
            "one must be positive."
        )
    return sample_weight, None


def _check_entry_weight(sample_weight, n: int) -> np.ndarray:
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf" or w.shape[0] != n:
        raise ValueError(
            f"sample_weight of shape {w.shape} and dtype {w.dtype} was given for {n} rows: per-entry "
            "weights are numbers of shape (n_samples, n_labels), one per entry of y."
        )
    w = w.astype(np.float32)
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError(
            "sample_weight holds negative, infinite or NaN entries, or only zeros; per-entry weights "
            "must be finite, non-negative, and not all zero."
        )
    return w
