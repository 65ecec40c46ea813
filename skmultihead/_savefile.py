"""The pickle-free file format, and everything ``load`` checks.

A file is a zip archive of two members:

- ``skmultihead.json``: the format and its version, the estimator class, its
  hyper-parameters, the fitted state's metadata (``_state.FittedState``) and
  a SHA-256 checksum over the metadata and the network;
- ``model.keras``: the trained network in Keras's own format (a zip archive
  of ``config.json``, ``metadata.json``, ``model.weights.h5`` and assets).

Nothing in it is unpickled, and ``read_archive`` trusts nothing:

- the path must be a regular file (``FileNotFoundError`` if it is missing,
  ``ValueError`` for a folder, FIFO or device, before anything is read);
- member names must be the expected ones, each once, and few;
- one budget, ``max_bytes``, holds everything a load unpacks: the members of
  the file, those of the network's archive and the weight arrays in its
  HDF5 file, all together; any member, and each archive's members together,
  may expand at most ``max_ratio`` times (past 1 MiB);
- the network is built only as far as its stored weights go: no integer in
  its config (seeds aside) may size more than the weights hold, and the
  config is first built in Keras's stateless scope, where variables get a
  shape but no memory, and refused if it would allocate more than the file
  stores (pickles too, whatever ``max_bytes``);
- JSON nesting is bounded; the checksum must match.

Everything else is a ``ValueError`` that says what was wrong. The network is
read from memory, never written to a temporary folder (Keras itself extracts
an archive with assets, within the same budget).

The ``memory=`` folder of the fit cache stores its entries in this format.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import stat
import tempfile
import threading
import zipfile
from dataclasses import dataclass

from ._backend import without_tensorflow

FORMAT = "skmultihead"
# 2: adds the checksum. Version 1 files (no checksum) still load.
FORMAT_VERSION = 2
META = "skmultihead.json"
MODEL = "model.keras"
_KERAS_FILES = ("config.json", "metadata.json", "model.weights.h5")


@dataclass(frozen=True)
class Limits:
    """What ``load`` unpacks at most; raise them for a legitimately huge model."""

    max_bytes: int = 1 << 30  # everything one load unpacks, all together
    max_ratio: float = 100.0  # uncompressed / compressed size, past 1 MiB
    max_depth: int = 64  # nesting of the JSON metadata
    max_members: int = 1000  # members of one archive


# Members this small cannot hurt, whatever their compression ratio.
_RATIO_FLOOR = 1 << 20
# Variables a network may have beyond its stored weights: the seed generators
# of dropout layers, which the .keras format leaves out (16 bytes each).
_UNSTORED_SLACK = 1 << 20
# zipfile keeps an object per entry of an archive's directory; its size is
# checked before zipfile reads it (an entry takes 46 bytes and its name).
_DIRECTORY_BYTES_PER_MEMBER = 1024


class _Budget:
    """What one load has unpacked so far, against ``max_bytes``."""

    def __init__(self, limits: Limits):
        self.limits, self.used = limits, 0

    def take(self, nbytes: int, what: str) -> None:
        self.used += nbytes
        if self.used > self.limits.max_bytes:
            raise ValueError(
                f"{what} takes {nbytes:,} bytes, which brings what the load unpacks to {self.used:,}, "
                f"over the limit of max_bytes={self.limits.max_bytes:,} (all members and weights "
                "together). Pass max_bytes= to load a larger model you trust."
            )


def _expansion(size: int, stored: int, limits: Limits, what: str) -> None:
    if size > _RATIO_FLOOR and size > limits.max_ratio * max(stored, 1):
        raise ValueError(
            f"{what} expands {size / max(stored, 1):.0f} times (limit {limits.max_ratio:g}); it looks "
            "like a compression bomb. Pass max_ratio= to load it if you trust the file."
        )


def _zip(fh, limits: Limits, where: str) -> zipfile.ZipFile:
    """``fh`` as a zip archive, its directory's size checked first: zipfile
    makes an object per entry of it, before anyone can count them."""
    end = zipfile._EndRecData(fh)  # the end record: where the directory is, how long
    if end is not None and end[zipfile._ECD_SIZE] > limits.max_members * _DIRECTORY_BYTES_PER_MEMBER:
        raise ValueError(f"{where} has a directory of {end[zipfile._ECD_SIZE]:,} bytes, too many members.")
    return zipfile.ZipFile(fh)


def _check_members(zf: zipfile.ZipFile, allowed, limits: Limits, where: str, budget: _Budget, size: int):
    """Names, count and sizes of ``zf``'s members, ``size`` bytes stored in all."""
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(names) > limits.max_members:
        raise ValueError(f"{where} holds {len(names):,} members (limit {limits.max_members:,}).")
    if len(set(names)) != len(names):
        raise ValueError(f"{where} holds duplicate member names; refusing to guess which one is meant.")
    unknown = sorted(n for n in names if not allowed(n))
    if unknown:
        raise ValueError(f"{where} holds unexpected members {unknown[:5]}.")
    for info in infos:
        _expansion(info.file_size, info.compress_size, limits, f"{where}: member {info.filename!r}")
    # Many members, each small enough to pass alone, are one bomb together.
    total = sum(info.file_size for info in infos)
    _expansion(total, size, limits, f"{where}: its members together")
    for info in infos:
        budget.take(info.file_size, f"{where}: member {info.filename!r}")


