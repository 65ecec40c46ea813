"""What user code *is*, as plain data: the opt-in ``fit_cache="code"``.

By default the fit cache keys only fits decided by data (``_cachekey``). A
user who asks for ``fit_cache="code"`` shares fits that involve their own
code too, keyed by what this module reads of it:

- values that are data: as ``_cachekey.describe`` reads them;
- Python functions: by their byte code, constants, defaults, closure cells,
  and every global they name (a global value by content, a helper function
  recursively), so that redefining a notebook cell or changing a global
  changes the fingerprint. A function whose code object was compiled from a
  file of an installed package (the standard library, site-packages) is
  named by that file and line, with its closure and defaults by content: a
  decorator's wrapper (``functools.wraps`` copies ``__module__`` and
  ``__qualname__``, never ``__code__``) is told apart by what it closes over;
- classes: installed ones by module and name when that module really holds
  that class; the user's by the code of every attribute and their bases;
- Keras objects: by class, config and every attribute (a subclass's
  argument that ``get_config`` leaves out is still seen), except optimizers
  and metrics, which a fit rebuilds from class and config;
- anything else -- an object with no config, a module of the user's own
  code, a callback -- raises :class:`Unknowable`, and the fit trains.

What it cannot follow: modules the code imports and calls through
attributes (``helpers.units``, where ``helpers`` is the user's module, is
refused; a change inside an installed package is covered only by its
version), files and other state the code reads at run time.
"""

from __future__ import annotations

import contextlib
import functools
import os
import site
import sys
import sysconfig
import types

import numpy as np


class NotData(Exception):
    """A value whose effect on a fit is not fixed by its content alone."""


def state(obj, describe_value) -> tuple:
    """An object's attributes as data: plain values by ``describe_value``,
    Keras variables by value, objects with a config (a dtype policy) by it."""
    import keras

    out = []
    for key, value in sorted(vars(obj).items()):
        if isinstance(value, keras.Variable):
            value = np.asarray(value)
        elif not isinstance(value, (type, types.FunctionType)) and hasattr(value, "get_config"):
            try:
                value = value.get_config()
            except Exception as exc:
                raise NotData(f"attribute {key!r} has no config") from exc
        out.append((key, describe_value(value)))
    return tuple(out)


class Unknowable(Exception):
    """The value's behaviour cannot be told from its content."""


_PLAIN = (type(None), bool, int, float, complex, str, bytes)
_IGNORED_CLASS_ATTRS = frozenset({"__dict__", "__weakref__", "__module__", "__doc__", "__qualname__"})


@functools.lru_cache(maxsize=1)
def _installed_roots() -> tuple:
    paths = {sysconfig.get_paths().get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    with contextlib.suppress(Exception):  # some embedded Pythons lack these
        paths.update(site.getsitepackages())
    with contextlib.suppress(Exception):
        paths.add(site.getusersitepackages())
    # skmultihead itself: the cache key holds a hash of its source
    paths.add(os.path.dirname(os.path.abspath(__file__)))
    return tuple(os.path.realpath(p) + os.sep for p in paths if p)


def _installed_file(path) -> bool:
    return isinstance(path, str) and os.path.realpath(path).startswith(_installed_roots())


def _is_installed_module(name: str | None) -> bool:
    """A module whose code is fixed by its package's version, not user code."""
    if not name or name == "__main__":
        return False
    module = sys.modules.get(name)
    if module is None:
        return False
    path = getattr(module, "__file__", None)
    if path is None:  # built-in or frozen
        return name.split(".", 1)[0] in sys.stdlib_module_names or name in sys.builtin_module_names
    return _installed_file(path)


def _is_installed_class(cls: type) -> bool:
    """The class its module names, in an installed module (not just a class
    whose ``__module__`` says so)."""
    if not _is_installed_module(cls.__module__):
        return False
    found = sys.modules[cls.__module__]
    for part in cls.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is cls


def fingerprint(value):
    """Plain nested data that stands for ``value``; raises :class:`Unknowable`."""
    return _fp(value, {})


def _fp(value, seen: dict):
    if isinstance(value, _PLAIN):
        return (type(value).__name__, value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O":
            return ("object-array", value.shape, tuple(_fp(v, seen) for v in value.ravel()))
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, np.generic):
        return ("np", value.dtype.str, value.tobytes())
    if isinstance(value, np.dtype):
        return ("dtype", value.str)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_fp(v, seen) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted((_fp(v, seen) for v in value), key=repr)))
    if isinstance(value, dict):
        items = [(_fp(k, seen), _fp(v, seen)) for k, v in value.items()]
        return ("dict", tuple(sorted(items, key=repr)))
    if isinstance(value, os.PathLike):
        return ("path", os.fspath(value))
    if isinstance(value, np.random.RandomState):
        return ("random-state", _fp(value.get_state(legacy=False), seen))
    if isinstance(value, types.FunctionType):
        return _function(value, seen)
    if isinstance(value, types.MethodType):
        return ("method", _fp(value.__func__, seen), _fp(value.__self__, seen))
    if isinstance(value, functools.partial):
        return ("partial", _fp(value.func, seen), _fp(value.args, seen), _fp(value.keywords, seen))
    if isinstance(value, types.ModuleType):
        if _is_installed_module(value.__name__):
            return ("module", value.__name__)
        raise Unknowable(f"module {value.__name__!r} is not an installed package")
    if isinstance(value, type):
        return _class(value, seen)
    if isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        owner = getattr(value, "__self__", None)
        if owner is None or isinstance(owner, types.ModuleType):
            module = getattr(value, "__module__", None) or getattr(owner, "__name__", None)
            if _is_installed_module(module) or module is None:
                return ("builtin", module, value.__qualname__)
        raise Unknowable(f"built-in method {value!r} bound to an object")
    keras_fp = _keras_object(value, seen)
    if keras_fp is not None:
        return keras_fp
    location = getattr(value, "location", None)
    if type(value).__module__.startswith("joblib") and isinstance(location, (str, type(None))):
        return ("joblib.Memory", location)
    raise Unknowable(f"cannot tell what a {type(value).__qualname__} object does from its content")


