"""y -> task, heads and encoded targets; network outputs -> labels and probabilities.

Everything the two estimators know about their targets lives in one
:class:`TargetSpec`, built once at fit by :func:`infer_targets`.  It is plain
data (NumPy arrays, strings, ints), so it pickles and turns into JSON for
``save``.
"""

from __future__ import annotations

import datetime
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.utils.multiclass import type_of_target

from ._thresholds import rank_cut

MULTICLASS = "multiclass"
MULTILABEL = "multilabel"

# How y was given; predictions come back in the same form.
FORM_LABELS = "labels"  # 1-D labels
FORM_ONEHOT = "onehot"  # 2-D 0/1, one 1 per row, trained as multiclass
FORM_INDICATOR = "indicator"  # 2-D 0/1 multi-label indicator
FORM_SPARSE = "sparse"  # the same, as a SciPy sparse matrix
FORM_SOFT = "soft"  # 2-D floats in [0, 1]
FORM_COLLECTIONS = "collections"  # [["drama", "comedy"], ["news"]]
FORM_COLUMNS = "columns"  # 2-D, one set of classes per column
FORM_BINARY_COLUMNS = "binary_columns"  # 2-D, two values per column (multi-label)

# Forms whose entries may be unknown (NaN, None, pd.NA; polars' null): one
# label or one output per column. A 1-D y, one-hot rows, sparse y and label
# collections cannot say "unknown" apart from a label.
UNKNOWN_FORMS = (FORM_INDICATOR, FORM_SOFT, FORM_COLUMNS, FORM_BINARY_COLUMNS)

# Forms read from a 2-D y whose columns may carry names (a DataFrame): the
# names are kept, and a later y is matched to them by name.
NAMED_FORMS = (FORM_ONEHOT, FORM_INDICATOR, FORM_SOFT, FORM_COLUMNS, FORM_BINARY_COLUMNS)

TASKS = ("binary", MULTICLASS, MULTILABEL, "multiclass-multioutput")
FORMS = (
    FORM_LABELS,
    FORM_ONEHOT,
    FORM_INDICATOR,
    FORM_SPARSE,
    FORM_SOFT,
    FORM_COLLECTIONS,
    FORM_COLUMNS,
    FORM_BINARY_COLUMNS,
)


@dataclass
class Head:
    """One output of the network.

    ``kind`` is ``"binary"`` (1 logit, sigmoid), ``"multiclass"`` (C logits,
    softmax) or ``"multilabel"`` (L logits, sigmoid).
    """

    kind: str
    units: int
    name: str

    @property
    def activation(self) -> str:
        return "softmax" if self.kind == "multiclass" else "sigmoid"

    @property
    def thresholded(self) -> bool:
        return self.kind in ("binary", "multilabel")


# ---------------------------------------------------------------------------
# Target forms: one class each. A new form of y is one subclass here, named
# in FORM_CLASSES, plus the branch of infer_targets that recognises it.
# ---------------------------------------------------------------------------


class Form:
    """One layout of y: how it becomes per-head arrays for training, how
    per-head decisions go back into that layout, and how rows are compared
    for ``score``. Stateless; what was learned (classes, heads) is the spec's.
    """

    name = ""
    tasks: tuple = ()  # the tasks y of this form can be
    by_column = False  # one set of classes per column of y (multi-output)

    def encode(self, spec, y) -> list:
        raise NotImplementedError

    def decide(self, spec, decisions: list, dtype: np.dtype):
        """Per-head decisions (class indices, or a 0/1 matrix) -> answers."""
        raise NotImplementedError

    def hits(self, spec, y, y_pred) -> np.ndarray:
        """1.0 where a row of y equals its prediction exactly, else 0.0."""
        y_true = _as_2d_object(y) if self.by_column else _dense_2d(y)
        y_hat = y_pred.toarray() if sp.issparse(y_pred) else y_pred
        if y_true.shape != y_hat.shape:
            raise ValueError(f"y has shape {y_true.shape} but predictions have shape {y_hat.shape}.")
        return np.all(y_true == y_hat, axis=1).astype(float)

    def label_names(self, spec) -> np.ndarray:
        """One name per output unit of a multi-label head."""
        return spec.classes[0]


def _label_indices(head, idx) -> np.ndarray:
    """A binary head trains on a (n, 1) float column, a multiclass head on indices."""
    return idx.astype(np.float32).reshape(-1, 1) if head.kind == "binary" else idx.astype(np.int32)


class Labels(Form):
    """1-D labels: binary or multiclass."""

    name = FORM_LABELS
    tasks = ("binary", MULTICLASS)

    def encode(self, spec, y):
        return [_label_indices(spec.heads[0], _lookup(spec.classes[0], _as_1d(y)))]

    def decide(self, spec, decisions, dtype):
        return spec.classes[0][decisions[0]]

    def hits(self, spec, y, y_pred):
        y = _as_1d(y)
        _check_label_type(spec.classes[0], y)
        return (y == y_pred).astype(float)


class OneHot(Form):
    """2-D 0/1 with one 1 per row, trained as multiclass; answered one-hot."""

    name = FORM_ONEHOT
    tasks = (MULTICLASS,)

    def encode(self, spec, y):
        y = _dense_2d(y)
        _check_n_columns(y, len(spec.classes[0]))
        _check_onehot(y)
        return [np.argmax(y, axis=1).astype(np.int32)]

    def decide(self, spec, decisions, dtype):
        return np.eye(len(spec.classes[0]), dtype=dtype)[decisions[0]]