def _keras_member(name: str) -> bool:
    """The members Keras writes in a .keras archive: nothing else is extracted."""
    if name in _KERAS_FILES:
        return True
    parts = name.split("/")
    return parts[0] == "assets" and len(parts) > 1 and "\\" not in name and not {"", ".", ".."} & set(parts)


# ---------------------------------------------------------------------------
# Keras networks as bytes
# ---------------------------------------------------------------------------


@without_tensorflow
def model_to_bytes(model) -> bytes:
    """The network in .keras format, without optimizer state.

    Networks are read back uncompiled (the estimator compiles them from its
    own parameters), so the optimizer's slots would only triple the size.
    """
    if getattr(model, "optimizer", None) is not None:
        try:
            bare = type(model).from_config(model.get_config())  # uncompiled, unlike clone_model
            bare.set_weights(model.get_weights())
            model = bare
        except Exception:  # e.g. a Lambda layer, which safe mode won't rebuild
            pass  # saved as it is, optimizer slots included

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as fh:
            return fh.read()


def _check_keras_archive(data: bytes, limits: Limits, budget: _Budget) -> int:
    """The network's archive, checked; the bytes its weight arrays take."""
    try:
        with _zip(io.BytesIO(data), limits, "the network archive") as zf:
            _check_members(zf, _keras_member, limits, "the network archive", budget, len(data))
            names = set(zf.namelist())
            if "config.json" not in names or "model.weights.h5" not in names:
                raise ValueError("the network archive lacks its config.json or model.weights.h5.")
            return _check_h5(zf.read("model.weights.h5"), limits, budget)
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(
            f"the network is not a readable .keras archive ({type(exc).__name__}: {exc})"
        ) from exc


