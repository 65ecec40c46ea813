"""99% accuracy after one epoch on 400 labels: is that real?
=========================================================

Q4: 400 labels, 3 positive per row: binary cross-entropy reports 99%
accuracy after one epoch. Is that real?  No: Keras's "accuracy" on sigmoid
outputs is per-element binary accuracy, and predicting "no label" everywhere
already scores 99%. The honest figures are subset accuracy, Hamming loss, F1.

A synthetic text problem: 400 topics, each with its own words; every document
mixes 3 topics. TF-IDF gives a sparse X that stays sparse through training.

Run: ``python examples/q4_honest_metrics.py``
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score, hamming_loss
from sklearn.model_selection import train_test_split

from skmultihead import MultiLabelKerasClassifier

rng = np.random.RandomState(0)
n_labels, n_docs = 400, 6000
topic_words = [[f"w{t}_{i}" for i in range(5)] for t in range(n_labels)]
common = [f"common{i}" for i in range(300)]
docs, Y = [], np.zeros((n_docs, n_labels), dtype=int)
for d in range(n_docs):
    topics = rng.choice(n_labels, 3, replace=False)
    Y[d, topics] = 1
    words = [w for t in topics for w in rng.choice(topic_words[t], 3)]
    words += list(rng.choice(common, 20))
    docs.append(" ".join(words))

X = TfidfVectorizer().fit_transform(docs)  # scipy sparse CSR
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.25, random_state=0)
print(
    f"X: {X.shape[0]} documents x {X.shape[1]} words, sparse ({X.nnz / np.prod(X.shape):.2%} filled); "
    f"{n_labels} labels, {Y.sum(axis=1).mean():.0f} per document"
)

all_zero = np.zeros_like(Y_test)
print(
    f"predicting no label at all: per-element accuracy {np.mean(all_zero == Y_test):.3f}, "
    f"subset accuracy {accuracy_score(Y_test, all_zero):.3f}, micro-F1 0.000"
)

clf = MultiLabelKerasClassifier(
    hidden_layer_sizes=(256,),
    epochs=15,
    batch_size=64,
    learning_rate=0.01,
    metrics=[
        "subset_accuracy",
        "hamming_loss",
        "f1_micro",
        keras.metrics.BinaryAccuracy(name="binary_accuracy"),
    ],
    random_state=0,
)
clf.fit(X_train, Y_train)
h = clf.history_
print("after epoch 1 (training data):")
print(f"  Keras per-element binary accuracy {h['binary_accuracy'][0]:.3f}  <- looks great, means nothing")
print(
    f"  subset accuracy {h['subset_accuracy'][0]:.3f}, hamming loss {h['hamming_loss'][0]:.4f}, micro-F1 {h['f1_micro'][0]:.3f}"
)
pred = clf.predict(X_test)
print(
    f"held-out after {len(h['loss'])} epochs: subset accuracy {clf.score(X_test, Y_test):.3f}, "
    f"hamming loss {hamming_loss(Y_test, pred):.4f}, micro-F1 {f1_score(Y_test, pred, average='micro'):.3f}, "
    f"samples-F1 {f1_score(Y_test, pred, average='samples'):.3f}"
)
