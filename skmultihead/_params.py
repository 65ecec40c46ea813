"""The scikeras parameter contract: which attributes are parameters, and where they go.

scikeras lets a class take more than its ``__init__`` names: routed values
(``model__units=32``, ``fit__shuffle=False``), arguments of
``keras.Model.fit``/``compile`` given to the constructor, and extra values
for the model function (``KerasClassifier(model=build, hidden=10)``). A
subclass may also write ``__init__(self, hidden=10, **kwargs)`` and pass the
rest on. These functions read an estimator's attributes by those rules; the
estimator's ``get_params``/``set_params`` and the steps of a fit ask them.
"""

from __future__ import annotations

import inspect
import warnings

import keras

from ._routing import KERAS_COMPILE_ARGS, KERAS_FIT_ARGS, ROUTING_PREFIXES


def init_param_names(cls: type, base: type) -> list:
    """Parameters of every ``__init__`` from ``cls`` up to ``base``, sorted.

    A subclass written the scikeras way, ``__init__(self, hidden=10,
    **kwargs)`` passing the rest to ``super().__init__(**kwargs)``, keeps the
    base parameters as parameters.
    """
    names = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is not None and klass is not object:
            for p in inspect.signature(init).parameters.values():
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    names.add(p.name)
        if klass is base:
            break
    return sorted(names)


def extra_names(est) -> list:
    """Attributes that are parameters without an ``__init__`` argument: routed and extra ones."""
    named = set(est._get_param_names())
    return [k for k in vars(est) if k not in named and not k.startswith("_") and not k.endswith("_")]


def model_function_extras(est) -> list:
    """Extra constructor parameters meant for the model function: not routed,
    and not an argument of ``keras.Model.fit`` or ``compile``."""
    return [
        k
        for k in extra_names(est)
        if not k.startswith(ROUTING_PREFIXES) and k not in KERAS_FIT_ARGS and k not in KERAS_COMPILE_ARGS
    ]


def get_params(est, deep: bool) -> dict:
    """scikit-learn's ``get_params``, plus the routed and extra parameters.

    An ``__init__`` argument a subclass never stored is left out (see
    :func:`warn_unstored`).
    """
    params = {}
    for key in est._get_param_names():
        if key not in vars(est):
            continue
        value = getattr(est, key)
        if deep and hasattr(value, "get_params") and not isinstance(value, type):
            params.update((f"{key}__{k}", v) for k, v in value.get_params().items())
        params[key] = value
    params.update({k: getattr(est, k) for k in extra_names(est)})
    return params


def set_extra(est, params: dict) -> dict:
    """Set the routed and extra parameters in ``params`` on ``est``; return the others."""
    extra = set(extra_names(est))
    plain = {}
    for key, value in params.items():
        if key.startswith(ROUTING_PREFIXES) or key in extra:
            setattr(est, key, value)
        else:
            plain[key] = value
    return plain


def warn_unstored(est) -> None:
    """Warn that an ``__init__`` argument was never stored, so its value is unused."""
    unstored = [k for k in est._get_param_names() if k not in vars(est)]
    if unstored:
        warnings.warn(
            f"{type(est).__name__}.__init__ takes {unstored} but does not store "
            f"{'it' if len(unstored) == 1 else 'them'}, so the value given is not used (as "
            "under scikeras). Store each argument under its own name in __init__ "
            f"(self.{unstored[0]} = {unstored[0]}), as scikit-learn requires, to use it.",
            UserWarning,
            stacklevel=4,
        )


def routed(est, prefix: str) -> dict:
    """The values given as ``prefix<name>``, by name."""
    return {k[len(prefix) :]: v for k, v in vars(est).items() if k.startswith(prefix)}


def model_function(est):
    """The callable that builds the network, if any: ``model``, or a
    subclass's ``_keras_build_fn`` hook (scikeras's) when ``model`` is None."""
    if est.model is not None and hasattr(est, "_keras_build_fn"):
        raise ValueError(
            f"{type(est).__name__} defines _keras_build_fn and was given model=; a class "
            "cannot implement ``_keras_build_fn`` and take a model too. Drop one."
        )
    if isinstance(est.model, str) and est.model.startswith("<not saved"):
        raise ValueError(
            f"The 'model' parameter is {est.model}: a Python function, which a safe file "
            "cannot hold. Give it again with set_params(model=...) before refitting."
        )
    if est.model is not None and not isinstance(est.model, keras.Model) and not callable(est.model):
        raise TypeError(
            f"``model`` must be None, a keras.Model or a callable returning one; got {type(est.model).__name__}."
        )
    if est.model is None:
        return getattr(est, "_keras_build_fn", None)
    return None if isinstance(est.model, keras.Model) else est.model


def check_extra(est) -> None:
    """Refuse an extra parameter that nothing takes (scikeras's ``TypeError``)."""
    fn = model_function(est)
    named, takes_any = set(), False
    if fn is not None:
        sig = inspect.signature(fn)
        named = set(sig.parameters)
        takes_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    unknown = [k for k in model_function_extras(est) if k not in named and not takes_any]
    if unknown:
        raise TypeError(
            f"{type(est).__name__} got an unexpected keyword argument {unknown[0]!r} "
            f"(unexpected parameters {unknown}). Routed parameters start with one of "
            f"{ROUTING_PREFIXES}; other extra parameters must be arguments of the model "
            "function, of keras.Model.fit, or one of keras.Model.compile's "
            f"{sorted(KERAS_COMPILE_ARGS)}."
        )
