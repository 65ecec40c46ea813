"""Where shared fits live: the in-process LRU and the ``memory=`` folder.

``GridSearchCV(est, {"threshold": [...]})`` clones and fits the estimator once
per candidate and fold; the candidates of one fold train the very same
network. A fit that ``_cachekey`` can key stores what it learned under that
key, and a later fit with the same key takes that state instead of training
again: the network with every variable a continued fit reads (weights, the
seed generators of dropout layers, the optimizer's step and moments), so
that ``partial_fit`` or ``warm_start`` after a served fit goes on exactly as
after a trained one. A continued fit, and a fit whose network the user
compiled, are never stored.

Where entries live:

- in-process: a small LRU of detached states, at most ``fit_cache_entries``
  entries and ``fit_cache_bytes`` bytes (``set_config``); ``clear()``
  empties it, ``set_config(fit_cache=False)`` turns it off;
- across processes (``memory=`` a folder or ``joblib.Memory``): one file per
  key in ``<memory>/skmultihead/``, in the safe file format (JSON, a
  ``.keras`` network read in Keras's safe mode and the variables as plain
  arrays; nothing is unpickled), written under a file lock so that two
  workers never train the same network twice, at most ``DISK_ENTRIES``
  files (least recently used removed first). A folder that is not the
  user's own, or one inside a folder that others may write to (ssh's rule
  for key files), is not used (a warning says so). A damaged or foreign
  entry, or a read-only folder, never fails a fit: it trains (and says so
  at ``verbose > 0``).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import warnings
from collections import OrderedDict

DISK_ENTRIES = 32
_ENTRY_SUFFIX = ".skmh"

_settings = {"fit_cache": True, "fit_cache_entries": 4, "fit_cache_bytes": 256 * 2**20}
_memory: OrderedDict = OrderedDict()  # key -> (detached state, nbytes)
_memory_lock = threading.RLock()
# Fits of one key wait for each other; a fixed pool of locks keeps this bounded.
_key_locks = [threading.Lock() for _ in range(64)]


def get_config() -> dict:
    """The fit cache's settings (see :func:`set_config`)."""
    with _memory_lock:
        return dict(_settings)


