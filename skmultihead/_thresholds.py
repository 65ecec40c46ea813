"""Threshold rules: turning probabilities into 0/1 decisions."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp


def dense_labels(y_true):
    """Held-out labels as an array (those of a sparse y are kept sparse)."""
    return y_true.toarray() if sp.issparse(y_true) else y_true


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
#
# Objectives as a table: name -> value of the objective from confusion counts.
# "f1_micro" is tuned jointly over all labels (one shared threshold, refined
# per label where the held-out evidence supports it); every other name is
# tuned label by label, with fallbacks for labels with little evidence.


def _f1(tp, fp, fn, tn):
    return 2 * tp / (2 * tp + fp + fn)


def _jaccard(tp, fp, fn, tn):
    return tp / (tp + fp + fn)


def _accuracy(tp, fp, fn, tn):
    return (tp + tn) / (tp + fp + fn + tn)


def _balanced_accuracy(tp, fp, fn, tn):
    return 0.5 * (tp / (tp + fn) + tn / (tn + fp))


PER_LABEL = {
    "f1_macro": _f1,
    "f1": _f1,  # the same as "f1_macro": macro-F1 is the mean of per-label F1
    "jaccard": _jaccard,
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
}
OBJECTIVES = ("f1_micro", *PER_LABEL)
DEFAULT_OBJECTIVE = "f1_micro"

_MAX_CANDIDATES = 256
# A label's own threshold moves away from the shared one in proportion to its
# held-out positives: n / (n + _SHRINK). With 2 positives it barely moves.
_SHRINK = 20.0
# The same for "f1_micro", more cautious: a label's move must pay off in the
# micro-F1 of all labels, and a held-out part of 120 rows (scene) holds about
# 20 positives per label. Measured on the five standard splits with three
# seeds each: with 20, "auto" cut scene's test micro-F1 by 0.005 below
# threshold 0.5's (0.756 against 0.761, random_state=0); with 100 it never
# fell more than 0.001 below and raised macro-F1 on all 15 runs
# (benchmarks/README.md).
_SHRINK_MICRO = 100.0
# SCutFBR (Fan and Lin 2007): a label whose best held-out F1 is below this
# gets a threshold above every held-out score instead of a noisy optimum.
_FBR = 0.1


def _sweep(y_true, scores, weights):
    """Every distinct threshold with its confusion counts, in one sort.

    Candidate k predicts positive the rows scoring >= ``thresholds[k]``; the
    last candidate lies above every score (no positive at all). Without
    weights the counts are integers (exact, as float64 sums of ones), and the
    scores may stay float32: they sort as their float64 values do, and the
    thresholds come back in float64.
    """
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    pos = y_true[order] >= 0.5
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # end of each tie group
    if weights is None:
        tp_cum = np.cumsum(pos, dtype=np.int64)
        del pos
        tp = np.r_[tp_cum[last], 0].astype(np.float64)
        fp = np.r_[(last + 1) - tp_cum[last], 0].astype(np.float64)
        positives, negatives = float(tp_cum[-1]), float(len(s) - tp_cum[-1])
    else:
        w = weights[order]
        tp_cum, fp_cum = np.cumsum(w * pos), np.cumsum(w * ~pos)
        tp, fp = np.r_[tp_cum[last], 0.0], np.r_[fp_cum[last], 0.0]
        positives, negatives = tp_cum[-1], fp_cum[-1]
    thresholds = np.r_[s[last].astype(np.float64), np.nextafter(np.float64(s[0]), np.inf)]
    return thresholds, tp, fp, positives - tp, negatives - fp


def _values(fn, tp, fp, fn_, tn):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(fn(tp, fp, fn_, tn), nan=0.0)


def _pick(cands, values, scores, prefer=0.5):
    """The best candidate, the one nearest ``prefer`` among ties, placed midway
    between its score and the next lower one so that it does not sit on a
    held-out point."""
    best = np.flatnonzero(values >= values.max() - 1e-12)
    i = best[np.argmin(np.abs(cands[best] - prefer))]
    below = np.max(scores, where=scores < cands[i], initial=-np.inf)
    t = 0.5 * (cands[i] + np.float64(below)) if below > -np.inf else cands[i]
    return float(np.clip(t, 0.0, 1.0)), float(values[i])


def best_threshold(y_true, scores, objective="f1", weights=None) -> float:
    """The threshold in [0, 1] that maximises ``objective`` on (y_true, scores).

    ``objective`` is a per-label name of ``PER_LABEL`` (every distinct score
    is tried, exactly), ``"f1_micro"`` (the same as ``"f1"`` on one column),
    or a callable ``(y_true, y_pred) -> float`` (tried on up to 256
    quantiles). Between equally good thresholds the one closest to 0.5 wins.
    """
    return _best(y_true, scores, objective, weights)[0]


def _best(y_true, scores, objective, weights):
    y_true = np.asarray(y_true).ravel()
    scores = np.asarray(scores, dtype=float if callable(objective) else None).ravel()
    w = None if weights is None else np.asarray(weights, dtype=float).ravel()
    cands, tp, fp, fn, tn = _sweep(y_true, scores, w)
    if callable(objective):
        if len(cands) > _MAX_CANDIDATES:
            cands = np.unique(np.r_[np.quantile(scores, np.linspace(0, 1, _MAX_CANDIDATES)), cands[-1]])
        pos = (y_true >= 0.5).astype(int)
        values = np.array([objective(pos, (scores >= t).astype(int)) for t in cands], dtype=float)
    else:
        values = _values(PER_LABEL.get(objective, _f1), tp, fp, fn, tn)
    return _pick(cands, values, scores)


def tune_thresholds(
    y_true: np.ndarray, proba: np.ndarray, objective=DEFAULT_OBJECTIVE, weights=None
) -> np.ndarray:
    """One threshold per column of ``proba`` (shape (n, L)), tuned on held-out data.

    - ``"f1_micro"``: the threshold that maximises micro-F1 over all labels
      pooled, then, label by label, the threshold that maximises the same
      micro-F1 with the others fixed, moved from the shared one only in
      proportion to the label's held-out positives (n / (n + 100)), and only
      where the move raises the held-out micro-F1.
    - per-label names and callables: each label's own optimum, moved from the
      pooled optimum in the same proportion; a label with no held-out
      positive (or no negative) keeps the pooled threshold, and a label whose
      best held-out F1 is below 0.1 gets a threshold above every held-out
      score (SCutFBR), so that weak labels predict only their surest rows.

    ``y_true`` may be a SciPy sparse matrix. With ``"f1_micro"``, no weights
    and every entry known, the same thresholds come from 0/1 labels and the
    probabilities as given (float32 from a network): about 25 bytes an entry
    at the peak instead of 100, for held-out rows of many labels.
    """
    if weights is None and isinstance(objective, str) and objective == "f1_micro":
        pos = _all_known_labels(y_true, len(proba))
        if pos is not None:
            proba = np.asarray(proba).reshape(len(proba), -1)
            pooled, _ = _best(pos.ravel(), proba.ravel(), "f1", None)
            return _tune_micro(pos, proba, None, pooled, None, True)
    y_true = dense_labels(y_true)
    y_true = np.asarray(y_true, dtype=float).reshape(len(proba), -1)
    proba = np.asarray(proba, dtype=float).reshape(len(proba), -1)
    w = None if weights is None else np.asarray(weights, dtype=float)
    # unknown entries (NaN in y_true) take no part: each label is tuned on its known rows
    known = ~np.isnan(y_true)
    y_true = np.where(known, y_true, 0.0)
    entry_w = (np.ones(len(y_true)) if w is None else w)[:, None] * known
    pooled_w = None if w is None and known.all() else entry_w.T.ravel()
    flat = known.T.ravel()
    pooled, _ = _best(
        y_true.T.ravel()[flat],
        proba.T.ravel()[flat],
        objective if callable(objective) else "f1",
        None if pooled_w is None else pooled_w[flat],
    )
    if objective == "f1_micro":
        return _tune_micro(y_true >= 0.5, proba, entry_w, pooled, known, w is None)
    out = np.empty(proba.shape[1])
    for j in range(proba.shape[1]):
        rows = known[:, j]
        positives = int(np.sum(y_true[rows, j] >= 0.5))
        if positives == 0 or positives == rows.sum():
            out[j] = pooled
            continue
        t, value = _best(y_true[rows, j], proba[rows, j], objective, None if w is None else w[rows])
        if PER_LABEL.get(objective) is _f1 and value < _FBR:
            out[j] = float(np.clip(np.nextafter(proba[rows, j].max(), np.inf), 0.0, 1.0))
            continue
        out[j] = pooled + _weight(positives) * (t - pooled)
    return out


def _all_known_labels(y_true, n: int) -> np.ndarray | None:
    """``y_true >= 0.5`` as a boolean (n, L) array, or None if an entry is unknown (NaN)."""
    if sp.issparse(y_true):
        coo = y_true.tocoo()
        if np.isnan(coo.data).any():
            return None
        pos = np.zeros(coo.shape, dtype=bool)
        pos[coo.row, coo.col] = coo.data >= 0.5
        return pos
    y_true = np.asarray(y_true).reshape(n, -1)
    if y_true.dtype.kind == "f" and np.isnan(y_true).any():
        return None
    return y_true >= 0.5


def _weight(positives: int, shrink: float = _SHRINK) -> float:
    return positives / (positives + shrink)


def _tune_micro(pos, proba, ww, shared: float, known, unweighted: bool) -> np.ndarray:
    """``pos`` (n, L): the positive entries; ``ww`` (n, L): each entry's
    weight, 0 where unknown (``known``). ``ww`` and ``known`` None: every
    entry known and weighing 1, counted (no (n, L) array of weights; the
    probabilities as given, one label's column in float64 at a time)."""
    n, n_labels = proba.shape

    def weighed(mask, j=None):  # per label (or for label j): the weight of the entries in mask
        if ww is None:
            return np.count_nonzero(mask, axis=0).astype(np.float64)
        return np.sum((ww if j is None else ww[:, j]) * mask, axis=0)

    thresholds = np.full(n_labels, shared)
    pred = proba >= shared
    tp, fp, fn = weighed(pred & pos), weighed(pred & ~pos), weighed(~pred & pos)
    del pred
    positives = np.count_nonzero(pos if known is None else pos & known, axis=0)
    positives_w = weighed(pos)
    for j in np.argsort(-positives, kind="stable"):
        rows = slice(None) if known is None else known[:, j]
        if positives[j] == 0 or positives[j] == (n if known is None else rows.sum()):
            continue
        w_j = None if ww is None or (unweighted and rows.all()) else ww[rows, j]
        col = proba[rows, j].astype(np.float64, copy=False)
        cands, tp_j, fp_j, fn_j, _ = _sweep(pos[rows, j], col, w_j)
        TP, FP, FN = tp.sum() - tp[j], fp.sum() - fp[j], fn.sum() - fn[j]
        values = _values(_f1, TP + tp_j, FP + fp_j, FN + fn_j, 0.0)
        current = float(_values(_f1, tp.sum(), fp.sum(), fn.sum(), 0.0))
        t, _ = _pick(cands, values, col, prefer=shared)
        t = shared + _weight(int(positives[j]), _SHRINK_MICRO) * (t - shared)
        decided = proba[:, j] >= t
        moved = [float(weighed(decided & pos[:, j], j)), float(weighed(decided & ~pos[:, j], j))]
        if float(_values(_f1, TP + moved[0], FP + moved[1], FN + positives_w[j] - moved[0], 0.0)) < current:
            continue  # shrunk part-way, the move would lower micro-F1: keep the shared threshold
        tp[j], fp[j], fn[j] = moved[0], moved[1], positives_w[j] - moved[0]
        thresholds[j] = t
    return thresholds


# ---- rank rules: how many labels a row gets, beside the score cut ----------
def check_rank_rule(est, spec):
    """``(top_k, min_labels)`` when a rank rule is set, else None.

    Read at every ``predict``: like ``threshold``, both may change after fit.
    """
    top_k, min_labels = getattr(est, "top_k", None), getattr(est, "min_labels", 0)
    for name, value, low in (("top_k", top_k, 1), ("min_labels", min_labels, 0)):
        if value is None and name == "top_k":
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}{' or None' if low else ''}; got {value!r}.")
    if top_k is None and not min_labels:
        return None
    if top_k is not None and min_labels:
        raise ValueError(
            f"top_k={top_k} and min_labels={min_labels} were both given: top_k gives each row exactly "
            "k labels, min_labels at least that many beside those over the threshold. Set one of them."
        )
    name, k = ("top_k", top_k) if top_k is not None else ("min_labels", min_labels)
    if spec.task != "multilabel":
        raise ValueError(
            f"{name}={k} chooses labels per row of a multi-label task; this estimator's task is "
            f"{spec.task!r}. Leave {name} at its default."
        )
    n_labels = sum(h.units for h in spec.heads)
    if k > n_labels:
        raise ValueError(f"{name}={k} exceeds the {n_labels} labels of this task.")
    return int(top_k) if top_k is not None else None, int(min_labels)


