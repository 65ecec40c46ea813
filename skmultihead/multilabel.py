"""MultiLabelKerasClassifier: several independent labels per sample."""

from __future__ import annotations

from ._base import BaseKerasClassifier
from ._registry import register
from ._targets import MULTILABEL


@register
class MultiLabelKerasClassifier(BaseKerasClassifier):
    """A Keras network for independent labels (sigmoid + binary cross-entropy).

    ============================================  =========================================
    y given                                        task
    ============================================  =========================================
    2-D 0/1 indicator matrix (dense or sparse)     ``"multilabel"``: L logits, sigmoid,
                                                   binary cross-entropy from logits
    2-D floats in [0, 1] (soft labels)             ``"multilabel"`` trained on the soft
                                                   targets
    label collections: ``[["drama"], ["news"]]``   ``"multilabel"``; ``classes_`` are the
                                                   label names and ``predict`` returns
                                                   tuples of labels
    ============================================  =========================================

    1-D targets (one label per sample) and columns with their own sets of
    classes are refused with a message that names MultiClassKerasClassifier;
    continuous values outside [0, 1] are refused as a regression target.

    ``history_`` logs honest multi-label metrics: subset accuracy, Hamming
    loss and micro-F1, never Keras's per-element "accuracy". ``score`` is
    subset accuracy, as in scikit-learn.

    The parameters are those of :class:`MultiClassKerasClassifier`, with the
    differences below.

    Parameters
    ----------
    class_weight : dict, "balanced" or None, default=None
        "balanced" weights each label's positives by (negatives / positives)
        inside the binary cross-entropy; a dict ``{label: weight}`` sets that
        weight per label.
    threshold : float, array-like of shape (n_labels,) or "auto", default=0.5
        Decision threshold per label; may be changed after fit without
        refitting. ``thresholds_`` holds what ``predict`` uses. "auto" tunes
        thresholds on held-out rows (stratified over labels) for
        ``threshold_objective``: by default micro-F1, one shared threshold
        refined per label where the held-out evidence supports it.

    Attributes
    ----------
    task_ : str
        ``"multilabel"``.
    classes_ : ndarray
        Label names: those of label collections, the string column names of a
        DataFrame y (pandas or polars), else ``arange(n_labels)``; for columns
        of two values each (``"yes"``/``"no"``), one array of values per column.
    target_names_ : ndarray of str
        Set when y is a DataFrame with string column names. A later ``score``
        or ``partial_fit`` with these columns in another order is reordered;
        with other columns it is refused.
    thresholds_ : ndarray of shape (n_labels,)
    model_, history_, n_features_in_, feature_names_in_ :
        As in :class:`MultiClassKerasClassifier`.

    See Also
    --------
    MultiClassKerasClassifier : mutually exclusive classes.

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from skmultihead import MultiLabelKerasClassifier
    >>> X, Y = make_multilabel_classification(n_samples=60, n_classes=4, random_state=0)
    >>> clf = MultiLabelKerasClassifier(hidden_layer_sizes=(16,), epochs=5, random_state=0)
    >>> clf.fit(X, Y).predict(X[:2]).shape
    (2, 4)
    """

    _estimator_kind = MULTILABEL

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Only 2-D targets: the estimator checks then hand it indicator columns.
        tags.target_tags.single_output = False
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = True
        return tags
