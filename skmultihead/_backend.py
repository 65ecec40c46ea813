"""Everything that depends on which Keras backend runs: one module.

The rest of the package speaks Keras only. Nothing here imports TensorFlow,
JAX or PyTorch at import time; each function imports its backend's library
when it is first called under that backend, so that ``import skmultihead``
under ``KERAS_BACKEND=jax`` or ``torch`` never loads TensorFlow.

What lives here:

- :func:`predictor`: a model's forward pass compiled once per model
  (``tf.function``, ``jax.jit``, or eager ``torch.no_grad``), so that a small
  ``predict_proba`` costs well under a millisecond instead of
  ``Model.predict``'s set-up;
- :func:`supports_sparse`: whether a network can take a sparse input;
- :func:`environment`: what identifies the backend in a cache key;
- :func:`rng_state` / :func:`set_rng_state`: the backend library's own
  global random state, restored after a seeded fit;
- :func:`prepare_optimizer` and :func:`release_cached_kernels`: two
  TensorFlow memory fixes (no-ops elsewhere).
"""

from __future__ import annotations

import os
import random

import keras
import numpy as np
import scipy.sparse as sp

TENSORFLOW, JAX, TORCH = "tensorflow", "jax", "torch"

_FORWARD = "_skmultihead_forward"


def name() -> str:
    return keras.backend.backend()


def supports_sparse() -> bool:
    """Whether a Keras input may be sparse (TensorFlow and JAX; not torch)."""
    return name() in (TENSORFLOW, JAX)


def environment() -> list:
    """The backend's name, its library's version, and (on TensorFlow) the
    active distribution strategy: parts of a fit's cache key."""
    backend = name()
    env = [backend]
    if backend == TENSORFLOW:
        import tensorflow as tf

        env += [tf.__version__, type(tf.distribute.get_strategy()).__qualname__]
    elif backend == JAX:
        import jax

        env += [jax.__version__, jax.default_backend()]
    elif backend == TORCH:
        import torch

        env += [torch.__version__]
    return env


# ---- one fit on several devices ---------------------------------------------
def check_distribution(distribution) -> None:
    """A ``distribution`` this backend can train under, or a clear error (before any training)."""
    if distribution is None:
        return
    if isinstance(distribution, str) and distribution.startswith("<not saved"):
        raise ValueError(
            f"The 'distribution' parameter is {distribution}: a strategy belongs to one "
            "process's devices and is never saved or pickled. Give it again with "
            "set_params(distribution=...) before refitting."
        )
    backend = name()
    if backend == TENSORFLOW:
        import tensorflow as tf

        if not isinstance(distribution, tf.distribute.Strategy):
            raise TypeError(
                "On the TensorFlow backend, distribution must be a tf.distribute.Strategy "
                f"(e.g. tf.distribute.MirroredStrategy()); got {type(distribution).__name__}."
            )
    elif backend == JAX:
        # keras.distribution exports DataParallel and ModelParallel, not their base
        base = keras.distribution.DataParallel.__mro__[1]
        if not isinstance(distribution, base):
            raise TypeError(
                "On the JAX backend, distribution must be a Keras distribution "
                f"(e.g. keras.distribution.DataParallel()); got {type(distribution).__name__}."
            )
    else:
        raise ValueError(
            f"distribution is supported on the TensorFlow and JAX backends; Keras on "
            f"{backend} has no distribution API to train one model on several devices. "
            "Use KERAS_BACKEND=jax or tensorflow, or distribution=None."
        )


def distribution_scope(distribution):
    """The context in which a fit under ``distribution`` builds, compiles and trains."""
    import contextlib

    if distribution is None:
        return contextlib.nullcontext()
    return distribution.scope()


# ---- GPUs in the worker processes of a parallel search ----------------------
_placed = False