class Indicator(Form):
    """2-D 0/1 multi-label indicator matrix."""

    name = FORM_INDICATOR
    tasks = (MULTILABEL,)

    def encode(self, spec, y):
        y = _dense_2d(y)
        _check_n_columns(y, len(spec.classes[0]))
        if not _in_unit_interval(y):
            raise ValueError(
                "Multi-label y must hold 0/1 or soft values in [0, 1], like at fit; got "
                f"{_values_seen(y) if y.dtype.kind in 'biuf' else f'dtype {y.dtype}'}."
            )
        return [y.astype(np.float32)]

    def decide(self, spec, decisions, dtype):
        return decisions[0].astype(dtype)


class SparseIndicator(Indicator):
    """The same as a SciPy sparse matrix; trained sparse, answered sparse.

    A sparse y is never densified whole: it is encoded as a float32 CSR
    matrix, and training, early stopping and ``predict`` read it a batch of
    rows at a time, so that tens of thousands of labels fit in memory."""

    name = FORM_SPARSE

    def encode(self, spec, y):
        if not sp.issparse(y):  # a dense y given to score or partial_fit
            return super().encode(spec, y)
        if len(y.shape) != 2:
            raise ValueError(f"y must be 2-D like at fit; got shape {y.shape}.")
        _check_n_columns(y, len(spec.classes[0]))
        y = sp.csr_matrix(y, dtype=np.float32, copy=True)
        y.sum_duplicates()  # canonical: sorted indices, one entry per position
        if not _in_unit_interval(y.data):
            raise ValueError(
                "Multi-label y must hold 0/1 or soft values in [0, 1], like at fit; got "
                f"{_values_seen(y.data)}."
            )
        return [y]

    def decide(self, spec, decisions, dtype):
        return sp.csr_matrix(decisions[0].astype(dtype))

    def hits(self, spec, y, y_pred):
        if not sp.issparse(y):
            return super().hits(spec, y, y_pred)
        y_pred = y_pred if sp.issparse(y_pred) else sp.csr_matrix(y_pred)
        if y.shape != y_pred.shape:
            raise ValueError(f"y has shape {y.shape} but predictions have shape {y_pred.shape}.")
        wrong = sp.csr_matrix(y, dtype=np.float64) != sp.csr_matrix(y_pred, dtype=np.float64)
        return (np.diff(sp.csr_matrix(wrong).indptr) == 0).astype(float)


class Soft(Indicator):
    """2-D floats in [0, 1] (label probabilities); answered 0/1."""

    name = FORM_SOFT

    def decide(self, spec, decisions, dtype):
        return decisions[0].astype(np.int64)

    def hits(self, spec, y, y_pred):
        raise ValueError(
            "score() is subset accuracy, which needs 0/1 targets, and this "
            "estimator was fitted on soft labels (values strictly between 0 "
            "and 1). Pass an explicit scoring function to cross_val_score or "
            "GridSearchCV, e.g. scoring='neg_log_loss' on binarised labels or a "
            "Brier score made with sklearn.metrics.make_scorer."
        )


class Collections(Form):
    """A sequence of label collections: ``[["drama", "comedy"], ["news"]]``."""

    name = FORM_COLLECTIONS
    tasks = (MULTILABEL,)

    def encode(self, spec, y):
        classes = spec.classes[0]
        index = {hashable_label(c): i for i, c in enumerate(classes)}
        rows = _collections_rows(y)
        out = np.zeros((len(rows), len(classes)), dtype=np.float32)
        for i, row in enumerate(rows):
            for label in row:
                j = index.get(hashable_label(label))
                if j is None:
                    raise ValueError(
                        f"y holds the label {label!r}, which was not seen at fit. "
                        f"Known labels: {list(classes)[:20]}."
                    )
                out[i, j] = 1.0
        return [out]

    def decide(self, spec, decisions, dtype):
        classes = spec.classes[0]
        return [tuple(classes[np.flatnonzero(row)].tolist()) for row in decisions[0]]

    def hits(self, spec, y, y_pred):
        rows = _collections_rows(y)
        if len(rows) != len(y_pred):
            raise ValueError(f"y has {len(rows)} rows but X has {len(y_pred)}.")
        return np.array(
            [set(map(hashable_label, a)) == set(map(hashable_label, b)) for a, b in zip(rows, y_pred)],
            dtype=float,
        )


def _stack_columns(spec, decisions, dtype):
    columns = [cls[d] for cls, d in zip(spec.classes, decisions)]
    out = np.empty((len(decisions[0]), len(columns)), dtype=dtype)
    for j, col in enumerate(columns):
        out[:, j] = col
    return out


class Columns(Form):
    """2-D, one set of classes per column: one head per column."""

    name = FORM_COLUMNS
    tasks = ("multiclass-multioutput",)
    by_column = True

    def encode(self, spec, y):
        y = _as_2d_object(y)
        _check_n_columns(y, len(spec.classes))
        return [
            _label_indices(head, _lookup(cls, y[:, j], where=f"column {j}"))
            for j, (head, cls) in enumerate(zip(spec.heads, spec.classes))
        ]

    def decide(self, spec, decisions, dtype):
        return _stack_columns(spec, decisions, dtype)


class BinaryColumns(Form):
    """2-D, two values per column (multi-label): one multi-label head."""

    name = FORM_BINARY_COLUMNS
    tasks = (MULTILABEL,)
    by_column = True

    def encode(self, spec, y):
        y = _as_2d_object(y)
        _check_n_columns(y, len(spec.classes))
        cols = [_lookup(cls, y[:, j], where=f"column {j}") for j, cls in enumerate(spec.classes)]
        return [np.column_stack(cols).astype(np.float32)]

    def decide(self, spec, decisions, dtype):
        return _stack_columns(spec, list(decisions[0].T), dtype)

    def label_names(self, spec):
        return np.arange(len(spec.classes))


FORM_CLASSES = {
    form.name: form()
    for form in (Labels, OneHot, Indicator, SparseIndicator, Soft, Collections, Columns, BinaryColumns)
}