def rank_cut(proba: np.ndarray, decided: np.ndarray, rule) -> np.ndarray:
    """Decisions under a rank rule (Yang's RCut beside the score cut).

    ``top_k``: each row's k most probable labels, whatever the threshold.
    ``min_labels``: the labels over the threshold, and where a row has fewer
    than m, its most probable others until it has m. Ties go to the lower
    column index.
    """
    top_k, min_labels = rule
    if top_k is not None:
        chosen = _top(proba, top_k)
        out = np.zeros_like(decided)
        np.put_along_axis(out, chosen, 1, axis=1)
        return out
    short = decided.sum(axis=1) < min_labels
    if not short.any():
        return decided
    out = decided.copy()
    rows = out[short]
    # labels already over the threshold rank first, then by probability
    chosen = _top(proba[short] + 2.0 * rows, min_labels)
    np.put_along_axis(rows, chosen, 1, axis=1)
    out[short] = rows
    return out


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k highest scores (ties: lower index first)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    return order[:, :k]


def of_estimator(est) -> np.ndarray | None:
    """The thresholds a fitted estimator's ``predict`` uses (``thresholds_``)."""
    tuned = None
    if isinstance(est.threshold, str) and est._spec_.n_thresholds:
        tuned = tuned_on_holdout(est)
    return resolve_thresholds(est.threshold, est._spec_.n_thresholds, tuned)


