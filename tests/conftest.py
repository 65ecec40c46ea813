import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # tests run on the CPU

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests search the same examples in CI (CI=true, as CI services set it),
# so that a submission passes or fails on its own merits, and print how to
# reproduce a failure; runs by hand keep searching afresh. Loaded here, before
# the test modules build their settings objects, which inherit from it.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() not in ("", "0", "false"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _empty_fit_cache():
    """Every test starts with an empty in-process fit cache and default settings,
    so that two fits in different tests are never one network."""
    import skmultihead

    skmultihead.clear_cache()
    before = skmultihead.get_config()
    yield
    skmultihead.set_config(**before)
    skmultihead.clear_cache()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``backend(name, ...)`` run only under those Keras backends;
    under others they are deselected (they check that backend's own code)."""
    import keras

    backend = keras.backend.backend()
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("backend")
        (drop if marker is not None and backend not in marker.args else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
