"""One fit on several devices (``distribution=``), on a CPU split into 2 devices.

TensorFlow splits the host into 2 logical devices; JAX is told to see 2 host
devices (``XLA_FLAGS``). Both must be set before the library starts, so each
check runs in a fresh process: a fit under the distribution must predict what
a single-device fit of the same seed and global batch predicts.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier

from ._helpers import FAST, learnable

COMPARE = """
import numpy as np
from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier

rng = np.random.RandomState(0)
X = rng.randn(128, 5).astype("float32")
y = np.digitize(X[:, 1], [-0.4, 0.4])
Y = (X[:, :3] > 0).astype(int)
kw = dict(hidden_layer_sizes=(8,), dropout=0.0, epochs=3, batch_size=32, random_state=0, early_stopping=False)
for cls, target in ((MultiClassKerasClassifier, y), (MultiLabelKerasClassifier, Y)):
    single = cls(**kw).fit(X, target)
    spread = cls(**kw, distribution=make_distribution()).fit(X, target)
    assert spread.history_["loss"][0] != single.history_["loss"][-1]  # it trained
    np.testing.assert_allclose(spread.predict_proba(X), single.predict_proba(X), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(spread.predict(X), single.predict(X))
print("devices", n_devices())
"""


def _run(code: str, env: dict):
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout


@pytest.mark.backend("tensorflow")
def test_mirrored_strategy_over_two_logical_cpus_matches_one_device():
    setup = textwrap.dedent(
        """
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        def make_distribution():
            return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        def n_devices():
            return make_distribution().num_replicas_in_sync
        """
    )
    assert "devices 2" in _run(setup + COMPARE, {"KERAS_BACKEND": "tensorflow"})


@pytest.mark.backend("jax")
def test_keras_data_parallel_over_two_host_devices_matches_one_device():
    setup = textwrap.dedent(
        """
        import jax, keras
        def make_distribution():
            return keras.distribution.DataParallel(devices=jax.devices())
        def n_devices():
            return len(jax.devices())
        """
    )
    env = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    assert "devices 2" in _run(setup + COMPARE, env)


@pytest.mark.backend("torch")
def test_distribution_on_torch_is_refused_before_training(monkeypatch):
    from ._helpers import count_trainings

    calls = count_trainings(monkeypatch)
    X, _, y3, _ = learnable()
    with pytest.raises(ValueError, match="TensorFlow and JAX"):
        MultiClassKerasClassifier(**FAST, distribution=object()).fit(X, y3)
    assert calls == []


@pytest.mark.backend("tensorflow", "jax")
def test_a_distribution_of_the_wrong_kind_is_refused_before_training(monkeypatch):
    from ._helpers import count_trainings

    calls = count_trainings(monkeypatch)
    X, _, _, Y = learnable()
    with pytest.raises(TypeError, match="distribution must be"):
        MultiLabelKerasClassifier(**FAST, distribution="mirrored").fit(X, Y)
    assert calls == []


def test_an_estimator_with_a_distribution_pickles_without_it(tmp_path):
    """A strategy belongs to its process's devices: the pickle leaves it out,
    still predicts, and a refit asks for it again."""
    import pickle

    X, _, y3, _ = learnable()
    clf = MultiClassKerasClassifier(**FAST).fit(X, y3)
    clf.distribution = _Unpicklable()
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    assert back.distribution.startswith("<not saved")
    assert clf.distribution is not None  # the original keeps it
    with pytest.raises(ValueError, match="set_params\\(distribution="):
        back.fit(X, y3)


class _Unpicklable:
    def __reduce__(self):
        raise TypeError("cannot pickle a device strategy")
