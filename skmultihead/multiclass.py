"""MultiClassKerasClassifier: mutually exclusive classes, one or several outputs."""

from __future__ import annotations

from ._base import BaseKerasClassifier
from ._registry import register
from ._targets import MULTICLASS


@register
class MultiClassKerasClassifier(BaseKerasClassifier):
    """A Keras network for mutually exclusive classes, read from y.

    ============================================  =========================================
    y given                                        task
    ============================================  =========================================
    1-D, two classes (ints, strings, bools)        ``"binary"``: 1 logit, sigmoid, binary
                                                   cross-entropy; ``predict_proba`` (n, 2)
    1-D, more than two classes                     ``"multiclass"``: C logits, softmax,
                                                   sparse categorical cross-entropy
    2-D 0/1, exactly one 1 per row (one-hot)       ``"multiclass"``; ``predict`` answers
                                                   one-hot too
    2-D, each column its own set of classes        ``"multiclass-multioutput"``: shared
                                                   trunk, one head per column;
                                                   ``predict_proba`` is a list
    ============================================  =========================================

    Rows with several 1s, soft labels, label collections and continuous
    (regression) targets are refused with a ``ValueError`` that says what to
    use instead.

    Parameters
    ----------
    model : None, callable or keras.Model, default=None
        None builds a dense trunk from ``hidden_layer_sizes``. A callable is
        called with ``meta`` (``n_features_in_``, ``n_classes_``,
        ``n_outputs_``, ``target_type_``, ``X_shape_``...) and any
        ``model__<name>`` parameters, as in scikeras, and returns a
        ``keras.Model``. A model whose outputs end in softmax/sigmoid is used
        as the complete network (and checked against the task); any other is
        a trunk on which the estimator puts the heads. A ``keras.Model``
        instance is cloned at each fit.
    hidden_layer_sizes : tuple of int, default=(512, 512)
        Units of the built-in trunk's dense layers. The default, with
        ``dropout=0.5`` and early stopping, beats MLPClassifier(256) and
        one-vs-rest logistic regression on the standard multi-label splits
        (benchmarks/README.md); ``(256,)`` with ``dropout=0`` is the plain
        one-layer network of earlier releases.
    activation : str, default="relu"
        Activation of the built-in trunk.
    dropout : float in [0, 1), default=0.5
        Dropout after each hidden layer of the built-in trunk.
    batch_normalization : bool, default=False
        Batch normalisation before each hidden activation.
    optimizer : str, keras optimizer or optimizer class, default="adam"
        Further arguments are routed as ``optimizer__<name>``.
    learning_rate : float or LearningRateSchedule, default=None
        None keeps the optimizer's own learning rate.
    loss : "auto", str, keras.losses.Loss, callable or list, default="auto"
        "auto" picks the right cross-entropy per head, computed from logits.
        Other Keras losses (focal losses included) are accepted by name or
        object; arguments are routed as ``loss__<name>``. A list gives one
        loss per output.
    loss_weights : list of float, default=None
        Weight of each head's loss (multi-output).
    metrics : list, default=None
        Metric names (``"accuracy"``, ``"auc"``, ``"f1_micro"``...) or
        ``keras.metrics.Metric`` objects, logged per epoch in ``history_``.
        None logs accuracy.
    epochs, batch_size : int, default=100, 32
        Passes over the data and rows per gradient step.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the data (stratified by class,
        iteratively over labels for multi-label y), stop after
        ``n_iter_no_change`` epochs without a better validation score, and
        restore the weights of the best epoch. The score is the validation
        loss, and for multi-label 0/1 targets micro-F1 at threshold 0.5
        (``history_["val_f1_micro"]``): their loss bottoms out before rare
        labels are learnt. "auto" stops early from 1,000 rows on with the
        built-in network, and never with a ``model`` of your own, which
        trains on every row as under scikeras.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    class_weight : dict, "balanced", list of dict or None, default=None
        Weights per class (per output for multi-output), multiplied into
        ``sample_weight``.
    threshold : float, array-like or "auto", default=0.5
        Decision threshold on the positive-class probability of binary tasks
        and 2-class outputs. It may be changed on a fitted estimator without
        refitting; ``thresholds_`` holds what ``predict`` uses. "auto" tunes
        it on held-out data for ``threshold_objective``.
    threshold_objective : str or callable, default="f1_micro"
        What ``threshold="auto"`` maximises: ``"f1_micro"``, ``"f1_macro"``
        (alias ``"f1"``), ``"jaccard"``, ``"accuracy"``,
        ``"balanced_accuracy"`` or a callable ``(y_true, y_pred) -> float``.
        A post-fit parameter, like ``threshold``.
    top_k : int or None, default=None
        Multi-label only: each row gets its k most probable labels, whatever
        the threshold. A post-fit parameter.
    min_labels : int, default=0
        Multi-label only: a row with fewer than this many labels over the
        threshold gets its most probable others until it has that many
        (``min_labels=1``: at least one label per row). A post-fit parameter;
        not with ``top_k``.
    memory : str, path-like, joblib.Memory or None, default=None
        A folder of your own where fits share trained networks across
        processes (a ``GridSearchCV(n_jobs=2)`` over thresholds trains one
        network per fold). Used only with a fixed ``random_state``; a folder
        others may write to is not used. See the user guide, "What the fit cache
        shares".
    fit_cache : {"data", "code"} or False, default="data"
        Which fits may be served a network trained before by an identical
        fit (with an int ``random_state``). "data": only fits decided by data
        alone (numbers, strings, arrays, Keras's own named losses,
        optimizers and metrics), which is provably exact. "code": fits that
        involve your own code too (a model function, a custom loss), keyed
        by a fingerprint of that code: ask for it where you know the code
        reads nothing the fingerprint cannot see (user guide, "What the fit
        cache shares"). False: every fit trains.
    random_state : int, RandomState or None, default=None
        Seeds Keras for the fit: two fits with the same value give the same
        network on CPU.
    verbose : int, default=0
        1 shows Keras's progress bar.
    warm_start : bool, default=False
        Continue training the fitted network on the next ``fit``.
    callbacks : list of keras.callbacks.Callback, default=None
    distribution : tf.distribute.Strategy or keras.distribution.Distribution, default=None
        Train one network on several devices: a ``tf.distribute.Strategy`` on
        TensorFlow (e.g. ``MirroredStrategy()``), a
        ``keras.distribution.Distribution`` on JAX (e.g. ``DataParallel()``).
        The network is built, compiled and trained inside it; ``batch_size``
        is the global batch. Not available on torch. Never saved or pickled.
    **kwargs
        Routed parameters: ``model__*``, ``optimizer__*``, ``loss__*``,
        ``fit__*`` (extra arguments of ``keras.Model.fit``).

    Attributes
    ----------
    task_ : str
        ``"binary"``, ``"multiclass"`` or ``"multiclass-multioutput"``.
    classes_ : ndarray or list of ndarray
        The classes (one array per output for multi-output); for a one-hot
        DataFrame y with string column names, those names.
    n_outputs_ : int
        Number of heads.
    target_names_ : ndarray of str
        Set when y is a 2-D DataFrame (pandas or polars) with string column
        names: one name per column (per output, or per one-hot class). A later
        ``score`` or ``partial_fit`` with these columns in another order is
        reordered; with other columns it is refused.
    model_ : keras.Model
        The trained network; it outputs probabilities.
    history_ : dict of lists
        Per-epoch loss and metrics (``val_*`` with early stopping).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Set when X is a DataFrame with string column names.

    See Also
    --------
    MultiLabelKerasClassifier : several independent labels per sample.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skmultihead import MultiClassKerasClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MultiClassKerasClassifier(hidden_layer_sizes=(16,), epochs=5, random_state=0)
    >>> clf.fit(X, y).task_
    'multiclass'
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _estimator_kind = MULTICLASS
