"""Routed parameters the scikeras way: classes built from ``prefix__name__arg`` values.

``callbacks=[keras.callbacks.EarlyStopping], callbacks__0__patience=3`` builds
``EarlyStopping(patience=3)`` at fit; ``callbacks={"es": EarlyStopping},
callbacks__es__patience=3`` the same by name; ``callbacks__patience=3``
reaches every class in the list. Instances are used as they are.
"""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

ROUTING_PREFIXES = (
    "model__",
    "optimizer__",
    "loss__",
    "metrics__",
    "callbacks__",
    "fit__",
    "predict__",
    "score__",
)
# Keyword arguments of keras.Model.fit that may also be given to the
# constructor, as scikeras takes them; they reach Model.fit unchanged.
KERAS_FIT_ARGS = frozenset(
    {
        "validation_split",
        "shuffle",
        "initial_epoch",
        "steps_per_epoch",
        "validation_steps",
        "validation_batch_size",
        "validation_freq",
    }
)


# Keyword arguments of keras.Model.compile that change how training runs,
# never what it computes (``steps_per_execution=32`` runs 32 batches per call
# into the backend: fewer per-step costs on small, sparse or fast steps). They
# may be given to the constructor and reach Model.compile unchanged.
KERAS_COMPILE_ARGS = frozenset({"steps_per_execution", "jit_compile", "run_eagerly"})


def _route(params: dict, destination: str) -> dict:
    prefix = f"{destination}__"
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def _own(params: dict) -> dict:
    return {k: v for k, v in params.items() if "__" not in k}


def build(items, params: dict, shared: dict | None = None, strict: str | None = None):
    """``items`` with every class in it called with its routed ``params``.

    With ``strict`` (the parameter's name, for the message), parameters routed
    to an item that is not a class are a ``TypeError``, as in scikeras: they
    would otherwise be dropped without a word."""
    if inspect.isclass(items):
        kwargs = {**(shared or {}), **_own(params)}
        for name, value in list(kwargs.items()):
            kwargs[name] = build(value, _route(params, name))
        positional = sorted((int(k), v) for k, v in kwargs.items() if k.isdigit())
        return items(*(v for _, v in positional), **{k: v for k, v in kwargs.items() if not k.isdigit()})
    if isinstance(items, (list, tuple)):
        common = _own(params)
        return type(items)(
            build(item, _route(params, str(i)), common, strict) for i, item in enumerate(items)
        )
    if isinstance(items, dict):
        common = _own(params)
        return {key: build(item, _route(params, str(key)), common, strict) for key, item in items.items()}
    given = {**(shared or {}), **_own(params)}
    if strict and given and items is not None:
        raise TypeError(
            f"{strict}__ parameters {sorted(given)} were given for {items!r}, which does not "
            "accept parameters because it's not a class. Pass the class to have them "
            "applied, or drop them."
        )
    return items


class Leftover:
    """An item that is not a class, with the routed parameters meant for it
    (a loss name takes its ``loss__`` parameters when it is resolved)."""

    __slots__ = ("item", "params")

    def __init__(self, item, params: dict):
        self.item, self.params = item, params


def build_keeping_leftovers(items, params: dict, shared: dict | None = None):
    """As :func:`build`, but each item that is not a class comes back as a
    :class:`Leftover` holding the parameters routed to it."""
    if inspect.isclass(items):
        return build(items, params, shared)
    if isinstance(items, (list, tuple)):
        common = _own(params)
        return type(items)(
            build_keeping_leftovers(item, _route(params, str(i)), common) for i, item in enumerate(items)
        )
    if isinstance(items, dict):
        common = _own(params)
        return {
            key: build_keeping_leftovers(item, _route(params, str(key)), common)
            for key, item in items.items()
        }
    return Leftover(items, {**(shared or {}), **_own(params)})


