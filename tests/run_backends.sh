#!/usr/bin/env bash
# The test command: the whole suite under TensorFlow and under JAX, and the
# backend-sensitive subset under torch (its whole-suite run is one command:
# KERAS_BACKEND=torch python -m pytest -n 2 tests skmultihead).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== TensorFlow =="
KERAS_BACKEND=tensorflow python -m pytest -n 2 tests skmultihead
echo "== JAX =="
KERAS_BACKEND=jax python -m pytest -n 2 tests skmultihead
echo "== torch (subset) =="
KERAS_BACKEND=torch python -m pytest -n 2 \
    tests/test_backends.py tests/test_answers.py tests/test_training.py tests/test_persist.py \
    tests/test_data.py tests/test_auto_thresholds.py tests/test_robustness.py
