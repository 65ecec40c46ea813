"""Every Keras backend: what must hold on each, and across them.

The whole suite runs once per backend (``KERAS_BACKEND=jax python -m pytest
...``, see the user guide, "Backends"). The tests here add what one run cannot see: a fresh
process per backend for imports, a file or pickle made here and loaded under
each other backend, and the backend-specific pieces of ``_backend``. Tests
marked ``backend("tensorflow")`` check TensorFlow-only fixes and are
deselected under other backends.
"""

import ast
import gc
import importlib.util
import json
import os
import pickle
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import scipy.sparse as sp

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier, _backend, _cache

from ._helpers import FAST, learnable

BACKEND = keras.backend.backend()
BACKENDS = ("tensorflow", "jax", "torch")


def _installed(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed here (.ci/run installs every backend)")


def _python(code: str, backend: str, timeout: int = 300) -> str:
    """Run ``code`` in a fresh interpreter under ``backend``; return its stdout."""
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_import_loads_no_other_backend_library(backend):
    _installed(backend)
    out = _python(
        """
        import sys, json
        libraries = ("tensorflow", "jax", "torch")
        import keras
        by_keras = [m for m in libraries if m in sys.modules]
        import skmultihead
        print(json.dumps([by_keras, [m for m in libraries if m in sys.modules]]))
        """,
        backend,
    )
    by_keras, loaded = json.loads(out.strip().splitlines()[-1])
    assert backend in loaded
    # skmultihead loads no backend library that Keras itself did not
    assert loaded == by_keras, (by_keras, loaded)
    if backend != "tensorflow":
        assert "tensorflow" not in loaded, loaded


def _fitted_models():
    X, yb, y3, labels = learnable()
    return X, {
        "multiclass": MultiClassKerasClassifier(**FAST).fit(X, y3),
        "columns": MultiClassKerasClassifier(**FAST).fit(X, np.column_stack([yb, y3])),
        "multilabel": MultiLabelKerasClassifier(**FAST, threshold="auto").fit(X, labels),
    }


@pytest.mark.parametrize("other", [b for b in BACKENDS if b != BACKEND])
def test_files_and_pickles_load_and_predict_the_same_on_another_backend(other, tmp_path):
    # (the same backend: test_persist.py)
    _installed(other)
    X, models = _fitted_models()
    np.save(tmp_path / "X.npy", X)
    expected = {}
    for name, clf in models.items():
        clf.save(tmp_path / f"{name}.skmh")
        (tmp_path / f"{name}.pkl").write_bytes(pickle.dumps(clf))
        expected[name] = (clf.predict_proba(X), clf.predict(X))
    _python(
        f"""
        import pickle, numpy as np, skmultihead
        X = np.load({str(tmp_path / "X.npy")!r})
        for name in {list(models)!r}:
            for kind, clf in [
                ("file", skmultihead.load({str(tmp_path)!r} + "/" + name + ".skmh")),
                ("pickle", pickle.load(open({str(tmp_path)!r} + "/" + name + ".pkl", "rb"))),
            ]:
                proba = clf.predict_proba(X)
                proba = proba if isinstance(proba, list) else [proba]
                np.savez({str(tmp_path)!r} + "/" + name + "-" + kind + ".npz", *proba, predict=clf.predict(X))
        """,
        other,
    )
    for name, (proba, predicted) in expected.items():
        proba = proba if isinstance(proba, list) else [proba]
        for kind in ("file", "pickle"):
            there = np.load(tmp_path / f"{name}-{kind}.npz")
            for i, p in enumerate(proba):
                np.testing.assert_allclose(
                    there[f"arr_{i}"], p, rtol=1e-5, atol=1e-6, err_msg=f"{name} {kind}"
                )
            np.testing.assert_array_equal(there["predict"], predicted, err_msg=f"{name} {kind}")


def test_torch_trains_on_sparse_X_a_dense_batch_at_a_time():
    # torch has no sparse inputs: the network's input is dense and Keras densifies
    # each batch, so sparse X trains and predicts exactly as the same X dense.
    _installed("torch")
    out = _python(
        """
        import json, numpy as np, scipy.sparse as sp
        from skmultihead import MultiLabelKerasClassifier
        rng = np.random.default_rng(0)
        X = sp.random(300, 40, density=0.1, format="csr", random_state=0, dtype=np.float32)
        Y = (rng.random((300, 3)) < 0.4).astype(int)
        kw = dict(epochs=3, batch_size=32, hidden_layer_sizes=(8,), random_state=0)
        sparse = MultiLabelKerasClassifier(**kw).fit(X, Y)
        dense = MultiLabelKerasClassifier(**kw).fit(X.toarray(), Y)
        print(json.dumps({
            "input_sparse": bool(sparse.model_.inputs[0].sparse),
            "gap": float(np.abs(sparse.predict_proba(X) - dense.predict_proba(X.toarray())).max()),
        }))
        """,
        "torch",
    )
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["input_sparse"] is False
    assert seen["gap"] < 1e-5


def test_jax_predicts_sparse_X_without_a_compile_per_batch():
    # Batches of new sparse data differ in their number of stored entries; padded
    # to a power of two, most of them share one compiled forward pass.
    _installed("jax")
    out = _python(
        """
        import json, numpy as np, scipy.sparse as sp
        from skmultihead import MultiLabelKerasClassifier
        rng = np.random.default_rng(0)
        X = sp.random(400, 60, density=0.1, format="csr", random_state=0, dtype=np.float32)
        Y = (rng.random((400, 3)) < 0.4).astype(int)
        clf = MultiLabelKerasClassifier(epochs=2, hidden_layer_sizes=(8,), random_state=0).fit(X, Y)
        traces = []
        layer = clf.model_.layers[1]
        call = layer.call
        layer.call = lambda *a, **k: traces.append(1) or call(*a, **k)
        gaps = []
        for seed in range(1, 9):
            Xn = sp.random(64, 60, density=0.1, format="csr", random_state=seed, dtype=np.float32)
            gaps.append(float(np.abs(clf.predict_proba(Xn) - clf.predict_proba(Xn.toarray())).max()))
        print(json.dumps({"sparse_input": bool(clf.model_.inputs[0].sparse), "gap": max(gaps),
                          "traces": len(traces)}))
        """,
        "jax",
    )
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["sparse_input"] is True
    assert seen["gap"] < 1e-5
    # 8 sparse batches of about 384 entries (256 < nse <= 512) and 8 dense ones:
    # a handful of traces, not one per call.
    assert seen["traces"] <= 4, seen


def test_padded_sparse_batches_hold_the_same_matrix():
    _installed("jax")
    from jax.experimental import sparse as jax_sparse

    for density in (0.0, 0.05, 0.3):
        X = sp.random(37, 23, density=density, format="csr", random_state=1, dtype=np.float32)
        padded = _backend._padded_bcoo(X, jax_sparse)
        assert padded.nse >= X.nnz and padded.nse & (padded.nse - 1) == 0
        np.testing.assert_array_equal(np.asarray(padded.todense()), X.toarray())


@pytest.mark.backend("torch")
def test_seeded_fit_gives_torchs_random_state_back():
    # Keras seeds torch's global generator for a seeded fit; the user's own
    # torch random stream must go on as if no fit had happened.
    import torch

    X, _, y3, _ = learnable()
    torch.manual_seed(12345)
    torch.rand(3)
    before = torch.random.get_rng_state().clone()
    MultiClassKerasClassifier(**FAST).fit(X, y3)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_the_compiled_forward_pass_follows_weights_changed_after_it_was_built():
    X, _, y3, _ = learnable()
    clf = MultiClassKerasClassifier(**FAST).fit(X, y3)
    first = clf.predict_proba(X[:3])
    clf.partial_fit(X, (y3 + 1) % 3)
    np.testing.assert_allclose(clf.predict_proba(X[:3]), clf.model_.predict(X[:3], verbose=0), atol=1e-6)
    assert not np.allclose(clf.predict_proba(X[:3]), first)


# ---- TensorFlow only --------------------------------------------------------
def _live_traced_graphs():
    from tensorflow.python.framework.func_graph import FuncGraph

    gc.collect()
    return sum(isinstance(o, FuncGraph) for o in gc.get_objects())


@pytest.mark.backend("tensorflow")
@pytest.mark.parametrize("cls", [MultiLabelKerasClassifier, MultiClassKerasClassifier])
def test_repeated_fits_leave_no_traced_graphs_behind(cls):
    # A search fits many estimators in one process; each fit's traced training and
    # prediction graphs must go with its estimator, or memory grows with every candidate.
    X, _, three, labels = learnable()
    y = labels if cls is MultiLabelKerasClassifier else three
    cls(**FAST).fit(X, y).predict_proba(X)  # TensorFlow's own one-off graphs
    before = _live_traced_graphs()
    for lr in (1e-3, 2e-3, 3e-3):
        cls(**{**FAST, "learning_rate": lr}).fit(X, y).predict_proba(X[:5])
    assert _live_traced_graphs() == before


@pytest.mark.backend("tensorflow")
def test_a_distribution_strategy_keeps_the_gradient_all_reduce(monkeypatch):
    import tensorflow as tf
    from keras.src.backend.tensorflow.optimizer import TFOptimizer

    calls = []
    original = TFOptimizer._all_reduce_sum_gradients

    def counted(self, grads_and_vars):
        calls.append(len(grads_and_vars))
        return original(self, grads_and_vars)

    monkeypatch.setattr(TFOptimizer, "_all_reduce_sum_gradients", counted)
    X, _, _, labels = learnable()
    _cache.clear()
    plain = MultiLabelKerasClassifier(**FAST).fit(X, labels)
    assert calls == []  # an identity without a strategy: skipped
    _cache.clear()
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        distributed = MultiLabelKerasClassifier(**FAST).fit(X, labels)
    assert calls and calls[0] == 4  # two Dense layers: kernels and biases
    # On one device the all-reduce is an identity: the same seed trains the same network.
    np.testing.assert_allclose(distributed.predict_proba(X), plain.predict_proba(X), rtol=1e-5, atol=1e-6)


@pytest.mark.backend("jax", "torch")
def test_a_seeded_fit_does_not_import_tensorflow():
    """Keras's set_random_seed imports TensorFlow whenever it is installed
    (2 s, 460 MB); a seeded fit on JAX or torch seeds without it."""
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import skmultihead
        from skmultihead import MultiLabelKerasClassifier
        skmultihead.set_config(fit_cache=False)  # Keras's serialization imports it for the cache
        X = np.random.RandomState(0).rand(64, 4).astype("float32")
        Y = (X[:, :2] > 0.5).astype(int)
        a = MultiLabelKerasClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0).fit(X, Y)
        b = MultiLabelKerasClassifier(hidden_layer_sizes=(4,), epochs=2, random_state=0).fit(X, Y)
        np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
        print("tensorflow imported:", "tensorflow" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "tensorflow imported: False" in out.stdout


NO_TENSORFLOW = textwrap.dedent(
    """
    import os, pickle, sys, tempfile
    import numpy as np
    from skmultihead import MultiLabelKerasClassifier, load

    def tf():
        return "tensorflow" in sys.modules

    X = np.random.RandomState(0).randn(100, 4).astype("float32")
    Y = (X[:, :3] > 0).astype(int)
    seen = {}
    est = MultiLabelKerasClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=0, threshold="auto")
    est.fit(X, Y); seen["fit, stored in the fit cache"] = tf()
    est.predict_proba(X); seen["predict"] = tf()
    MultiLabelKerasClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=0, threshold="auto").fit(X, Y)
    seen["served by the fit cache"] = tf()
    folder = tempfile.mkdtemp()
    est.save(os.path.join(folder, "m")); seen["save"] = tf()
    load(os.path.join(folder, "m")).predict(X); seen["load"] = tf()
    for _ in range(2):
        MultiLabelKerasClassifier(hidden_layer_sizes=(8,), epochs=2, random_state=1, memory=folder).fit(X, Y)
    seen["memory= folder"] = tf()
    pickle.loads(pickle.dumps(est)).predict(X); seen["pickle"] = tf()
    print(seen)
    """
)


@pytest.mark.backend("jax", "torch")
def test_no_operation_imports_tensorflow_on_other_backends():
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    out = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = ast.literal_eval(out.stdout.strip().splitlines()[-1])  # the dict the child printed
    assert len(seen) == 7 and not any(seen.values()), seen


def test_serialization_leaves_keras_tensorflow_check_as_it_found_it():
    from keras.src.utils import module_utils

    from skmultihead import _backend

    before = module_utils.tensorflow._available
    assert _backend.without_tensorflow(lambda: 41 + 1)() == 42
    assert module_utils.tensorflow._available == before