@dataclass
class TargetSpec:
    """What was learned from y at fit; its form does the work."""

    task: str
    form: str
    classes: list  # one array per head (multilabel: one array of label names)
    heads: list
    y_dtype: str = "int64"
    n_thresholds: int = 0
    names: list | None = None  # the column names of a DataFrame y at fit, when all are strings

    @property
    def _form(self) -> Form:
        return FORM_CLASSES[self.form]

    def encode(self, y) -> list:
        """Encode y (in the form seen at fit) into one array per head.

        Where the form admits unknown entries (a 2-D y of labels, or several
        outputs) and y holds some, they come back as NaN in the float arrays
        (labels, binary heads) and as -1 in class indices: ``_training``
        turns them into entries of weight 0."""
        y = self.aligned(y)
        mask = self.unknown_entries(y)
        if mask is None:
            return self._form.encode(self, _checked(y))
        encoded = self._form.encode(self, self._filled(y, mask))
        if len(encoded) == 1 and self.heads[0].kind == "multilabel":
            encoded[0] = np.where(mask, np.float32(np.nan), encoded[0]).astype(np.float32)
            return encoded
        out = []
        for j, head_y in enumerate(encoded):
            gone = mask[:, j].reshape(-1, *([1] * (head_y.ndim - 1)))
            fill = np.float32(np.nan) if head_y.dtype.kind == "f" else -1
            out.append(np.where(gone, fill, head_y).astype(head_y.dtype))
        return out

    def unknown_entries(self, y):
        """The (n, k) mask of y's unknown entries when this form admits them
        and y has some; else None (and missing values are refused later)."""
        if self.form not in UNKNOWN_FORMS or sp.issparse(y) or _is_label_collections(y):
            return None
        mask = missing_mask(y)
        return mask if mask.ndim == 2 and mask.any() else None

    def _filled(self, y, mask):
        """y with each unknown entry replaced by a known label of its column
        (encoded, then masked again)."""
        values = _to_numpy(y)
        values = values.copy() if values.dtype.kind == "f" else values.astype(object)
        for j in range(values.shape[1]):
            if self.form in (FORM_INDICATOR, FORM_SOFT):
                fill = 0.0
            else:
                fill = self.classes[j][0]
            values[mask[:, j], j] = fill
        return _to_numpy(values) if values.dtype.kind == "O" else values

    def aligned(self, y):
        """y with its named columns in the order of fit.

        A DataFrame y whose string column names are those of fit, in another
        order, is reordered; one with other names is refused, naming them. y
        without names (an array) is read by position, as at fit."""
        given = column_names(y)
        if self.names is None or given is None or given == self.names:
            return y
        missing = [c for c in self.names if c not in given]
        unexpected = [c for c in given if c not in self.names]
        if missing or unexpected or len(given) != len(self.names):
            raise ValueError(
                f"y's columns are not those seen at fit: missing {missing[:10]}, unexpected "
                f"{unexpected[:10]}. Give y with the columns {self.names[:10]}"
                f"{' ...' if len(self.names) > 10 else ''} (in any order)."
            )
        return y[self.names] if hasattr(y, "loc") else y.select(self.names)

    # ---- network outputs -> answers --------------------------------------
    def predict_proba(self, outputs: list):
        """Probabilities in scikit-learn's layout from per-head outputs."""
        probas = []
        for head, out in zip(self.heads, outputs):
            out = np.asarray(out, dtype=np.float64)
            if head.kind == "binary":
                p = out.reshape(-1)
                probas.append(np.column_stack([1.0 - p, p]))
            elif head.kind == "multiclass":
                probas.append(_rows_summing_to_one(out))
            else:
                probas.append(out)
        return probas if self.form == FORM_COLUMNS else probas[0]

    def predict(self, outputs: list, thresholds: np.ndarray | None, rank=None):
        """Decisions in the form y had at fit; ``rank`` a rule of
        :func:`_thresholds.check_rank_rule` for multi-label heads."""
        decisions = []  # per head: class indices (n,) or 0/1 matrix (n, L)
        t = 0
        for head, out in zip(self.heads, outputs):
            out = np.asarray(out)
            if head.kind == "multiclass":
                decisions.append(np.argmax(out, axis=1))
            elif head.kind == "binary":
                decisions.append((out.reshape(-1) >= thresholds[t]).astype(np.int64))
                t += 1
            else:
                decided = (out >= thresholds[t : t + head.units]).astype(np.int64)
                if rank is not None:
                    decided = rank_cut(out, decided, rank)
                decisions.append(decided)
                t += head.units
        return self._form.decide(self, decisions, np.dtype(self.y_dtype))

    def score(self, y, y_pred, sample_weight=None) -> float:
        """Accuracy: exact match of the whole row (subset accuracy); with
        unknown entries in y, of every known entry of the row (a row with none
        known takes no part)."""
        y = self.aligned(y)
        mask = self.unknown_entries(y)
        if mask is None or self.form == FORM_SOFT:
            hits = self._form.hits(self, y, y_pred)
            return float(np.average(hits, weights=sample_weight))
        truth, pred = self.encode(y), self._form.encode(self, _checked(y_pred))
        n = len(mask)
        ok = np.ones(n, dtype=bool)
        for a, b in zip(truth, pred):
            a, b = np.asarray(a).reshape(n, -1), np.asarray(b).reshape(n, -1)
            known = known_entries(a)
            ok &= np.all((a == b) if known is None else (a == b) | ~known, axis=1)
        weight = (~mask.all(axis=1)).astype(float)
        if sample_weight is not None:
            weight = weight * np.asarray(sample_weight, dtype=float)
        return float(np.average(ok.astype(float), weights=weight))

    # ---- bookkeeping ------------------------------------------------------
    @property
    def n_outputs(self) -> int:
        return len(self.heads)

    @property
    def by_column(self) -> bool:
        return self._form.by_column

    @property
    def n_classes(self):
        return [len(c) for c in self.classes] if self.by_column else len(self.classes[0])

    @property
    def label_names(self) -> np.ndarray:
        """One name per output unit of a multi-label head: y's column names
        where it had them."""
        if self.names is not None and self.task == MULTILABEL:
            return np.array(self.names, dtype=object)
        return self._form.label_names(self)

    @property
    def output_names(self) -> list:
        """One name per thresholded output (binary heads and labels), for
        displays: y's column names where it had them, else indices."""
        if self.task == MULTILABEL:
            return list(self.label_names.tolist())
        names = self.names or list(range(len(self.heads)))
        return [name for head, name in zip(self.heads, names) if head.thresholded]

    def public_classes(self):
        if self.by_column:
            return list(self.classes)
        return self.classes[0] if self.names is None else np.array(self.names, dtype=object)

    # ---- scikeras's target-encoder interface: ``target_encoder_`` ----------
    def fit(self, y):
        """Already fitted: the task was read from y by the estimator's fit."""
        return self

    def transform(self, y):
        """y -> what the network trains on: one array, or a list with one per head."""
        encoded = self.encode(y)
        return encoded[0] if len(encoded) == 1 else encoded

    def inverse_transform(self, outputs, return_proba: bool = False):
        """Network probabilities (one array, or one per head) -> predictions
        at threshold 0.5 (the estimator's ``predict`` uses ``thresholds_``),
        or with ``return_proba`` probabilities in scikit-learn's layout."""
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if return_proba:
            return self.predict_proba(outputs)
        return self.predict(outputs, np.full(self.n_thresholds, 0.5))

    def get_metadata(self) -> dict:
        return {
            "classes_": self.public_classes(),
            "n_classes_": self.n_classes,
            "n_outputs_": self.n_outputs,
            "n_outputs_expected_": self.n_outputs,
        }


