"""Threshold rules: turning probabilities into 0/1 decisions."""

from __future__ import annotations

import numbers

import numpy as np


def check_threshold_param(threshold) -> None:
    """Reject thresholds that can never be valid, whatever the task."""
    if isinstance(threshold, str):
        if threshold != "auto":
            raise ValueError(
                f"threshold must be a float in [0, 1], an array of them, or 'auto'; got {threshold!r}."
            )
        return
    if isinstance(threshold, bool) or threshold is None:
        raise TypeError(
            f"threshold must be a float in [0, 1], an array of them, or 'auto'; got {threshold!r}."
        )
    try:
        values = np.asarray(threshold, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"threshold must be a float in [0, 1], an array of them, or 'auto'; got {threshold!r}."
        ) from exc
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
