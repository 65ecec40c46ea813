"""Routed parameters the scikeras way: classes built from ``prefix__name__arg`` values.

``callbacks=[keras.callbacks.EarlyStopping], callbacks__0__patience=3`` builds
``EarlyStopping(patience=3)`` at fit; ``callbacks={"es": EarlyStopping},
callbacks__es__patience=3`` the same by name; ``callbacks__patience=3``
reaches every class in the list. Instances are used as they are.
"""

from __future__ import annotations

import inspect

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
