"""Sharing one trained network between fits that differ only in post-fit parameters.

``GridSearchCV(est, {"threshold": [...]})`` clones and fits the estimator once
per candidate and fold; the candidates of one fold train the very same
network. A fit whose training would be repeatable (fixed ``random_state``,
or a ``memory`` the user opted into) stores what it learned under a key made
of everything that decides training: the estimator class, every parameter
except the post-fit ones, X, y, sample_weight and the library versions. A
later fit with the same key takes that state instead of training again.

- In-process: a small LRU of serialised states (at most ``MEMORY_ENTRIES``).
- Across processes (``memory=`` a folder or ``joblib.Memory``): one file per
  key, written under a file lock so that two workers never train the same
  network twice, at most ``DISK_ENTRIES`` files (oldest removed first).
"""

from __future__ import annotations

import contextlib
import os
import threading
import types
from collections import OrderedDict

import joblib

MEMORY_ENTRIES = 4
DISK_ENTRIES = 32

# Parameters that only change how a trained network is read, never training.
POST_FIT_PARAMS = frozenset({"threshold", "threshold_objective", "verbose", "memory"})

_memory: OrderedDict = OrderedDict()
_memory_lock = threading.Lock()
# Fits of one key wait for each other; a fixed pool of locks keeps this bounded.
_key_locks = [threading.Lock() for _ in range(64)]


def clear() -> None:
    """Forget every in-process entry."""
    with _memory_lock:
        _memory.clear()


def _normalise(value):
    """Something joblib.hash reads the same way iff training would be the same."""
    if isinstance(value, types.FunctionType):
        code = value.__code__
        return (
            "function",
            value.__module__,
            value.__qualname__,
            code.co_code,
            tuple(_normalise(c) for c in code.co_consts),
            code.co_names,
            _normalise(value.__defaults__),
            _normalise(value.__kwdefaults__),
            tuple(_normalise(c.cell_contents) for c in (value.__closure__ or ())),
        )
    if isinstance(value, types.CodeType):
        return ("code", value.co_code, tuple(_normalise(c) for c in value.co_consts), value.co_names)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_normalise(v) for v in value)
    return value


def key_for(estimator, X, y, sample_weight) -> str | None:
    """The cache key of a fit, or None where the fit must not be cached."""
    params = estimator.get_params(deep=False)
    if params.get("memory") is None and params.get("random_state") is None:
        return None  # an unseeded fit is not repeatable
    if params.get("callbacks"):
        return None  # callbacks have effects a cached fit would skip
    fit_params = {k: v for k, v in params.items() if k not in POST_FIT_PARAMS}
    # "auto" holds data out for tuning, which changes what the network sees.
    fit_params["threshold is auto"] = isinstance(params.get("threshold"), str)
    import keras

    from . import __version__

    try:
        return joblib.hash(
            (
                type(estimator).__qualname__,
                __version__,
                keras.__version__,
                _normalise(fit_params),
                X,
                y,
                sample_weight,
            )
        )
    except Exception:  # an unhashable parameter: train, don't guess
        return None


def _folder(memory) -> str | None:
    if memory is None:
        return None
    location = getattr(memory, "location", memory)
    if location is None:
        return None
    folder = os.path.join(os.fspath(location), "skmultihead")
    os.makedirs(folder, exist_ok=True)
    return folder


class Slot:
    """What a fit finds under its key, and where it stores what it learned."""

    def __init__(self, key, folder):
        self.key = key
        self.folder = folder
        self.state = None

    def store(self, state) -> None:
        if self.key is None:
            return
        with _memory_lock:
            _memory[self.key] = state
            _memory.move_to_end(self.key)
            while len(_memory) > MEMORY_ENTRIES:
                _memory.popitem(last=False)
        if self.folder is not None:
            path = os.path.join(self.folder, self.key + ".joblib")
            tmp = path + f".{os.getpid()}.tmp"
            joblib.dump(state, tmp)
            os.replace(tmp, path)
            _evict(self.folder)


def _evict(folder: str) -> None:
    files = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".joblib")]
    if len(files) <= DISK_ENTRIES:
        return
    files.sort(key=lambda f: os.path.getmtime(f))
    for f in files[: len(files) - DISK_ENTRIES]:
        with contextlib.suppress(OSError):
            os.remove(f)
            os.remove(f[: -len(".joblib")] + ".lock")


@contextlib.contextmanager
def slot(key: str | None, memory):
    """Look ``key`` up; while the caller trains, other fits of the same key wait."""
    folder = _folder(memory) if key is not None else None
    found = Slot(key, folder)
    if key is None:
        yield found
        return
    with _key_locks[int(key[:8], 16) % len(_key_locks)]:
        with _memory_lock:
            if key in _memory:
                _memory.move_to_end(key)
                found.state = _memory[key]
        if found.state is not None or folder is None:
            yield found
            return
        import fcntl

        with open(os.path.join(folder, key + ".lock"), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                path = os.path.join(folder, key + ".joblib")
                if os.path.exists(path):
                    try:
                        found.state = joblib.load(path)
                        os.utime(path)  # recently used: evicted last
                    except Exception:  # a damaged entry is retrained
                        found.state = None
                yield found
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