def worker_index() -> int | None:
    """This process's index among a parallel search's workers, or None in a
    process that no other Python process started (the user's own).

    joblib's loky workers are named ``LokyProcess-<n>`` and a ``multiprocessing``
    pool's ``...-<n>``; the trailing number, counted from 1, is the index.
    Other workers (Dask's) take their process id.
    """
    import multiprocessing
    import re

    if multiprocessing.parent_process() is None:
        return None
    found = re.search(r"(\d+)$", multiprocessing.current_process().name)
    return int(found.group(1)) - 1 if found else os.getpid()


def place_worker(index=None, tf_config=None) -> str | None:
    """Spread the workers of a parallel search over the visible GPUs (once per process).

    Without this, TensorFlow puts every worker's network on the first GPU and
    lets each process take all of its memory, so ``n_jobs`` workers run out
    of memory together. A worker (see ``worker_index``) sees only GPU
    ``index % n_gpus`` and lets its memory grow as needed; JAX workers get
    the same default device and no preallocation; torch workers the same
    current device. The user's own process, a machine without GPUs, or
    ``SKMULTIHEAD_WORKER_GPUS=0`` in the environment leave everything as it
    is. Returns the device chosen, if any.
    """
    global _placed
    if _placed and index is None:
        return None
    _placed = True
    if os.environ.get("SKMULTIHEAD_WORKER_GPUS", "1") == "0":
        return None
    index = worker_index() if index is None else index
    if index is None:
        return None
    backend = name()
    try:
        if backend == TENSORFLOW:
            if tf_config is None:
                import tensorflow as tf

                tf_config = tf.config
            gpus = tf_config.list_physical_devices("GPU")
            if not gpus:
                return None
            gpu = gpus[index % len(gpus)]
            tf_config.set_visible_devices([gpu], "GPU")
            tf_config.experimental.set_memory_growth(gpu, True)
            return str(getattr(gpu, "name", gpu))
        if backend == JAX:
            os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            if not gpus:
                return None
            gpu = gpus[index % len(gpus)]
            jax.config.update("jax_default_device", gpu)
            return str(gpu)
        if backend == TORCH:
            import torch

            if not torch.cuda.is_available():
                return None
            device = index % torch.cuda.device_count()
            torch.cuda.set_device(device)
            return f"cuda:{device}"
    except RuntimeError:  # the devices were set up already: they stay as they are
        return None
    return None