# ---------------------------------------------------------------------------
# Inference
# ---------------------------------------------------------------------------


def known_entries(target: np.ndarray) -> np.ndarray | None:
    """Where a head's encoded target is known (same shape: not NaN in a float
    target, not -1 in class indices), or None if all are."""
    if sp.issparse(target):  # a sparse y stores no unknown entry (refused at fit)
        return None
    target = np.asarray(target)
    known = ~np.isnan(target) if target.dtype.kind == "f" else target >= 0
    return None if known.all() else known


def _rows_summing_to_one(out: np.ndarray) -> np.ndarray:
    """A softmax output in float64, each row divided by its sum: the network
    computes in float32, whose rows sum to 1 only within 1e-7, and scikit-learn's
    ``log_loss`` warns on every call below float64's precision. A row that is
    not a distribution (a negative entry, a zero sum: a user's network with
    another output) is returned as the network gave it."""
    sums = out.sum(axis=1, keepdims=True)
    ok = (out >= 0).all(axis=1, keepdims=True) & (sums > 0)
    return np.where(ok, out / np.where(ok, sums, 1.0), out)


def infer_targets(y, estimator_kind: str) -> TargetSpec:
    """Decide the task from y.

    ``estimator_kind`` is ``"multiclass"`` for MultiClassKerasClassifier and
    ``"multilabel"`` for MultiLabelKerasClassifier.  Every refusal is a
    ``ValueError`` whose message says what was seen and what to do.
    """
    if y is None:
        raise ValueError("requires y to be passed, but the target y is None. Pass the labels to fit(X, y).")
    names = column_names(y)
    mask = _unknown_at_fit(y, estimator_kind)
    if mask is None:
        spec = _infer(_checked(y), estimator_kind)
    else:
        spec = _infer(_filled_for_inference(y, mask), estimator_kind)
        if spec.form not in UNKNOWN_FORMS:
            raise ValueError(
                f"y holds unknown entries (NaN, None, pd.NA) and was read as {spec.form} rows, where "
                "an entry cannot be unknown on its own. Unknown entries are for one label per column "
                "(MultiLabelKerasClassifier) or one output per column (MultiClassKerasClassifier with "
                "columns of their own classes); otherwise drop the rows with missing values."
            )
    if names is not None and spec.form in NAMED_FORMS:
        spec.names = names
    return spec


def _unknown_at_fit(y, estimator_kind: str):
    """The (n, k) mask of unknown entries of a 2-D y that may have them, or
    None (y without any; or a y where a missing value is refused later: 1-D,
    label collections). Refuses what no reading can train: a sparse y storing
    NaN, a column with no known entry. Warns of rows with none."""
    if sp.issparse(y):
        data = y.tocsr().data if not hasattr(y, "data") else y.data
        if data.dtype.kind == "f" and np.isnan(data).any():
            raise ValueError(
                "y is sparse and stores NaN: a sparse matrix cannot tell an unknown entry from an "
                "absent label (0). Pass y as a dense float array (NaN where unknown), or a "
                "DataFrame with missing values."
            )
        return None
    if _is_label_collections(y):
        return None
    mask = missing_mask(y)
    if mask.ndim != 2 or not mask.any() or (estimator_kind == MULTICLASS and mask.shape[1] < 2):
        return None
    names = column_names(y)
    empty = np.flatnonzero(mask.all(axis=0))
    if len(empty):
        which = [names[j] for j in empty] if names else empty.tolist()
        raise ValueError(
            f"y's column{'s' if len(empty) > 1 else ''} {which[:10]} {'have' if len(empty) > 1 else 'has'} "
            "no known entry: nothing could learn it. Drop that column, or give some of its entries."
        )
    blank = int(mask.all(axis=1).sum())
    if blank:
        import warnings

        warnings.warn(
            f"{blank} rows of y have no known entry; they take no part in training or tuning.",
            UserWarning,
            stacklevel=6,
        )
    return mask


