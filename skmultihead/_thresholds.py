"""Threshold rules: turning probabilities into 0/1 decisions."""

from __future__ import annotations

import numbers

import numpy as np


def check_threshold_param(threshold) -> None:
    """Reject thresholds that can never be valid, whatever the task."""
    wanted = f"threshold must be a float in [0, 1], an array of them, or 'auto'; got {threshold!r}."
    if isinstance(threshold, str):
        if threshold != "auto":
            raise ValueError(wanted)
        return
    if isinstance(threshold, bool) or threshold is None:
        raise TypeError(wanted)
    try:
        values = np.asarray(threshold, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(wanted) from exc
    if values.ndim > 1:
        raise ValueError(f"threshold must be a float or a 1-D array; got shape {values.shape}.")
    if not np.all(np.isfinite(values)) or np.any((values < 0) | (values > 1)):
        raise ValueError(f"threshold values must lie in [0, 1]; got {threshold!r}.")


def resolve_thresholds(threshold, n_thresholds: int, tuned=None) -> np.ndarray | None:
    """The per-output thresholds that ``predict`` uses.

    ``n_thresholds`` counts the thresholded outputs: 1 for a binary task, one
    per label for multi-label, one per 2-class output for multi-output.
    """
    if n_thresholds == 0:
        return None
    check_threshold_param(threshold)
    if isinstance(threshold, str):
        if tuned is None:
            raise ValueError(
                "threshold='auto' needs thresholds tuned at fit, and this estimator "
                "was fitted with another threshold. Refit with threshold='auto'."
            )
        return np.asarray(tuned, dtype=float)
    values = np.asarray(threshold, dtype=float)
    if values.ndim == 0 or isinstance(threshold, numbers.Real):
        return np.full(n_thresholds, float(values))
    if values.shape != (n_thresholds,):
        raise ValueError(
            f"threshold has {values.shape[0]} values but the estimator has "
            f"{n_thresholds} thresholded outputs; give one value per output or a "
            "single float."
        )
    return values


# ---------------------------------------------------------------------------
# Tuning (threshold="auto")
# ---------------------------------------------------------------------------

OBJECTIVES = ("f1", "balanced_accuracy", "accuracy", "jaccard")
_MAX_CANDIDATES = 256


def _sweep(y_true, scores, weights):
    """Every distinct threshold with its confusion counts, in one sort.

    Candidate k predicts positive the rows scoring >= ``thresholds[k]``; the
    last candidate lies above every score (no positive at all).
    """
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    pos = (y_true[order] >= 0.5).astype(float)
    w = np.ones_like(s) if weights is None else weights[order]
    tp_cum = np.cumsum(w * pos)
    fp_cum = np.cumsum(w * (1.0 - pos))
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # end of each tie group
    thresholds = np.r_[s[last], np.nextafter(s[0], np.inf)]
    tp = np.r_[tp_cum[last], 0.0]
    fp = np.r_[fp_cum[last], 0.0]
    fn = tp_cum[-1] - tp
    tn = fp_cum[-1] - fp
    return thresholds, tp, fp, fn, tn


def _objective_values(objective, tp, fp, fn, tn):
    with np.errstate(divide="ignore", invalid="ignore"):
        if objective == "f1":
            values = 2 * tp / (2 * tp + fp + fn)
        elif objective == "jaccard":
            values = tp / (tp + fp + fn)
        elif objective == "accuracy":
            values = (tp + tn) / (tp + fp + fn + tn)
        else:  # balanced_accuracy
            values = 0.5 * (tp / (tp + fn) + tn / (tn + fp))
    return np.nan_to_num(values, nan=0.0)


def best_threshold(y_true, scores, objective="f1", weights=None) -> float:
    """The threshold in [0, 1] that maximises ``objective`` on (y_true, scores).

    ``objective`` is one of OBJECTIVES (every distinct score is tried, exactly)
    or a callable ``(y_true, y_pred) -> float`` (tried on up to 256 quantiles).
    Between equally good thresholds the one closest to 0.5 wins, and it is put
    midway between the chosen score and the next lower one, so that it does
    not sit on a held-out point.
    """
    y_true = np.asarray(y_true, dtype=float).ravel()
    scores = np.asarray(scores, dtype=float).ravel()
    w = None if weights is None else np.asarray(weights, dtype=float).ravel()
    cands, tp, fp, fn, tn = _sweep(y_true, scores, w)
    if callable(objective):
        if len(cands) > _MAX_CANDIDATES:
            cands = np.unique(np.r_[np.quantile(scores, np.linspace(0, 1, _MAX_CANDIDATES)), cands[-1]])
        pos = (y_true >= 0.5).astype(int)
        values = np.array([objective(pos, (scores >= t).astype(int)) for t in cands], dtype=float)
    else:
        values = _objective_values(objective, tp, fp, fn, tn)
    best = np.flatnonzero(values >= values.max() - 1e-12)
    i = best[np.argmin(np.abs(cands[best] - 0.5))]
    below = scores[scores < cands[i]]
    t = 0.5 * (cands[i] + below.max()) if below.size else cands[i]
    return float(np.clip(t, 0.0, 1.0))


def tune_thresholds(y_true: np.ndarray, proba: np.ndarray, objective="f1", weights=None) -> np.ndarray:
    """One threshold per column of ``proba`` (shape (n, L)), tuned on held-out data.

    A column whose held-out labels are all 0 or all 1 has nothing to tune on;
    it gets the threshold tuned on all columns pooled (micro), which reflects
    how the network's probabilities are calibrated overall, rather than 0 or 1.
    """
    y_true = np.asarray(y_true, dtype=float).reshape(len(proba), -1)
    proba = np.asarray(proba, dtype=float).reshape(len(proba), -1)
    w = None if weights is None else np.asarray(weights, dtype=float)
    pooled_w = None if w is None else np.tile(w, proba.shape[1])
    pooled = best_threshold(y_true.T.ravel(), proba.T.ravel(), objective, pooled_w)
    out = np.empty(proba.shape[1])
    for j in range(proba.shape[1]):
        positives = np.sum(y_true[:, j] >= 0.5)
        if positives == 0 or positives == len(y_true):
            out[j] = pooled
        else:
            out[j] = best_threshold(y_true[:, j], proba[:, j], objective, w)
    return out