def set_config(*, fit_cache=None, fit_cache_entries=None, fit_cache_bytes=None) -> None:
    """Change the in-process fit cache's settings, for this process.

    Parameters
    ----------
    fit_cache : bool, default=None
        False stops fits from reading or storing cached networks in this
        process (the ``memory=`` folder included). None leaves it as it is.
    fit_cache_entries : int, default=None
        At most this many trained networks are kept in memory (default 4).
    fit_cache_bytes : int, default=None
        At most this many bytes of weights and held-out data are kept in
        memory (default 256 MiB); a network larger than this is not kept.
    """
    with _memory_lock:
        if fit_cache is not None:
            _settings["fit_cache"] = bool(fit_cache)
        for name, value in (("fit_cache_entries", fit_cache_entries), ("fit_cache_bytes", fit_cache_bytes)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{name} must be a non-negative int; got {value!r}.")
                _settings[name] = value
        _evict_memory()


@contextlib.contextmanager
def config_context(**settings):
    """``set_config`` for the duration of a ``with`` block."""
    before = get_config()
    set_config(**settings)
    try:
        yield
    finally:
        set_config(**before)


def clear() -> None:
    """Forget every in-process entry (files in ``memory=`` folders stay)."""
    with _memory_lock:
        _memory.clear()


def _evict_memory() -> None:
    while _memory and (
        len(_memory) > _settings["fit_cache_entries"]
        or sum(n for _, n in _memory.values()) > _settings["fit_cache_bytes"]
    ):
        _memory.popitem(last=False)


# ---------------------------------------------------------------------------
# The memory= folder
# ---------------------------------------------------------------------------


def _say(verbose, message: str) -> None:
    if verbose:
        print(f"skmultihead: {message}")


def _why_untrusted(st, own_only: bool) -> str | None:
    """Why a folder may not hold cache entries (ssh's rule for key folders), or None."""
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    uid = os.geteuid()
    if st.st_uid not in ((uid,) if own_only else (uid, 0)):
        return "it belongs to another user"
    # A shared folder with the sticky bit (/tmp) lets no one replace another's files.
    if st.st_mode & 0o022 and (own_only or not st.st_mode & stat.S_ISVTX):
        return "users other than its owner may write to it"
    return None


def _untrusted_parent(path: str) -> tuple[str, str] | None:
    """The first folder above ``path`` that others could use to swap it, and why."""
    parent = os.path.dirname(path)
    while True:
        try:
            why = _why_untrusted(os.stat(parent), own_only=False)
        except OSError as exc:
            return parent, f"it cannot be checked ({exc})"
        if why is not None:
            return parent, why
        above = os.path.dirname(parent)
        if above == parent:
            return None
        parent = above


def folder_for(memory, verbose=0) -> str | None:
    """The entry folder inside ``memory``, or None where it must not be used."""
    if memory is None:
        return None
    location = getattr(memory, "location", memory)
    if location is None:
        return None
    location = os.path.abspath(os.fspath(location))
    with contextlib.suppress(OSError):
        os.makedirs(location, mode=0o700, exist_ok=True)
    folder = os.path.join(location, "skmultihead")
    with contextlib.suppress(OSError):
        os.mkdir(folder, 0o700)
    try:
        checks = [(location, os.stat(location), False), (folder, os.lstat(folder), True)]
    except OSError as exc:
        _say(verbose, f"memory folder {location!r} cannot be used ({exc}); training without it.")
        return None
    untrusted = [(path, why) for path, st, own_only in checks if (why := _why_untrusted(st, own_only))]
    # Whoever may write to a folder above could swap the cache folder between
    # the check and the read; the real path is checked, links resolved.
    above = _untrusted_parent(os.path.realpath(location))
    for path, why in untrusted[:1] or ([above] if above else []):
        warnings.warn(
            f"The memory folder {location!r} is not used: {path!r} is unsafe ({why}), so the "
            "networks in it could have been planted. Give memory= a folder of your own, inside "
            "folders that only you (or root) can write to.",
            UserWarning,
            stacklevel=4,
        )
        return None
    return folder


class Slot:
    """What a fit finds under its key, and where it stores what it learned."""

    def __init__(self, key, folder, verbose):
        self.key = key
        self.folder = folder
        self.verbose = verbose
        self.state = None

    def store(self, state) -> None:
        if self.key is None:
            return
        with _memory_lock:
            nbytes = state.nbytes()
            if _settings["fit_cache"] and nbytes <= _settings["fit_cache_bytes"]:
                try:
                    _memory[self.key] = (state.detached(), nbytes)
                    _memory.move_to_end(self.key)
                except Exception as exc:  # a config that cannot be copied
                    _say(self.verbose, f"network not kept in memory ({exc}).")
                _evict_memory()
        if self.folder is not None:
            try:
                _write_entry(self.folder, self.key, state)
                _evict_disk(self.folder)
            except Exception as exc:  # read-only folder, full disk: the fit stands
                _say(self.verbose, f"could not store the network in {self.folder!r} ({exc}).")


def _entry_path(folder: str, key: str) -> str:
    return os.path.join(folder, key + _ENTRY_SUFFIX)


def _write_entry(folder: str, key: str, state) -> None:
    from . import _savefile

    meta = {
        "format": _savefile.FORMAT,
        "format_version": _savefile.FORMAT_VERSION,
        "kind": "fit cache entry",
        "key": key,
        "fitted": state.to_meta(),
    }
    _savefile.write_archive(_entry_path(folder, key), meta, state.model_bytes())


def _read_entry(folder: str, key: str, n_features_in: int, verbose):
    from . import _savefile
    from ._state import FittedState

    path = _entry_path(folder, key)
    if not os.path.exists(path):
        return None
    try:
        meta, model_bytes = _savefile.read_archive(path)
        if meta.get("key") != key or meta.get("kind") != "fit cache entry":
            raise ValueError("the entry belongs to another fit")
        state = FittedState.from_meta(
            meta["fitted"], model_bytes, safe_mode=True, n_features_in=n_features_in
        )
    except Exception as exc:  # junk, a foreign entry, a network safe mode refuses: train
        _say(verbose, f"cache entry {path!r} not used ({str(exc)[:200]}); training.")
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: evicted last
    return state


def _evict_disk(folder: str) -> None:
    files = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(_ENTRY_SUFFIX)]
    if len(files) <= DISK_ENTRIES:
        return
    files.sort(key=lambda f: os.path.getmtime(f))
    for f in files[: len(files) - DISK_ENTRIES]:
        with contextlib.suppress(OSError):
            os.remove(f)
        with contextlib.suppress(OSError):
            os.remove(f[: -len(_ENTRY_SUFFIX)] + ".lock")


@contextlib.contextmanager
def _file_lock(folder: str, key: str):
    """An exclusive lock across processes; none where the folder is read-only."""
    import fcntl

    try:
        fd = os.open(os.path.join(folder, key + ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def slot(key: str | None, memory, n_features_in: int, verbose=0):
    """Look ``key`` up; while the caller trains, other fits of the same key wait."""
    from ._state import FittedState

    if not _settings["fit_cache"]:
        key = None
    folder = folder_for(memory, verbose) if key is not None else None
    found = Slot(key, folder, verbose)
    if key is None:
        yield found
        return
    with _key_locks[int(key[:8], 16) % len(_key_locks)]:
        with _memory_lock:
            entry = _memory.get(key)
            if entry is not None:
                _memory.move_to_end(key)
        if entry is not None:
            try:
                found.state = FittedState.attached(entry[0])
            except Exception as exc:  # e.g. a layer that cannot be rebuilt from its config
                _say(verbose, f"cached network could not be rebuilt ({exc}); training.")
        if found.state is not None or folder is None:
            yield found
            return
        with _file_lock(folder, key):
            found.state = _read_entry(folder, key, n_features_in, verbose)
            yield found
