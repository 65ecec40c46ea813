"""The pickle-free file format, and everything ``load`` checks.

A file is a zip archive of two members:

- ``skmultihead.json``: the format and its version, the estimator class, its
  hyper-parameters, the fitted state's metadata (``_state.FittedState``) and
  a SHA-256 checksum over the metadata and the network;
- ``model.keras``: the trained network in Keras's own format.

Nothing in it is unpickled, and ``read_archive`` trusts nothing: the path must
exist (``FileNotFoundError`` otherwise); member names must be the expected
ones, each once; each member's uncompressed size is checked against an
absolute cap and a compression ratio before it is read (the network's own
archive and its HDF5 weights too); JSON nesting is bounded; the checksum
must match. Everything else is a ``ValueError`` that says what was wrong.

The ``memory=`` folder of the fit cache stores its entries in this format.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import threading
import zipfile
from dataclasses import dataclass

FORMAT = "skmultihead"
# 2: adds the checksum. Version 1 files (no checksum) still load.
FORMAT_VERSION = 2
META = "skmultihead.json"
MODEL = "model.keras"


@dataclass(frozen=True)
class Limits:
    """What ``load`` reads at most; raise them for a legitimately huge model."""

    max_bytes: int = 1 << 30  # uncompressed size of one member
    max_ratio: float = 100.0  # uncompressed / compressed size of one member over 1 MiB
    max_depth: int = 64  # nesting of the JSON metadata


# Members this small cannot hurt, whatever their compression ratio.
_RATIO_FLOOR = 1 << 20


def _check_members(zf: zipfile.ZipFile, allowed, limits: Limits, where: str) -> None:
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise ValueError(f"{where} holds duplicate member names; refusing to guess which one is meant.")
    unknown = sorted(set(names) - set(allowed)) if allowed is not None else []
    if unknown:
        raise ValueError(f"{where} holds unexpected members {unknown[:5]}.")
    for info in infos:
        if info.file_size > limits.max_bytes:
            raise ValueError(
                f"{where}: member {info.filename!r} would take {info.file_size:,} bytes, over the "
                f"limit of {limits.max_bytes:,}. Pass max_bytes= to load a larger model you trust."
            )
        if info.file_size > _RATIO_FLOOR and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise ValueError(
                f"{where}: member {info.filename!r} expands {info.file_size / max(info.compress_size, 1):.0f} "
                f"times (limit {limits.max_ratio:g}); it looks like a compression bomb. Pass max_ratio= "
                "to load it if you trust the file."
            )


# ---------------------------------------------------------------------------
# Keras networks as bytes
# ---------------------------------------------------------------------------


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


def _check_keras_archive(data: bytes, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _check_members(zf, None, limits, "the network archive")
            weights = [n for n in zf.namelist() if n.endswith(".h5")]
            for name in weights:
                _check_h5(zf.read(name), limits)
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(
            f"the network is not a readable .keras archive ({type(exc).__name__}: {exc})"
        ) from exc


def _check_h5(data: bytes, limits: Limits) -> None:
    """Weights whose arrays, once read, would exceed the limits are refused."""
    import h5py

    total = 0
    with h5py.File(io.BytesIO(data), "r") as f:
        datasets = []
        f.visititems(lambda _name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
        for d in datasets:
            nbytes = int(d.size) * d.dtype.itemsize
            total += nbytes
            stored = d.id.get_storage_size()
            if nbytes > _RATIO_FLOOR and nbytes > limits.max_ratio * max(stored, 1):
                raise ValueError(
                    f"the network's weights expand {nbytes / max(stored, 1):.0f} times (limit "
                    f"{limits.max_ratio:g}); refusing a likely compression bomb."
                )
    if total > limits.max_bytes:
        raise ValueError(
            f"the network's weights take {total:,} bytes, over the limit of {limits.max_bytes:,}. "
            "Pass max_bytes= to load a larger model you trust."
        )


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


def model_from_bytes(data: bytes, safe_mode: bool = True, limits: Limits | None = None):
    import keras

    if not isinstance(data, bytes):
        raise ValueError("the network must be .keras bytes")
    _check_keras_archive(data, limits or Limits())
    from . import _backend

    if not _backend.supports_sparse():
        data = _with_dense_inputs(data)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
        except Exception as exc:
            text = str(exc)
            if "safe_mode" in text or "Lambda" in text:
                raise ValueError(
                    "The network holds code that would run when it loads (e.g. a Lambda layer), "
                    "which Keras's safe mode refuses. Load it with safe_mode=False only if you "
                    "trust the file."
                ) from exc
            raise ValueError(
                f"the network could not be rebuilt ({type(exc).__name__}: {text[:500]})"
            ) from exc


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


def read_archive(path, limits: Limits | None = None) -> tuple[dict, bytes]:
    """The metadata and network bytes of a file written by ``write_archive``."""
    limits = limits or Limits()
    name = os.fspath(path)
    with open(name, "rb") as fh:  # FileNotFoundError for a missing path, as open gives it
        try:
            with zipfile.ZipFile(fh) as zf:
                names = set(zf.namelist())
                if META not in names or MODEL not in names:
                    raise ValueError(
                        f"{name!r} is a zip archive but not a skmultihead model file (it lacks {META} or {MODEL})."
                    )
                _check_members(zf, (META, MODEL), limits, repr(name))
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
    return meta, model_bytes
