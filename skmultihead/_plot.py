"""Displays in scikit-learn's style: ``from_estimator``, then ``plot(ax=...)``.

matplotlib is an optional dependency (``pip install skmultihead[plot]``); it
is imported when something is drawn, never at ``import skmultihead``.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._fitting import stopping_monitor
from ._thresholds import PER_LABEL, _f1, _values, dense_labels


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Plotting needs matplotlib: pip install 'skmultihead[plot]'.") from exc
    return plt


def _grid_axes(ax, n: int, n_cols: int):
    """``n`` axes: the ones given, or a new figure of small multiples."""
    plt = _pyplot()
    if ax is not None:
        axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
        if len(axes) < n:
            raise ValueError(f"ax holds {len(axes)} axes but {n} panels are drawn; pass {n} axes or ax=None.")
        return axes[0].figure, axes[:n]
    n_cols = max(1, min(n_cols, n))
    n_rows = int(np.ceil(n / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.6 * n_rows), squeeze=False)
    axes = axes.ravel()
    for extra in axes[n:]:
        extra.set_visible(False)
    return fig, axes[:n]


def _curve(objective, y, p, others, grid):
    """The objective as this label's threshold sweeps ``grid``.

    ``others`` are the (tp, fp, fn) totals of the other labels, for f1_micro.
    """
    known = ~np.isnan(y)  # an unknown entry of y is drawn from nowhere
    y, p = y[known], p[known]
    pos = y >= 0.5
    decided = p[None, :] >= grid[:, None]
    tp = (decided & pos).sum(1).astype(float)
    fp = (decided & ~pos).sum(1).astype(float)
    fn = (~decided & pos).sum(1).astype(float)
    tn = (~decided & ~pos).sum(1).astype(float)
    if objective == "f1_micro":
        return _values(_f1, tp + others[0], fp + others[1], fn + others[2], tn)
    if callable(objective):
        return np.array([objective(pos.astype(int), d.astype(int)) for d in decided], dtype=float)
    return _values(PER_LABEL[objective], tp, fp, fn, tn)


class ThresholdDisplay:
    """Per label, the threshold objective on held-out data, the chosen threshold marked.

    Build it with :meth:`from_estimator` (an estimator fitted with
    ``threshold="auto"`` or ``early_stopping``, whose held-out predictions it
    reads) or :meth:`from_predictions`.

    Attributes
    ----------
    grid_ : ndarray of shape (n_points,)
        The thresholds the curves are drawn at.
    curves_ : ndarray of shape (n_labels_shown, n_points)
        The objective at each threshold, one row per label shown.
    thresholds_ : ndarray of shape (n_labels_shown,)
        The thresholds ``predict`` uses for those labels.
    labels_ : list
        The names of the labels shown.
    figure_, axes_ : matplotlib Figure and array of Axes, after ``plot``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skmultihead import MultiLabelKerasClassifier, ThresholdDisplay
    >>> X = np.random.RandomState(0).randn(300, 5).astype("float32")
    >>> Y = (X[:, :3] > 0).astype(int)
    >>> est = MultiLabelKerasClassifier(hidden_layer_sizes=(8,), epochs=2, threshold="auto",
    ...                                 random_state=0).fit(X, Y)
    >>> display = ThresholdDisplay.from_estimator(est)
    >>> display.curves_.shape[0]
    3
    """

    def __init__(self, grid, curves, thresholds, labels, objective_name):
        self.grid_ = grid
        self.curves_ = curves
        self.thresholds_ = thresholds
        self.labels_ = labels
        self.objective_name = objective_name

    @classmethod
    def from_predictions(
        cls, y_true, proba, thresholds, *, objective="f1_micro", labels=None, max_labels=12, n_points=101
    ):
        """Curves from held-out labels ``y_true`` and probabilities ``proba`` (n, L).

        NaN in ``y_true`` marks an unknown entry, which takes no part.

        ``thresholds`` are the thresholds to mark (one per column). With more
        than ``max_labels`` columns, those with the most held-out positives
        are shown unless ``labels`` (column indices) chooses them.
        """
        y_true = np.asarray(y_true, dtype=float).reshape(len(proba), -1)
        proba = np.asarray(proba, dtype=float).reshape(len(proba), -1)
        thresholds = np.broadcast_to(np.asarray(thresholds, dtype=float), (proba.shape[1],))
        if labels is None:
            order = np.argsort(-(y_true >= 0.5).sum(axis=0), kind="stable")
            labels = np.sort(order[:max_labels])
        labels = [int(j) for j in labels]
        known = ~np.isnan(y_true)  # unknown entries (NaN) take no part
        pos = y_true >= 0.5
        decided = proba >= thresholds
        totals = np.array(
            [(decided & pos).sum(0), (decided & ~pos & known).sum(0), (~decided & pos).sum(0)], dtype=float
        )
        grid = np.linspace(0.0, 1.0, n_points)
        curves = []
        for j in labels:
            others = totals.sum(axis=1) - totals[:, j]
            curves.append(_curve(objective, y_true[:, j], proba[:, j], others, grid))
        name = getattr(objective, "__name__", None) or str(objective)
        return cls(grid, np.array(curves), thresholds[labels], labels, name)

    @classmethod
    def from_estimator(cls, estimator, *, labels=None, max_labels=12, ax=None, n_cols=4):
        """Curves for a fitted estimator's thresholded outputs, drawn at once.

        ``labels`` chooses columns by index, or by name (the labels of label
        collections, the column names of a DataFrame y); panels are titled
        with the names.
        """
        check_is_fitted(estimator)
        holdout = getattr(estimator, "_holdout_", None)
        if holdout is None:
            raise ValueError(
                "ThresholdDisplay needs the held-out predictions kept at fit: fit with "
                "threshold='auto' or early_stopping=True."
            )
        names = getattr(estimator._spec_, "output_names", None)
        names = None if names is None else np.array(names, dtype=object)
        if (
            labels is not None
            and names is not None
            and not all(isinstance(v, (int, np.integer)) for v in labels)
        ):
            index = {v: i for i, v in enumerate(names.tolist())}
            unknown = [v for v in labels if v not in index]
            if unknown:
                raise ValueError(f"labels {unknown[:10]} are not among {names.tolist()[:20]}.")
            labels = [index[v] for v in labels]
        y_true, proba, _ = holdout
        display = cls.from_predictions(
            dense_labels(y_true),
            proba,
            estimator.thresholds_,
            objective=estimator.threshold_objective,
            labels=labels,
            max_labels=max_labels,
        )
        if names is not None and len(names) == y_true.shape[1]:
            display.labels_ = [
                names[j].item() if hasattr(names[j], "item") else names[j] for j in display.labels_
            ]
        return display.plot(ax=ax, n_cols=n_cols)

    def plot(self, ax=None, *, n_cols=4):
        """Draw one panel per label; returns self."""
        fig, axes = _grid_axes(ax, len(self.labels_), n_cols)
        for a, label, curve, t in zip(axes, self.labels_, self.curves_, self.thresholds_):
            a.plot(self.grid_, curve, color="C0")
            a.axvline(t, color="C3", linestyle="--", label=f"chosen {t:.2f}")
            a.axvline(0.5, color="0.6", linestyle=":", label="0.5")
            a.set_title(str(label), fontsize=9)
            a.set_xlim(0, 1)
            a.set_xlabel("threshold", fontsize=8)
            a.set_ylabel(self.objective_name, fontsize=8)
            a.legend(fontsize=7, loc="best")
        fig.tight_layout()
        self.figure_, self.axes_ = fig, np.asarray(axes)
        return self


class TrainingCurvesDisplay:
    """Loss and metrics per epoch from ``history_``, training and validation,
    the restored best epoch marked.

    Attributes
    ----------
    history_ : dict
        The per-epoch lists drawn.
    metrics_ : list of str
        One panel per name (``"loss"`` first); ``val_<name>`` is drawn beside it.
    output_names_ : dict
        Keras output name -> y's column name, for a multi-output y with named
        columns; panels of per-output metrics are titled with the column.
    best_epoch_ : int or None
        The epoch whose weights were kept, 0-based: that of the lowest
        ``val_loss``, or of the highest ``val_f1_micro`` where early stopping
        watched it (multi-label 0/1 targets).
    figure_, axes_ : matplotlib Figure and array of Axes, after ``plot``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skmultihead import MultiClassKerasClassifier, TrainingCurvesDisplay
    >>> X = np.random.RandomState(0).randn(100, 4).astype("float32")
    >>> y = (X[:, 0] > 0).astype(int)
    >>> est = MultiClassKerasClassifier(hidden_layer_sizes=(8,), epochs=3, random_state=0).fit(X, y)
    >>> TrainingCurvesDisplay.from_estimator(est).metrics_
    ['loss', 'accuracy']
    """

    def __init__(self, history, metrics=None, best_epoch=None, output_names=None):
        self.output_names_ = dict(output_names or {})
        self.history_ = {k: list(v) for k, v in history.items()}
        if metrics is None:
            names = [k for k in self.history_ if not k.startswith("val_") and k != "learning_rate"]
            metrics = sorted(names, key=lambda k: k != "loss")
        unknown = [m for m in metrics if m not in self.history_]
        if unknown:
            raise ValueError(f"history_ has no {unknown}; it holds {sorted(self.history_)}.")
        self.metrics_ = list(metrics)
        self.best_epoch_ = best_epoch

    @classmethod
    def from_estimator(cls, estimator, *, metrics=None, ax=None, n_cols=3):
        """Curves of a fitted estimator's ``history_``, drawn at once."""
        check_is_fitted(estimator)
        history = estimator.history_
        best = None
        monitor, mode = stopping_monitor(estimator._spec_)
        if history.get(monitor) and estimator.early_stopping is not False:
            # early stopping restored the weights of the epoch of its best score
            pick = np.argmax if mode == "max" else np.argmin
            best = int(pick(history[monitor]))
        spec = estimator._spec_
        names = getattr(spec, "names", None)
        heads = getattr(spec, "heads", None)
        outputs = {}
        if names is not None and heads is not None and len(heads) == len(names) > 1:
            outputs = {h.name: name for h, name in zip(heads, names)}  # panels titled by y's columns
        return cls(history, metrics, best, outputs).plot(ax=ax, n_cols=n_cols)

    def _title(self, metric: str) -> str:
        """A per-output metric's name with the output named as y's column."""
        for head, column in self.output_names_.items():
            if metric.startswith(head + "_"):
                return f"{column}: {metric[len(head) + 1 :]}"
        return metric

    def plot(self, ax=None, *, n_cols=3):
        """Draw one panel per metric; returns self."""
        fig, axes = _grid_axes(ax, len(self.metrics_), n_cols)
        for a, name in zip(axes, self.metrics_):
            values = self.history_[name]
            epochs = np.arange(1, len(values) + 1)
            a.plot(epochs, values, color="C0", label="training")
            if f"val_{name}" in self.history_:
                a.plot(epochs, self.history_[f"val_{name}"], color="C1", label="validation")
            if self.best_epoch_ is not None:
                a.axvline(self.best_epoch_ + 1, color="C3", linestyle="--", label="best epoch (kept)")
            a.set_title(self._title(name), fontsize=9)
            a.set_xlabel("epoch", fontsize=8)
            a.legend(fontsize=7, loc="best")
        fig.tight_layout()
        self.figure_, self.axes_ = fig, np.asarray(axes)
        return self