def _code(code: types.CodeType, seen: dict):
    consts = tuple(_code(c, seen) if isinstance(c, types.CodeType) else _fp(c, seen) for c in code.co_consts)
    return ("code", code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars)


def _global_names(code: types.CodeType) -> set:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _function(fn: types.FunctionType, seen: dict):
    code = fn.__code__
    closure = tuple(
        _fp(c.cell_contents, seen) if _cell_filled(c) else ("empty-cell",) for c in fn.__closure__ or ()
    )
    defaults = (_fp(fn.__defaults__, seen), _fp(fn.__kwdefaults__, seen))
    if _installed_file(code.co_filename):
        return ("function", code.co_filename, code.co_firstlineno, code.co_name, defaults, closure)
    if id(fn) in seen:  # recursion: the body is already being fingerprinted
        return ("function-ref", code.co_filename, code.co_firstlineno, code.co_name)
    seen[id(fn)] = fn
    namespace = fn.__globals__
    builtins = namespace.get("__builtins__", {})
    if isinstance(builtins, types.ModuleType):
        builtins = vars(builtins)
    referenced = []
    for name in sorted(_global_names(code)):
        if name in namespace:
            referenced.append((name, _fp(namespace[name], seen)))
        elif name in builtins:
            referenced.append((name, _fp(builtins[name], seen)))
        # otherwise an attribute name (``keras.layers``), read off another value
    return ("function", _code(code, seen), defaults, closure, tuple(referenced))


def _cell_filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def _class(cls: type, seen: dict):
    if _is_installed_class(cls):
        return ("class", cls.__module__, cls.__qualname__)
    if id(cls) in seen:
        return ("class-ref", cls.__module__, cls.__qualname__)
    seen[id(cls)] = cls
    body = []
    for name, attr in sorted(vars(cls).items()):
        if name in _IGNORED_CLASS_ATTRS:
            continue
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        elif isinstance(attr, property):
            attr = (attr.fget, attr.fset, attr.fdel)
        body.append((name, _fp(attr, seen)))
    bases = tuple(_class(b, seen) for b in cls.__bases__)
    return ("user-class", cls.__module__, cls.__qualname__, bases, tuple(body))


def _keras_object(value, seen: dict):
    """Keras objects by class, config and attributes (layers and models with weights)."""
    if "keras" not in sys.modules:  # no Keras object can exist; do not import it
        return None
    import keras

    kinds = (
        keras.layers.Layer,
        keras.losses.Loss,
        keras.metrics.Metric,
        keras.optimizers.Optimizer,
        keras.optimizers.schedules.LearningRateSchedule,
        keras.initializers.Initializer,
        keras.regularizers.Regularizer,
        keras.constraints.Constraint,
        keras.callbacks.Callback,
    )
    if not isinstance(value, kinds):
        return None
    if isinstance(value, keras.callbacks.Callback):
        raise Unknowable("a callback acts on training in ways its config does not show")
    try:
        config = value.get_config()
    except Exception as exc:  # NotImplementedError for subclasses without a config
        raise Unknowable(f"{type(value).__qualname__} has no config") from exc
    if isinstance(value, keras.layers.Layer):
        weights = tuple(
            ("array", w.dtype.str, w.shape, w.tobytes()) for w in map(np.asarray, value.get_weights())
        )
        return ("keras-layer", _class(type(value), seen), _fp(config, seen), weights)
    if isinstance(value, (keras.optimizers.Optimizer, keras.metrics.Metric)):
        # a fit builds a fresh one from class and config
        return ("keras", _class(type(value), seen), _fp(config, seen))
    try:
        attributes = state(value, lambda v: _fp(v, seen))
    except NotData as exc:
        raise Unknowable(str(exc)) from exc
    return ("keras", _class(type(value), seen), _fp(config, seen), attributes)
