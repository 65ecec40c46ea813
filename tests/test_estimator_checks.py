"""scikit-learn's own estimator checks, on small networks."""

from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier

SMALL = dict(hidden_layer_sizes=(16,), dropout=0.0, epochs=30, learning_rate=0.01, batch_size=16)

_MINIBATCH = (
    "Mini-batch gradient descent: a row weighted 2 and the same row repeated "
    "fall into different batches and Keras averages each batch's loss over its "
    "rows, so the two fits differ (scikit-learn xfails this check for "
    "SGDClassifier and Perceptron for the same reason). With the whole data in "
    "one batch, a row weighted k trains exactly as the row repeated k times: "
    "test_training.py::test_sample_weight_equals_repeating_rows_in_full_batch_training."
)
_MULTILABEL_Y = (
    "The check fits a 0/1 matrix with several 1s per row. That is multi-label, "
    "and MultiClassKerasClassifier refuses it by design with an error naming "
    "MultiLabelKerasClassifier (tested in test_targets.py); its multi-output "
    "support is for columns with their own sets of classes."
)
_ONE_D_Y = (
    "The check fits 1-D string labels whatever the multi-output-only target tags "
    "say. MultiLabelKerasClassifier refuses 1-D y by design, with an error naming "
    "MultiClassKerasClassifier (tested in test_targets.py)."
)

_PROBA_LAYOUT = (
    "For a one-column y the check expects predict_proba of shape (n_samples, 2). "
    "MultiLabelKerasClassifier answers (n_samples, n_labels), the layout of "
    "MLPClassifier and the one check_classifiers_multilabel_output_format_"
    "predict_proba accepts; sparse input itself is supported and tested in "
    "test_data.py."
)
_PREDICT_1D = (
    "The check fits a (n_samples, 1) y and expects 1-D predictions, while "
    "check_estimator_sparse_matrix expects (n_samples, 1) for the same tags. "
    "MultiLabelKerasClassifier answers in the shape of y."
)


def _expected_failed_checks(estimator):
    failed = {
        "check_sample_weight_equivalence_on_dense_data": _MINIBATCH,
        "check_sample_weight_equivalence_on_sparse_data": _MINIBATCH,
    }
    if isinstance(estimator, MultiClassKerasClassifier):
        failed["check_classifier_multioutput"] = _MULTILABEL_Y
    else:
        failed["check_classifiers_classes"] = _ONE_D_Y
        failed["check_class_weight_classifiers"] = _ONE_D_Y
        for name in ("check_estimator_sparse_matrix", "check_estimator_sparse_array"):
            failed[name] = _PROBA_LAYOUT
        failed["check_classifiers_train"] = _PREDICT_1D
    return failed


@parametrize_with_checks(
    [MultiClassKerasClassifier(**SMALL), MultiLabelKerasClassifier(**SMALL)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    name = getattr(check, "func", check).__name__
    if name in ("check_estimator_sparse_matrix", "check_estimator_sparse_array"):
        # These fit once per sparse format and index type (16 fits) and check
        # what predict answers, not how well: a few epochs are enough.
        # A clone: the estimator object is shared by every check of this class,
        # and a later check (check_class_weight_classifiers) needs its 30 epochs.
        estimator = clone(estimator).set_params(epochs=3)
    check(estimator)