def _filled_for_inference(y, mask):
    """y with each unknown entry replaced by a known value of its column, so
    that the task is read from the known values alone."""
    values = _to_numpy(y)
    values = values.copy() if values.dtype.kind == "f" else values.astype(object)
    for j in range(values.shape[1]):
        values[mask[:, j], j] = values[~mask[:, j], j][0]
    return _to_numpy(values) if values.dtype.kind == "O" else values


def column_names(y) -> list | None:
    """The column names of a 2-D pandas or polars DataFrame y, when all are
    strings (as scikit-learn reads ``feature_names_in_``); else None."""
    columns = getattr(y, "columns", None)
    if columns is None or not hasattr(y, "to_numpy") or len(getattr(y, "shape", ())) != 2:
        return None
    names = list(columns)
    if not names or not all(isinstance(c, str) for c in names):
        return None
    if len(set(names)) != len(names):
        dup = sorted({c for c in names if names.count(c) > 1})
        raise ValueError(f"y has duplicate column names {dup[:10]}; give each label column its own name.")
    return [str(c) for c in names]


def _infer(y, estimator_kind: str) -> TargetSpec:
    if _is_label_collections(y):
        if estimator_kind == MULTICLASS:
            raise ValueError(
                "y is a sequence of label collections (several labels per sample), "
                "which is a multi-label target. Use MultiLabelKerasClassifier."
            )
        return _collections_spec(y)

    if sp.issparse(y):
        if estimator_kind == MULTICLASS:
            y = y.toarray()
        else:
            _check_finite(y.data)
            return _indicator_spec(y, FORM_SPARSE)

    y = _to_numpy(y)
    if y.ndim == 0 or y.size == 0:
        raise ValueError(f"y must hold at least one label; got an array of shape {y.shape}.")
    if y.ndim > 2:
        raise ValueError(f"y must be 1-D (one label per sample) or 2-D; got shape {y.shape}.")
    if y.dtype.kind == "O":
        _check_object_labels(y)
    _check_finite(y)
    kind = _target_kind(y)

    if estimator_kind == MULTICLASS:
        return _multiclass_spec(y, kind)
    return _multilabel_spec(y, kind)


def _target_kind(y) -> str:
    try:
        return type_of_target(y, input_name="y")
    except ValueError as exc:
        raise ValueError(f"Could not read the labels in y: {exc}") from exc
    except TypeError:  # columns of different label types (each column checked to be of one)
        return "unknown"


def _multiclass_spec(y, kind: str) -> TargetSpec:
    if y.ndim == 2 and y.shape[1] == 1:
        import warnings

        from sklearn.exceptions import DataConversionWarning

        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. It is read as one label per sample.",
            DataConversionWarning,
            stacklevel=4,
        )
        y = y.ravel()
    if kind.startswith("continuous"):
        raise ValueError(
            f"Unknown label type: {kind}. y holds continuous values ({_values_seen(y)}), "
            "which is a regression target, not class labels. Use a regressor; "
            + (
                "for soft labels (values in [0, 1] per column) use MultiLabelKerasClassifier."
                if y.ndim == 2 and _in_unit_interval(y)
                else "or encode the classes as integers or strings."
            )
        )
    if y.ndim == 1:
        classes = _classes_of(y, "y")
        if len(classes) < 2:
            raise ValueError(
                f"y has only one class ({hashable_label(classes[0])!r}); a classifier needs at least "
                "two. Check how the labels were selected."
            )
        task = "binary" if len(classes) == 2 else "multiclass"
        head = Head(
            "binary" if task == "binary" else "multiclass", 1 if task == "binary" else len(classes), "output"
        )
        return TargetSpec(task, FORM_LABELS, [classes], [head], y.dtype.str, 1 if task == "binary" else 0)
    # 2-D: 0s and 1s only is one-hot (or multi-label); anything else, one set of classes per column
    if _zero_one(y):
        dense = np.asarray(y)
        row_sums = dense.sum(axis=1)
        if np.any(row_sums > 1):
            n_multi = int(np.sum(row_sums > 1))
            raise ValueError(
                f"y is a 0/1 matrix in which {n_multi} rows have several 1s: each "
                "sample belongs to several classes, which is a multi-label task. "
                "MultiClassKerasClassifier needs exactly one class per sample "
                "(mutually exclusive classes, softmax). Use MultiLabelKerasClassifier "
                "(independent labels, sigmoid + binary cross-entropy)."
            )
        if np.any(row_sums == 0):
            raise ValueError(
                f"y is a 0/1 matrix with {int(np.sum(row_sums == 0))} rows that have "
                "no 1: it is not one-hot. Give every sample exactly one class, or use "
                "MultiLabelKerasClassifier if a sample may have no label."
            )
        n_classes = dense.shape[1]
        head = Head("multiclass", n_classes, "output")
        # One-hot rows answer as int64 whatever their dtype, as MLPClassifier and scikeras do.
        return TargetSpec(MULTICLASS, FORM_ONEHOT, [np.arange(n_classes)], [head], np.dtype(np.int64).str, 0)
    return _columns_spec(y)


def _columns_spec(y) -> TargetSpec:
    classes, heads = [], []
    n_thresholds = 0
    for j in range(y.shape[1]):
        cls = _classes_of(y[:, j], f"Column {j} of y")
        if len(cls) < 2:
            read_as = (
                f" (y holds {_values_seen(y)}, not only 0s and 1s, so it is read as one set of "
                "classes per column, not as one-hot)"
                if y.dtype.kind in "biuf"
                else ""
            )
            raise ValueError(
                f"Column {j} of y has only one class ({hashable_label(cls[0])!r}){read_as}; every "
                "output needs at least two classes. Drop that column, or give one-hot rows "
                "(0s and 1s, one 1 per row)."
            )
        classes.append(cls)
        if len(cls) == 2:
            heads.append(Head("binary", 1, f"output_{j}"))
            n_thresholds += 1
        else:
            heads.append(Head("multiclass", len(cls), f"output_{j}"))
    return TargetSpec("multiclass-multioutput", FORM_COLUMNS, classes, heads, y.dtype.str, n_thresholds)