def tuned_on_holdout(est) -> np.ndarray:
    """``threshold="auto"``: thresholds tuned on the rows held out at fit.

    Tuned once per objective name (kept in ``est._tuned_``, which every fit
    resets); a callable objective is asked again each time, since a new
    function may reuse an old one's id and its behaviour may change.
    """
    objective = est.threshold_objective
    if isinstance(objective, str) and objective in est._tuned_:
        return est._tuned_[objective]
    holdout = getattr(est, "_holdout_", None)
    if holdout is None:
        raise ValueError(
            "threshold='auto' tunes on data held out at fit, and this estimator "
            "was fitted without any (threshold was not 'auto' and early_stopping "
            "was off). Refit with threshold='auto'."
        )
    if isinstance(objective, str) and objective not in OBJECTIVES:
        raise ValueError(
            f"threshold_objective must be one of {list(OBJECTIVES)} or a callable "
            f"(y_true, y_pred) -> float; got {objective!r}."
        )
    if not isinstance(objective, str) and not callable(objective):
        raise TypeError(f"threshold_objective must be a name or a callable; got {type(objective).__name__}.")
    y_true, proba, weights = holdout
    tuned = tune_thresholds(y_true, proba, objective, weights)
    if isinstance(objective, str):
        est._tuned_[objective] = tuned
    return tuned
