"""Small data and settings shared by the tests."""

import numpy as np

FAST = dict(hidden_layer_sizes=(8,), dropout=0.0, epochs=3, batch_size=32, random_state=0)


def make_X(n=60, d=4, seed=0):
    return np.random.RandomState(seed).randn(n, d).astype(np.float32)


def learnable(n=120, seed=0):
    """X whose first columns decide binary, 3-class and multi-label targets."""
    X = make_X(n, 5, seed)
    binary = (X[:, 0] > 0).astype(int)
    three = np.digitize(X[:, 1], [-0.4, 0.4])
    labels = (X[:, :3] > 0).astype(int)
    return X, binary, three, labels


def count_trainings(monkeypatch) -> list:
    """Record every keras.Model.fit call (its epochs), so that a test can tell
    a trained network from one served by the fit cache."""
    import keras

    calls = []
    real = keras.Model.fit

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("epochs"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", counting)
    return calls


def load_watched(path, seconds: float = 10):
    """``(outcome_within(seconds, load(path)), peak traced bytes)``: a load that
    may block or allocate, watched."""
    import tracemalloc

    import skmultihead

    tracemalloc.start()
    try:
        outcome = outcome_within(seconds, lambda: skmultihead.load(path))
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def outcome_within(seconds, fn):
    """``{"value": ...}`` or ``{"error": ...}`` from ``fn()``, or None if it
    did not return in time (a read that blocks, on a FIFO say)."""
    import threading

    outcome = {}

    def run():
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # reported to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return None if thread.is_alive() else outcome