def _multilabel_spec(y, kind: str) -> TargetSpec:
    if y.ndim == 1:
        if kind.startswith("continuous"):
            raise ValueError(
                f"Unknown label type: {kind}. y is 1-D with continuous values, "
                "which is a regression target. MultiLabelKerasClassifier needs a "
                "2-D y of shape (n_samples, n_labels) with 0/1 or soft values in "
                "[0, 1]; for one soft label pass y.reshape(-1, 1)."
            )
        raise ValueError(
            f"y is 1-D ({kind}): one class label per sample, a single-label task; "
            "use MultiClassKerasClassifier. Only binary classification is supported "
            "per label by MultiLabelKerasClassifier, which needs a 2-D indicator "
            "matrix (n_samples, n_labels), soft labels in [0, 1], or a sequence of "
            "label collections."
        )
    return _indicator_spec(y, None)


def _indicator_spec(y, form: str | None) -> TargetSpec:
    is_sparse = sp.issparse(y)
    values = y.data if is_sparse else np.asarray(y)
    n_labels = y.shape[1]
    if n_labels < 1:
        raise ValueError("y has no columns; give at least one label column.")
    if values.dtype.kind not in "biuf":
        return _binary_columns_spec(np.asarray(y))
    if not _zero_one(values):
        if np.all(np.mod(values, 1) == 0):
            # Integer labels other than 0/1: each column a binary label with
            # its own two values (e.g. 1/2 or -1/1), or else multi-output.
            return _binary_columns_spec(y.toarray() if is_sparse else np.asarray(y))
        if _in_unit_interval(values):
            form = FORM_SOFT
        else:
            raise ValueError(
                f"Unknown label type: continuous-multioutput. y holds {_values_seen(values)}: "
                "values outside [0, 1] that are not whole numbers, which is a regression "
                "target. MultiLabelKerasClassifier takes 0/1 labels or soft labels in [0, 1]."
            )
    elif form is None:
        form = FORM_INDICATOR
    dtype = np.dtype(np.int64) if form == FORM_SOFT else values.dtype
    head = Head("multilabel", n_labels, "output")
    return TargetSpec(MULTILABEL, form, [np.arange(n_labels)], [head], dtype.str, n_labels)


def _binary_columns_spec(y: np.ndarray) -> TargetSpec:
    if y.dtype.kind == "O":
        _check_object_labels(y)
    classes = []
    for j in range(y.shape[1]):
        cls = _classes_of(y[:, j], f"Column {j} of y")
        if len(cls) > 2:
            raise ValueError(
                f"Column {j} of y has {len(cls)} classes: each column has its own set "
                "of classes, a multi-output multiclass task. Use "
                "MultiClassKerasClassifier, or give MultiLabelKerasClassifier one 0/1 "
                "column per label."
            )
        if len(cls) == 1:
            raise ValueError(
                f"Column {j} of y holds the single class {hashable_label(cls[0])!r}, which is not 0 "
                "or 1, so which value means 'label present' is unknown. Use 0/1 columns."
            )
        classes.append(cls)
    head = Head("multilabel", len(classes), "output")
    return TargetSpec(MULTILABEL, FORM_BINARY_COLUMNS, classes, [head], y.dtype.str, len(classes))


def _collections_spec(y) -> TargetSpec:
    rows = _collections_rows(y)
    labels = {}
    for row in rows:
        for label in row:
            labels.setdefault(hashable_label(label), label)
    if not labels:
        raise ValueError("y holds no labels at all; every collection is empty.")
    mixed = _mixed_types(list(labels.values()))
    if mixed:
        raise TypeError(f"The labels in y mix types ({mixed}). Use labels of one type.")
    try:
        classes = np.array(sorted(labels.values()))
    except TypeError as exc:
        raise TypeError(
            "The labels in y cannot be sorted (mixed types such as strings and "
            "numbers?). Use labels of one type."
        ) from exc
    head = Head("multilabel", len(classes), "output")
    return TargetSpec(MULTILABEL, FORM_COLLECTIONS, [classes], [head], "O", len(classes))


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _to_numpy(y) -> np.ndarray:
    given = y
    if hasattr(y, "to_numpy"):  # pandas and polars Series / DataFrames
        y = y.to_numpy()
    try:
        arr = np.asarray(y)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(
            f"y could not be read as an array ({exc}). Give one label per sample, "
            "a rectangular 2-D array, or a list of label collections."
        ) from exc
    if arr.dtype.kind in "US" and isinstance(given, (list, tuple)):
        # NumPy turns [1, "a", float("nan")] into the strings '1', 'a', 'nan':
        # keep the objects, so that missing values and mixed types are seen.
        objects = np.asarray(given, dtype=object)
        if objects.shape == arr.shape and not all(issubclass(t, (str, bytes)) for t in _types(objects)):
            return objects
    if arr.dtype.kind == "O" and arr.ndim == 2 and all(issubclass(t, _NUMBERS) for t in _types(arr)):
        # pandas' nullable Int64/boolean columns arrive as objects: numbers, as NumPy would hold them
        arr = np.array(arr.tolist())
    return arr


_NUMBERS = (numbers.Number, np.bool_)


def _types(values: np.ndarray) -> set:
    return set(map(type, values.flat))


# ---- missing values: the one place they are found, and the one place they are refused