def _check_h5(data: bytes, limits: Limits, budget: _Budget) -> int:
    """The bytes the weight arrays take once read, within the limits."""
    import h5py

    total = stored = 0
    with h5py.File(io.BytesIO(data), "r") as f:
        datasets = []
        f.visititems(lambda _name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
        for d in datasets:
            if d.external or d.is_virtual or d.dtype.kind == "O":
                raise ValueError("the network's weights are not plain arrays stored in the file.")
            nbytes = int(d.size or 0) * d.dtype.itemsize  # (an empty dataspace has no size)
            size = d.id.get_storage_size()
            _expansion(nbytes, size, limits, f"the network's weight array {d.name!r:.80}")
            total, stored = total + nbytes, stored + size
    if stored > len(data):
        raise ValueError("the network's weights claim more stored bytes than their file holds.")
    _expansion(total, len(data), limits, "the network's weight arrays together")
    budget.take(total, "the network's weight arrays")
    return total


def _with_dense_inputs(data: bytes) -> bytes:
    """The archive with every sparse ``InputLayer`` made dense, for a backend
    without sparse inputs (torch): a network trained on sparse X elsewhere
    loads there, and sparse X is densified a batch at a time."""
    changed = False

    def dense(node):
        nonlocal changed
        if isinstance(node, dict):
            config = node.get("config")
            if node.get("class_name") == "InputLayer" and isinstance(config, dict) and config.get("sparse"):
                node = {**node, "config": {**config, "sparse": False}}
                changed = True
            return {k: dense(v) for k, v in node.items()}
        if isinstance(node, list):
            return [dense(v) for v in node]
        return node

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = [(info, zf.read(info.filename)) for info in zf.infolist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, content in members:
            if info.filename == "config.json":
                content = json.dumps(dense(json.loads(content))).encode()
            zf.writestr(info, content)
    return out.getvalue() if changed else data


def keras_safe_mode() -> bool:
    """Keras's own switch: False only after ``keras.config.enable_unsafe_deserialization()``."""
    from keras.src.saving import serialization_lib

    return serialization_lib.in_safe_mode() is not False


class TooLarge(ValueError):
    """A config that would allocate more than the load allows it."""


# Keys whose integers size nothing: seeds and salts are random numbers, and
# shared_object_id is a Python id() that Keras writes.
_NOT_SIZES = ("seed", "salt", "shared_object_id")


def _largest_size(config) -> int:
    """The largest integer in a Keras config that could size something."""
    largest, stack = 0, [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(v for k, v in item.items() if not any(w in str(k) for w in _NOT_SIZES))
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            largest = max(largest, abs(item))
    return largest


def check_buildable(config, safe_mode: bool, allowed: int, what: str, optimizers: bool = False) -> None:
    """Refuse ``config`` unbuilt (``TooLarge``) if building it could allocate
    more than ``allowed`` bytes.

    Two measures. Every integer that could size something must be at most
    ``allowed / 4`` elements: an integer may size memory outside any
    variable (``AUC(num_thresholds=...)`` makes lists of that length). Then
    the variables that building it makes, found without memory
    (``_planned_bytes``). With ``optimizers``, a config may name an optimizer,
    which cannot be built that way (``_param_planned_bytes``)."""
    largest = _largest_size(config)
    if largest > allowed // 4:
        raise TooLarge(f"{what} names a size of {largest:,}, more than {allowed:,} bytes could hold")
    config = copy.deepcopy(config)  # Keras consumes the configs it reads
    planned = _param_planned_bytes(config, safe_mode) if optimizers else _planned_bytes(config, safe_mode)
    if planned > allowed:
        raise TooLarge(f"{what} would allocate {planned:,} bytes of variables, more than {allowed:,}")


def _planned_bytes(config, safe_mode: bool) -> int:
    """The bytes of the variables that building ``config`` would allocate.

    Found by building it in Keras's stateless scope, where a variable gets
    its shape and dtype but no memory (the functional graph is traced
    symbolically), then dropping it. The variables it leaves registered as
    waiting for values are taken back, so nothing ever allocates them. (With
    safe_mode=False, a Lambda layer's code runs in this build too.)"""
    import keras
    from keras.src.backend.common import global_state
    from keras.src.saving import serialization_lib
    from keras.src.utils.summary_utils import weight_memory_size

    key = "uninitialized_variables"  # per thread, as all of Keras's global state
    before = global_state.get_global_attribute(key)
    global_state.set_global_attribute(key, [])
    try:
        with keras.StatelessScope(initialize_variables=False), serialization_lib.ObjectSharingScope():
            serialization_lib.deserialize_keras_object(config, safe_mode=safe_mode)
        return int(weight_memory_size(global_state.get_global_attribute(key) or []))
    finally:
        global_state.set_global_attribute(key, before)


def _optimizer_class(config):
    """The optimizer class a Keras config names, found as Keras finds it, or None."""
    import keras
    from keras.src.saving import serialization_lib

    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        return None
    try:
        cls = serialization_lib._retrieve_class_or_fn(
            config["class_name"], config.get("registered_name"), config.get("module"), "class", config
        )
    except Exception:
        return None
    return cls if isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer) else None


def _nested_configs(value):
    """Every Keras object config inside ``value``, at any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "class_name" in item and "config" in item:
                yield item
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _param_planned_bytes(config, safe_mode: bool) -> int:
    if _optimizer_class(config) is not None:
        # An optimizer makes its step counter at once, which the stateless
        # scope refuses; it allocates only scalars until it is built on a
        # network. What it holds inside (a learning-rate schedule, the inner
        # optimizer of a LossScaleOptimizer) is measured like any parameter.
        inner = config["config"]
        return sum(_param_planned_bytes(c, safe_mode) for c in _nested_configs(inner))
    return _planned_bytes(config, safe_mode)


def _rebuild_error(exc: Exception, safe_mode: bool) -> ValueError:
    text = str(exc)
    if safe_mode and ("safe_mode" in text or "Lambda" in text):
        return ValueError(
            "The network holds code that would run when it loads (e.g. a Lambda layer), "
            "which Keras's safe mode refuses. Load it with safe_mode=False only if you "
            "trust the file."
        )
    return ValueError(f"the network could not be rebuilt ({type(exc).__name__}: {text[:500]})")


@without_tensorflow
def model_from_bytes(data: bytes, safe_mode: bool = True, limits: Limits | None = None):
    """The network in ``data``, a .keras archive, rebuilt in memory.

    The archive is checked as ``read_archive`` checks files (``data`` itself
    counts against ``max_bytes``), and its config is measured before it is
    built: a network that would allocate more than its stored weights (plus
    the few variables the format leaves out) is refused unbuilt. This holds
    whatever ``max_bytes`` is, pickles included."""
    from keras.src.saving import saving_lib

    if not isinstance(data, bytes):
        raise ValueError("the network must be .keras bytes")
    limits = limits or Limits()
    budget = _Budget(limits)
    budget.take(len(data), "the network archive")
    stored = _check_keras_archive(data, limits, budget)
    from . import _backend

    if not _backend.supports_sparse():
        data = _with_dense_inputs(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            config = json.loads(zf.read("config.json"))
        if isinstance(config, dict):
            config["compile_config"] = None  # as load_model(compile=False) builds it
        check_buildable(
            config,
            safe_mode,
            stored + _UNSTORED_SLACK,
            f"the network's config (over {stored:,} bytes of weights)",
        )
    except TooLarge as exc:
        raise TooLarge(f"{exc}; refusing to build a network that the file's weights do not back.") from None
    except Exception as exc:
        raise _rebuild_error(exc, safe_mode) from exc
    try:
        # From memory: Keras writes nothing to disk for an archive without assets.
        return saving_lib.load_model(io.BytesIO(data), compile=False, safe_mode=safe_mode)
    except Exception as exc:
        raise _rebuild_error(exc, safe_mode) from exc


# ---------------------------------------------------------------------------
# The archive
# ---------------------------------------------------------------------------


def checksum(meta: dict, model_bytes: bytes) -> str:
    body = {k: v for k, v in meta.items() if k != "checksum"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(
        hashlib.sha256(canonical.encode()).digest() + hashlib.sha256(model_bytes).digest()
    ).hexdigest()


_umask_lock = threading.Lock()


def _default_mode() -> int:
    with _umask_lock:  # the umask can only be read by setting it
        mask = os.umask(0o077)
        os.umask(mask)
    return 0o666 & ~mask


def write_archive(path, meta: dict, model_bytes: bytes) -> None:
    """Write atomically: a uniquely named file in the target's folder, created
    exclusively, flushed and synced, then renamed over ``path``. Concurrent
    writers each rename a whole file; a failure leaves nothing behind."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a folder; give a file name to save to.")
    meta = {**meta, "checksum": checksum(meta, model_bytes)}
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(META, json.dumps(meta))
                zf.writestr(MODEL, model_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            mode = os.stat(path).st_mode & 0o777  # keep the permissions of a file replaced
        except OSError:
            mode = _default_mode()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _depth(value, limit: int) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise ValueError(f"the metadata is nested deeper than {limit} levels.")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _open_regular(name: str):
    """``name`` opened for reading, and its size, if it is a regular file.

    Anything else is refused before it is read: a folder, a FIFO (which would
    block the open), a device such as /dev/zero (which never ends). The type
    is checked again on the opened descriptor, in case the path was swapped
    after the first check; O_NONBLOCK keeps that open from blocking."""
    kind = os.stat(name).st_mode  # FileNotFoundError for a missing path, as open gives it
    if stat.S_ISREG(kind):
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            st = os.fstat(fd)
            kind = st.st_mode
            if stat.S_ISREG(kind):
                return os.fdopen(fd, "rb"), st.st_size
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    what = "a folder" if stat.S_ISDIR(kind) else "a FIFO" if stat.S_ISFIFO(kind) else "a device or socket"
    raise ValueError(f"{name!r} is {what}, not a regular file; a model file is one.")


def read_archive(path, limits: Limits | None = None) -> tuple[dict, bytes]:
    """The metadata and network bytes of a file written by ``write_archive``,
    the network's archive checked too (its members and weights count against
    the same ``max_bytes`` as the file's)."""
    limits = limits or Limits()
    name = os.fspath(path)
    fh, size = _open_regular(name)
    budget = _Budget(limits)
    with fh:
        try:
            with _zip(fh, limits, repr(name)) as zf:
                names = set(zf.namelist())
                if META not in names or MODEL not in names:
                    raise ValueError(
                        f"{name!r} is a zip archive but not a skmultihead model file (it lacks {META} or {MODEL})."
                    )
                _check_members(zf, (META, MODEL).__contains__, limits, repr(name), budget, size)
                raw_meta = zf.read(META)
                model_bytes = zf.read(MODEL)
        except ValueError:
            raise
        except Exception as exc:  # BadZipFile, zlib.error, EOFError, NotImplementedError...
            raise ValueError(
                f"{name!r} is not a skmultihead model file, or a damaged one ({type(exc).__name__}: {exc}). "
                "It may be truncated, or written by something else (joblib.dump files load with "
                "joblib.load, not skmultihead.load)."
            ) from exc
    try:
        meta = json.loads(raw_meta)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{name!r}: the metadata is not valid JSON ({type(exc).__name__}).") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{name!r} is not a skmultihead model file.")
    _depth(meta, limits.max_depth)
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{name!r} names format version {version!r:.40}, which is not a version.")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{name!r} was written in format version {version} by skmultihead "
            f"{str(meta.get('skmultihead_version'))[:40]}; this version reads format "
            f"{FORMAT_VERSION} and older. Upgrade skmultihead to load it."
        )
    if version >= 2 or "checksum" in meta:
        if meta.get("checksum") != checksum(meta, model_bytes):
            raise ValueError(
                f"{name!r} was changed after it was written: its checksum does not match its contents."
            )
    try:
        _check_keras_archive(model_bytes, limits, budget)
    except ValueError as exc:
        raise ValueError(f"{name!r}: {exc}") from exc
    return meta, model_bytes