# ---- random state -----------------------------------------------------------
def rng_state():
    """The backend library's global random state, where seeding a fit changes
    it and it can be given back (torch's generators); else None."""
    if name() == TORCH:
        import torch

        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        return torch.random.get_rng_state(), cuda
    return None


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed``, without importing TensorFlow on JAX or torch.

    Keras's version seeds TensorFlow whenever it is installed, which imports
    it (about 2 s and 460 MB) although a JAX or torch fit never runs a
    TensorFlow op. Here TensorFlow is seeded when it is the backend or is
    already imported; everything else is what Keras does.
    """
    import sys

    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
    except ImportError:  # another Keras layout: its own function
        keras.utils.set_random_seed(seed)
        return
    if name() == TENSORFLOW or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if name() == TORCH:
        import torch

        torch.manual_seed(seed)


def set_rng_state(state) -> None:
    if state is None:
        return
    import torch

    cpu, cuda = state
    torch.random.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


# ---- prediction -----------------------------------------------------------
def predictor(model):
    """``f(X) -> list of NumPy arrays``: the model's forward pass in inference
    mode, compiled once and kept on the model itself (so that it goes when the
    model goes). X is a NumPy array or, where the backend takes sparse input,
    a SciPy CSR matrix."""
    fn = model.__dict__.get(_FORWARD)
    if fn is None:
        fn = {TENSORFLOW: _tf_predictor, JAX: _jax_predictor, TORCH: _torch_predictor}.get(
            name(), _eager_predictor
        )(model)
        fn = model.__dict__.setdefault(_FORWARD, fn)  # atomic: racing threads share one
    return fn


def _as_list(out) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


_ROWS = 64  # predictions run on a multiple of this many rows (see _jax_predictor)


def _row_padding(n) -> int:
    """Rows of zeros that take a batch of ``n`` rows to a multiple of ``_ROWS``
    (none for one row, or where ``n`` is unknown: several inputs, as they are)."""
    return 0 if n is None or n <= 1 or n % _ROWS == 0 else _ROWS - n % _ROWS


def _with_zero_rows(X: np.ndarray, pad: int) -> np.ndarray:
    return np.concatenate([X, np.zeros((pad, *X.shape[1:]), dtype=X.dtype)])


def _tf_predictor(model):
    import tensorflow as tf

    graph = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    # Every estimator's function shares this lambda's code, which TensorFlow's
    # frequent-retracing warning counts as one function retraced over and
    # over; each network is in fact traced once or twice.
    graph._omit_frequent_tracing_warning = True

    def run(X):
        # Padded to a multiple of _ROWS as on JAX (see there): oneDNN's kernels
        # too round a row by where it falls in the batch.
        n = X.shape[0] if isinstance(X, np.ndarray) or sp.issparse(X) else None
        pad = _row_padding(n)
        if sp.issparse(X):
            coo = X.tocoo()
            indices = np.column_stack([coo.row, coo.col]).astype(np.int64)
            shape = (coo.shape[0] + pad, coo.shape[1])
            X = tf.sparse.reorder(tf.SparseTensor(indices, coo.data.astype(np.float32), shape))
        elif pad:
            X = _with_zero_rows(X, pad)
        return [o.numpy()[:n] for o in _as_list(graph(X))]

    return run


def _jax_predictor(model):
    import jax
    from jax.experimental import sparse as jax_sparse

    @jax.jit
    def graph(trainable, non_trainable, x):
        out, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return out

    def run(X):
        n = X.shape[0] if isinstance(X, np.ndarray) else None  # several inputs: as they are
        pad = _row_padding(n)
        if sp.issparse(X):
            X = _padded_bcoo(X, jax_sparse)
        elif pad:
            # XLA's CPU kernels round a row by where it falls in the batch (a
            # 1-unit head is a matrix-vector product, vectorised over rows, with
            # a scalar tail), so a row's probability could change in its last
            # bit with the row order. Padded to a multiple of _ROWS, every
            # row is computed the same way (and fewer batch shapes compile).
            X = _with_zero_rows(X, pad)
        # The variables' current values go in as arguments, so that weights
        # changed by partial_fit or set_weights (or a layer made trainable or
        # frozen) are always the ones used.
        out = graph(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            X,
        )
        return [np.asarray(o)[:n] for o in _as_list(out)]

    return run


def _padded_bcoo(X, jax_sparse):
    """CSR -> BCOO with its stored entries padded to a power of two.

    ``jax.jit`` compiles once per input shape, and a BCOO's shape includes its
    number of stored entries, which differs from batch to batch: unpadded, every
    batch of new data compiled anew (seconds per call). Padding entries point
    out of bounds, which JAX's sparse operations ignore.
    """
    coo = X.tocoo()
    nse = coo.nnz
    capacity = 1 << max(nse - 1, 0).bit_length()
    index_dtype = np.int32 if max(X.shape) < np.iinfo(np.int32).max else np.int64
    indices = np.empty((capacity, 2), dtype=index_dtype)
    indices[:, 0], indices[:, 1] = X.shape  # out of bounds: padding
    indices[:nse, 0], indices[:nse, 1] = coo.row, coo.col
    data = np.zeros(capacity, dtype=np.float32)
    data[:nse] = coo.data
    return jax_sparse.BCOO((data, indices), shape=X.shape)


def _torch_predictor(model):
    import torch

    def run(X):
        if sp.issparse(X):  # torch networks have dense inputs
            X = X.toarray()
        with torch.no_grad():
            out = model(X, training=False)
        return [o.detach().cpu().numpy() for o in _as_list(out)]

    return run


def _eager_predictor(model):
    def run(X):
        if sp.issparse(X):
            X = X.toarray()
        return [keras.ops.convert_to_numpy(o) for o in _as_list(model(X, training=False))]

    return run


# ---- training data ---------------------------------------------------------
def sparse_batches(X, y, sample_weight, batch_size: int, shuffle):
    """Training data for ``Model.fit`` when X or y is a SciPy sparse matrix and
    Keras's own batches would not do; else None, and the arrays go to Keras as
    they are. A sparse y is only ever densified a batch at a time.

    - JAX, sparse X: a ``keras.utils.PyDataset`` of padded BCOO batches. Keras
      turns each batch of SciPy sparse X into a BCOO whose number of stored
      entries differs from batch to batch, and ``jax.jit`` compiles the
      training step anew for each: seconds per batch. Padded to a power of
      two, the batches share a handful of compiled steps.
    - JAX, sparse y: the same batches, with dense rows of y (Keras would hand
      the loss a BCOO, which Keras's losses cannot read).
    - TensorFlow, sparse y: Keras's own ``tf.data`` pipeline for the arrays,
      each batch's y made dense (Keras would hand the loss a SparseTensor).
    - torch: Keras densifies sparse X and y a batch at a time itself.

    Rows are shuffled the way Keras shuffles arrays (JAX: one
    ``np.random.permutation`` per epoch, or within each batch for
    ``shuffle="batch"``; TensorFlow: Keras's own pipeline, which must know its
    number of batches to shuffle the same way), so a seeded fit sees the same
    batches as on dense X and y (``tests/test_sparse_targets.py``).
    """
    sparse_y = _any_sparse(y)
    backend = name()
    if backend == JAX and (sp.issparse(X) or sparse_y):
        from jax.experimental import sparse as jax_sparse

        X = X.tocsr() if sp.issparse(X) else X
        return _PaddedSparseBatches(X, y, sample_weight, int(batch_size), shuffle, jax_sparse)
    if backend == TENSORFLOW and sparse_y:
        return _tf_dense_y_dataset(X, y, sample_weight, int(batch_size), shuffle)
    return None


def _any_sparse(a) -> bool:
    return any(map(sp.issparse, a)) if isinstance(a, (list, tuple)) else sp.issparse(a)


def _tf_dense_y_dataset(X, y, sample_weight, batch_size, shuffle):
    import tensorflow as tf
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    adapter = ArrayDataAdapter(X, y, sample_weight, batch_size=batch_size, shuffle=shuffle)

    def dense(t):
        if not isinstance(t, tf.SparseTensor):
            return t
        out = tf.sparse.to_dense(t)
        out.set_shape(t.shape)
        return out

    def densify(*batch):
        x, rest = batch[0], batch[1:]
        return (x, *(tf.nest.map_structure(dense, r, expand_composites=False) for r in rest))

    # map keeps the batch count, but tf.data no longer knows it; Keras would
    # warn at every epoch's end that the data ran out
    batches = tf.data.experimental.assert_cardinality(adapter.num_batches)
    return adapter.get_tf_dataset().map(densify).apply(batches)


def _rows_of(a, rows):
    """Rows of an array or a SciPy sparse matrix (then densified), or of each of a list."""
    if a is None:
        return None
    if isinstance(a, (list, tuple)):
        return [_rows_of(v, rows) for v in a]
    return a[rows].toarray() if sp.issparse(a) else a[rows]


class _PaddedSparseBatches(keras.utils.PyDataset):
    def __init__(self, X, y, sample_weight, batch_size, shuffle, jax_sparse):
        super().__init__()
        self.X, self.y, self.sample_weight = X, y, sample_weight
        self.batch_size, self.shuffle, self.jax_sparse = batch_size, shuffle, jax_sparse
        self.n = X.shape[0]
        # drawn at an epoch's first batch, as Keras draws an array's order when
        # the epoch starts (Keras also calls on_epoch_end once before the first)
        self._order = None

    def _permutation(self):
        if self.shuffle and self.shuffle != "batch":
            return np.random.permutation(self.n)
        return np.arange(self.n)

    def __len__(self):
        return -(-self.n // self.batch_size)

    def _batch(self, rows):
        x = _padded_bcoo(self.X[rows], self.jax_sparse) if sp.issparse(self.X) else self.X[rows]
        batch = (x, _rows_of(self.y, rows))
        return batch if self.sample_weight is None else (*batch, _rows_of(self.sample_weight, rows))

    def __getitem__(self, i):
        start, stop = i * self.batch_size, min((i + 1) * self.batch_size, self.n)
        if self._order is None:
            self._order = self._permutation()
        rows = self._order[start:stop]
        if self.shuffle == "batch":
            rows = np.random.permutation(stop - start) + start
        return self._batch(rows)

    def on_epoch_end(self):
        self._order = None

    def first_row(self):
        """The first row as a batch, drawing nothing from NumPy's generator:
        what ``_training.build_compiled`` builds the loss and metrics from."""
        return self._batch(slice(0, 1))


# ---- Keras's serialization without TensorFlow --------------------------------
def without_tensorflow(fn):
    """Decorator: on JAX and torch, ``fn`` (which serializes or rebuilds a
    network) runs without importing TensorFlow.

    Keras's serialization asks ``module_utils.tensorflow.available`` to test
    whether an object is a ``tf.TensorShape`` or ``tf.DType``, which imports
    TensorFlow whenever it is installed: 2.7 s and about 460 MB, once per
    process, on a backend that never uses it. While TensorFlow is not
    imported no object can be one, so the answer is "no" for the call; Keras's
    own undecided state comes back after it.
    """
    import functools

    @functools.wraps(fn)
    def run(*args, **kwargs):
        import sys

        lazy = None
        if name() != TENSORFLOW and "tensorflow" not in sys.modules:
            try:
                from keras.src.utils import module_utils

                lazy = module_utils.tensorflow
            except (ImportError, AttributeError):  # another Keras layout
                lazy = None
            if lazy is not None and getattr(lazy, "_available", True) is not None:
                lazy = None  # already decided: leave it
        if lazy is None:
            return fn(*args, **kwargs)
        lazy._available = False
        try:
            return fn(*args, **kwargs)
        finally:
            if "tensorflow" not in sys.modules:
                lazy._available = None

    return run


# ---- TensorFlow memory fixes ------------------------------------------------
def prepare_optimizer(optimizer):
    """Skip Keras's all-reduce of gradients when no ``tf.distribute`` strategy
    is active (TensorFlow only; other backends get the optimizer unchanged).

    With the default strategy that all-reduce is an identity, but TensorFlow
    builds it with ``tf.custom_gradient``, whose graph-mode gradient goes into a
    global registry that is never cleared (tensorflow/tensorflow#97697). Each
    traced training step then stays alive for the rest of the process: about
    4.5 MB per fit of a small network, which a 50-candidate search piles up.
    Under a real strategy (checked when the step is traced) the reduce runs as
    Keras wrote it. Returns the optimizer, changed in place.
    """
    if name() != TENSORFLOW:
        return optimizer
    import tensorflow as tf

    for opt in (optimizer, getattr(optimizer, "inner_optimizer", None)):
        reduce = getattr(opt, "_all_reduce_sum_gradients", None)
        if reduce is None:
            continue

        def all_reduce_sum_gradients(grads_and_vars, _reduce=reduce):
            if tf.distribute.has_strategy():
                return _reduce(grads_and_vars)
            return list(grads_and_vars)

        opt._all_reduce_sum_gradients = all_reduce_sum_gradients
    return optimizer


def release_cached_kernels() -> None:
    """Empty TensorFlow's eager kernel cache before a new network is trained
    (TensorFlow only).

    The cache keeps an instantiated kernel for every traced function ever
    called, keyed by the function's unique name, so the training and
    prediction functions of networks long discarded stay in it (about 0.3 MB
    per fit of a small network). A seeded fit empties it already
    (``tf.random.set_seed`` does); this does the same for unseeded ones. The
    live networks' kernels are rebuilt on their next call.
    """
    if name() != TENSORFLOW:
        return
    from tensorflow.python.eager import context

    context.context().clear_kernel_cache()