def _is_missing_value(value) -> bool:
    if value is None or type(value).__name__ in ("NAType", "NaTType"):  # pandas' NA and NaT
        return True
    if isinstance(value, (float, np.floating, complex, np.complexfloating)):
        return bool(value != value)
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))
    return False


_missing_values = np.frompyfunc(_is_missing_value, 1, 1)


def _missing_in(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fc":
        return np.isnan(values)
    if values.dtype.kind in "mM":
        return np.isnat(values)
    if values.dtype.kind == "O" and any(_may_be_missing(t) for t in _types(values)):
        return np.asarray(_missing_values(values), dtype=bool).reshape(values.shape)
    return np.zeros(values.shape, dtype=bool)


def _may_be_missing(t: type) -> bool:
    missing_kinds = (
        type(None),
        float,
        np.floating,
        complex,
        np.complexfloating,
        np.datetime64,
        np.timedelta64,
    )
    return issubclass(t, missing_kinds) or t.__name__ in ("NAType", "NaTType")


def missing_mask(y):
    """True where y holds a missing value: NaN, None, pandas' NA or NaT, NumPy's
    NaT (pandas' nullable and datetime dtypes and polars' nulls arrive as one of
    these, whatever the container).

    A boolean array of y's shape as an array, (n,) or (n, k); a sparse boolean
    matrix of that shape for sparse y; one entry per row for label
    collections, True where the row holds a missing label.
    """
    if sp.issparse(y):
        y = y.tocsr()
        return sp.csr_matrix((_missing_in(y.data), y.indices, y.indptr), shape=y.shape, dtype=bool)
    if _is_label_collections(y):
        rows = _as_sequence(y)
        return np.array([_is_missing_value(r) or any(map(_is_missing_value, r)) for r in rows], dtype=bool)
    return _missing_in(_to_numpy(y))


def refuse_missing(y) -> None:
    """A ValueError naming where y holds missing values, if it does."""
    mask = missing_mask(y)
    if sp.issparse(mask):
        where = np.column_stack(mask.nonzero())
    else:
        where = np.argwhere(np.atleast_1d(mask))
    if len(where) == 0:
        return
    n, more = len(where), " and more" if len(where) > 5 else ""
    if n == 1:
        spots = f"in row {where[0, 0]}" + (f", column {where[0, 1]}" if where.shape[1] == 2 else "")
    elif where.shape[1] == 2:
        spots = f"at (row, column) {[tuple(i) for i in where[:5].tolist()]}"
    else:
        spots = f"in rows {where[:5, 0].tolist()}"
    raise ValueError(
        f"y holds {n} missing value{'s' if n > 1 else ''} (NaN, None, pd.NA or NaT), {spots}{more}. "
        "Every sample needs its label: drop those rows (e.g. with df.dropna()) or fill them in "
        "before fit."
    )


def _checked(y):
    """y as an array (label collections and sparse matrices as they are), refused
    if it holds missing values."""
    if not (sp.issparse(y) or _is_label_collections(y)):
        y = _to_numpy(y)
    refuse_missing(y)
    return y


def _check_finite(values) -> None:
    values = np.asarray(values)
    if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
        rows = np.unique(np.argwhere(~np.isfinite(values))[:, 0])
        raise ValueError(
            f"Input y contains infinity, in row{'s' if len(rows) > 1 else ''} {rows[:5].tolist()}"
            f"{' and more' if len(rows) > 5 else ''}. "
            "Remove or impute those rows."
        )


# ---- label types


def _type_kind(t: type) -> str:
    if issubclass(t, str):
        return "str"
    if issubclass(t, _NUMBERS):
        return "number"
    if issubclass(t, (datetime.date, np.datetime64)):
        return "date"
    return t.__name__


def _mixed_types(values) -> str | None:
    """``"int, str: e.g. 1 and 'a'"`` if the labels are of several kinds, else None."""
    types = set(map(type, values))
    if len({_type_kind(t) for t in types}) < 2:
        return None
    first = {}
    for value in values:
        first.setdefault(_type_kind(type(value)), value)
    examples = " and ".join(repr(hashable_label(v)) for v in list(first.values())[:3])
    return f"{', '.join(sorted(t.__name__ for t in types)[:6])}: e.g. {examples}"


def _check_object_labels(y) -> None:
    """Object labels hold scalars of one kind per column (no lists mixed in,
    no ints mixed with strings: NumPy can neither sort nor compare those)."""
    columns = [y] if y.ndim == 1 else list(y.T)
    for j, column in enumerate(columns):
        for value in column[: min(len(column), 1000)]:
            if isinstance(value, (list, tuple, set, frozenset, dict, np.ndarray)):
                raise ValueError(
                    f"y holds nested containers ({type(value).__name__}) mixed with "
                    "scalars. Give one label per sample, a 2-D array, or a list of "
                    "label collections."
                )
        mixed = _mixed_types(column)
        if mixed:
            raise TypeError(
                f"{'y' if y.ndim == 1 else f'Column {j} of y'} mixes label types ({mixed}). Labels "
                "of different types cannot be sorted or compared; convert them to one type "
                "(e.g. all strings with y.astype(str))."
            )


def _classes_of(values: np.ndarray, where: str) -> np.ndarray:
    """The sorted distinct labels in ``values``."""
    try:
        return np.unique(values)
    except TypeError as exc:
        raise TypeError(f"{where} holds labels that cannot be sorted or compared: {exc}") from exc


def _zero_one(values) -> bool:
    values = np.asarray(values)
    return values.dtype.kind in "biuf" and bool(np.all((values == 0) | (values == 1)))


def _values_seen(values) -> str:
    """A few distinct values of ``values``, or their range, for messages."""
    values = np.asarray(values).ravel()
    try:
        distinct = [hashable_label(v) for v in np.unique(values)]
    except TypeError:  # labels of several types
        distinct = list(dict.fromkeys(hashable_label(v) for v in values))
    if len(distinct) <= 6:
        return f"the values {distinct}"
    low, high = (f"{v:.6g}" if isinstance(v, float) else repr(v) for v in (distinct[0], distinct[-1]))
    return f"{len(distinct)} distinct values from {low} to {high}"


# ---- label collections


def _as_sequence(y):
    """A pandas or polars Series as its values (a Series of lists iterates as lists)."""
    if hasattr(y, "to_numpy") and len(getattr(y, "shape", ())) == 1:
        return y.to_numpy()
    return y


def _is_label_collections(y) -> bool:
    y = _as_sequence(y)
    if isinstance(y, (list, tuple)):
        items = y
    elif isinstance(y, np.ndarray) and y.dtype.kind == "O" and y.ndim == 1:
        items = y
    else:
        return False
    if len(items) == 0:
        return False
    containers = (list, tuple, set, frozenset, np.ndarray)
    if not all(isinstance(e, containers) or _is_missing_value(e) for e in items):
        return False  # (None in place of a collection is a missing row)
    if not any(isinstance(e, containers) for e in items):
        return False
    if any(isinstance(e, (set, frozenset)) for e in items):
        return True
    try:
        arr = np.asarray(items)
    except ValueError:
        return True  # ragged
    if arr.ndim == 2 and arr.dtype.kind in "biuf":
        return False  # a rectangular numeric matrix, e.g. an indicator
    return arr.ndim != 2 or arr.dtype.kind in "OUS"


def _collections_rows(y) -> list:
    rows = []
    for row in _as_sequence(y):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__iter__"):
            raise ValueError(
                f"y mixes label collections with single labels ({row!r}). Wrap each "
                "single label in a list, e.g. ['news']."
            )
        rows.append(list(row))
    return rows


def hashable_label(label):
    return label.item() if isinstance(label, np.generic) else label


def _as_1d(y) -> np.ndarray:
    y = _to_numpy(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D like at fit; got shape {y.shape}.")
    return y


def _dense_2d(y) -> np.ndarray:
    if sp.issparse(y):
        y = y.toarray()
    y = _to_numpy(y)
    if y.ndim != 2:
        raise ValueError(f"y must be 2-D like at fit; got shape {y.shape}.")
    return y


def _as_2d_object(y) -> np.ndarray:
    y = _to_numpy(y)
    if y.ndim != 2:
        raise ValueError(f"y must be 2-D (one column per output) like at fit; got shape {y.shape}.")
    return y


def _check_n_columns(y, expected: int) -> None:
    if y.shape[1] != expected:
        raise ValueError(f"y has {y.shape[1]} columns but the estimator was fitted with {expected}.")


def _check_onehot(y) -> None:
    if not (_zero_one(y) and np.all(np.sum(y, axis=1) == 1)):
        raise ValueError(
            f"y must be one-hot like at fit: 0s and 1s with exactly one 1 per row; got {_values_seen(y)}."
        )


def _label_kind(values: np.ndarray) -> str:
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        return "numbers"
    if values.dtype.kind in "US":
        return "strings"
    first = next(iter(values.ravel()), None)
    return (
        "strings" if isinstance(first, str) else "numbers" if isinstance(first, numbers.Number) else "other"
    )


def _check_label_type(classes: np.ndarray, values: np.ndarray) -> None:
    """Labels compared with the fitted classes must be of the same kind.

    Unseen labels of the right kind are legitimate (a rare class missing from
    a fold) and simply count as wrong; ints against strings are a mistake.
    """
    want, got = _label_kind(classes), _label_kind(values)
    if "other" not in (want, got) and want != got:
        raise TypeError(
            f"y holds {got} but the estimator was fitted on {want} "
            f"(classes {list(classes)[:5]}). Pass labels of the type used at fit."
        )


def _lookup(classes: np.ndarray, values: np.ndarray, where: str = "y") -> np.ndarray:
    """Indices of ``values`` in the sorted ``classes``; unknown labels raise."""
    _check_label_type(classes, values)
    try:
        idx = np.searchsorted(classes, values)
    except TypeError as exc:
        raise TypeError(
            f"The labels in {where} are of another type than at fit "
            f"(fit saw {classes.dtype}, got {np.asarray(values).dtype})."
        ) from exc
    idx = np.clip(idx, 0, len(classes) - 1)
    bad = classes[idx] != values
    if np.any(bad):
        unseen = np.unique(np.asarray(values)[bad].astype(object))[:10]
        raise ValueError(
            f"{where} holds labels not seen at fit: {list(unseen)}. Known classes: {list(classes)[:20]}."
        )
    return idx


def _in_unit_interval(values) -> bool:
    values = np.asarray(values)
    return values.dtype.kind in "biuf" and bool(np.all((values >= 0) & (values <= 1)))


def with_classes(y, classes, kind):
    """What the task is read from: y, or for partial_fit the full list of classes.

    ``classes`` names every class of a 1-D y (multiclass) or every label of a
    sequence of label collections (multi-label); for indicator matrices the
    columns already name the labels, and ``classes`` is not needed.
    """
    if classes is None:
        return y
    if kind == MULTILABEL:
        return [list(classes)] if _is_label_collections(y) else y
    return np.asarray(classes) if np.ndim(y) == 1 else y


def same_spec(a, b) -> bool:
    """Two specs describe the same target (a cached fit must have seen this y)."""
    return (
        (a.task, a.form, a.y_dtype, a.n_thresholds) == (b.task, b.form, b.y_dtype, b.n_thresholds)
        and [(h.kind, h.units) for h in a.heads] == [(h.kind, h.units) for h in b.heads]
        and len(a.classes) == len(b.classes)
        and all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in zip(a.classes, b.classes))
        and a.names == b.names
    )