def as_list(items) -> list:
    """One item, a list (nested lists flattened) or a dict's values, as a list."""
    if items is None:
        return []
    if isinstance(items, dict):
        items = list(items.values())
    if not isinstance(items, (list, tuple)):
        return [items]
    out = []
    for item in items:
        out.extend(as_list(item) if isinstance(item, (list, tuple)) else [item])
    return out


def unflatten(kwargs: dict, prefix: str) -> dict:
    """``{"learning_rate": Cls, "learning_rate__x": 1}`` -> ``{"learning_rate": Cls(x=1)}``,
    the way scikeras routes arguments of an argument."""
    nested = {}
    for key in [k for k in kwargs if "__" in k]:
        outer, inner = key.split("__", 1)
        nested.setdefault(outer, {})[inner] = kwargs.pop(key)
    for outer, inner in nested.items():
        if outer not in kwargs or not callable(kwargs[outer]):
            raise ValueError(
                f"{prefix}{outer}__... arguments were given, but {prefix}{outer} is not a class or "
                f"function to call with them; got {kwargs.get(outer)!r}."
            )
        kwargs[outer] = kwargs[outer](**unflatten(inner, f"{prefix}{outer}__"))
    return kwargs


# ---------------------------------------------------------------------------
# Checks of keras.Model.fit and optimizer arguments, which Keras takes silently
# (fit(epochs=-3) trains nothing; a negative learning rate climbs the loss).
# ---------------------------------------------------------------------------

# keras.Model.fit arguments the estimator gives itself, and what to use instead.
_SET_BY_ESTIMATOR = {
    "x": "X, as fit(X, y)",
    "y": "y, as fit(X, y)",
    "callbacks": "the callbacks parameter",
    "validation_data": "early_stopping=True with validation_fraction (the estimator holds rows out itself)",
    "sample_weight": "fit(X, y, sample_weight=...)",
    "class_weight": "the estimator's class_weight parameter",
}


def _label(where: str, name: str, value) -> str:
    """How the user wrote the argument: ``fit(epochs=-3)``, ``fit__epochs=-3``, ``epochs=-3``."""
    if where.endswith("()"):
        return f"{where[:-1]}{name}={value!r})"
    return f"{where}{name}={value!r}"


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _int_from(low: int, none: bool = False) -> tuple:
    return (
        lambda v: (none and v is None) or (_is_int(v) and v >= low),
        f"an int >= {low}{' or None' if none else ''}",
    )


# What each keras.Model.fit argument the estimator passes on must be: (test, words).
_FIT_ARGS = {
    "epochs": _int_from(1),
    "batch_size": _int_from(1, none=True),
    "verbose": (
        lambda v: (
            v == "auto"
            if isinstance(v, str)
            else isinstance(v, (bool, np.bool_)) or (_is_int(v) and 0 <= v <= 2)
        ),
        '0, 1, 2 or "auto"',
    ),
    "validation_split": (lambda v: _is_real(v) and 0 <= v < 1, "a float in [0, 1)"),
    "shuffle": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "initial_epoch": _int_from(0),
    "steps_per_epoch": _int_from(1, none=True),
    "validation_steps": _int_from(1, none=True),
    "validation_batch_size": _int_from(1, none=True),
    # Keras takes a Python int, or a list of the (1-based) epochs to validate after
    "validation_freq": (
        lambda v: (
            (type(v) is int and v >= 1) or (isinstance(v, list) and all(_is_int(e) and e >= 1 for e in v))
        ),
        "a Python int >= 1 or a list of epochs",
    ),
}


def check_fit_kwargs(kwargs: dict, where: str) -> None:
    """Refuse ``keras.Model.fit`` arguments that Keras would take silently
    (``epochs=-3`` trains nothing) or fail on mid-fit.

    ``where`` says how they were given, for the message: ``"fit()"`` for
    ``fit(X, y, **kwargs)`` (which may hold ``epochs``), ``"fit__"`` for routed
    ``fit__`` parameters, ``""`` for Keras fit arguments given to the
    constructor (``validation_split=0.2``). Bools are not counts.
    """
    for name, value in kwargs.items():
        label = _label(where, name, value)
        if name in _SET_BY_ESTIMATOR or (name == "epochs" and not where.endswith("()")):
            instead = "the epochs parameter" if name == "epochs" else _SET_BY_ESTIMATOR[name]
            raise ValueError(f"{label}: the estimator sets {name} itself; use {instead}.")
        if name not in _FIT_ARGS:
            raise TypeError(
                f"{label} is not an argument of keras.Model.fit that the estimator passes on; "
                f"those are {sorted(_FIT_ARGS)}."
            )
        test, wanted = _FIT_ARGS[name]
        if not test(value):
            hint = (
                " To build the network without training it, use initialize(X, y)." if name == "epochs" else ""
            )
            raise (ValueError if _is_real(value) else TypeError)(f"{label}: {name} must be {wanted}.{hint}")


_POSITIVE = (lambda v: 0 < v < math.inf, "a finite number > 0")
_NON_NEGATIVE = (lambda v: 0 <= v < math.inf, "a finite number >= 0")
# Optimizer hyper-parameters that Keras takes whatever their value. A schedule,
# a callable or a tensor is not a number and is not checked; None is Keras's default.
_OPTIMIZER_ARGS = {
    "learning_rate": _POSITIVE,
    "weight_decay": _NON_NEGATIVE,
    "beta_1": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "beta_2": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "rho": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "momentum": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "ema_momentum": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "epsilon": _POSITIVE,
    "clipnorm": _POSITIVE,
    "clipvalue": _POSITIVE,
    "global_clipnorm": _POSITIVE,
    "initial_accumulator_value": _NON_NEGATIVE,
}


def check_optimizer_kwargs(kwargs: dict) -> None:
    """Refuse routed ``optimizer__`` values that no optimizer trains well with
    (a learning rate <= 0 or NaN, a negative weight decay, betas outside
    [0, 1), a zero epsilon or clipping norm...), which Keras takes silently.
    ``kwargs`` are the routed parameters without their prefix
    (``{"learning_rate": -1}`` for ``optimizer__learning_rate=-1``)."""
    for name, value in kwargs.items():
        if name not in _OPTIMIZER_ARGS or value is None:
            continue
        test, wanted = _OPTIMIZER_ARGS[name]
        label = f"optimizer__{name}={value!r}"
        if isinstance(value, (bool, np.bool_, str)):
            raise TypeError(f"{label}: {name} must be {wanted}.")
        if _is_real(value) and not test(value):
            schedule = (
                " or a keras.optimizers.schedules.LearningRateSchedule" if name == "learning_rate" else ""
            )
            raise ValueError(f"{label}: {name} must be {wanted}{schedule}.")


# The Keras compile arguments the constructor takes, and the batch size of prediction.
_OTHER_ARGS = {
    "steps_per_execution": _int_from(1),
    "jit_compile": (lambda v: isinstance(v, (bool, np.bool_)) or v == "auto", 'True, False or "auto"'),
    "run_eagerly": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "predict__batch_size": _int_from(1, none=True),
}


def check_keras_args(params: dict) -> None:
    """Every argument an estimator passes to Keras, checked before training:
    fit arguments given to the constructor and routed ``fit__``, ``optimizer__``
    values, the compile arguments and ``predict__batch_size``. ``fit`` calls it
    on the estimator's parameters, and ``load`` on a file's."""
    check_fit_kwargs({k: v for k, v in params.items() if k in KERAS_FIT_ARGS}, "")
    check_fit_kwargs(_route(params, "fit"), "fit__")
    check_optimizer_kwargs(_route(params, "optimizer"))
    for name, (test, wanted) in _OTHER_ARGS.items():
        if name in params and not test(params[name]):
            value = params[name]
            raise (ValueError if _is_real(value) else TypeError)(f"{name}={value!r}: must be {wanted}.")
