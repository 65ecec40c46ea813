"""Workers of a parallel search spread over the visible GPUs, each letting its
memory grow (TensorFlow would put every worker on the first GPU with all of
its memory). Tested on a mocked device list: the logic, without a GPU."""

import multiprocessing
from types import SimpleNamespace

import pytest
from joblib import Parallel, delayed

from skmultihead import _backend


class FakeTFConfig:
    """The parts of ``tf.config`` that placement uses, recording the calls."""

    def __init__(self, n_gpus, fail=False):
        self.gpus = [SimpleNamespace(name=f"/physical_device:GPU:{i}") for i in range(n_gpus)]
        self.visible, self.growth, self.fail = None, [], fail
        self.experimental = SimpleNamespace(set_memory_growth=self._grow)

    def list_physical_devices(self, kind):
        return self.gpus if kind == "GPU" else []

    def set_visible_devices(self, devices, kind):
        if self.fail:
            raise RuntimeError("Visible devices cannot be modified after being initialized")
        self.visible = [d.name for d in devices]

    def _grow(self, device, enable):
        self.growth.append((device.name, enable))


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch):
    monkeypatch.setattr(_backend, "_placed", False)
    monkeypatch.delenv("SKMULTIHEAD_WORKER_GPUS", raising=False)
    monkeypatch.setattr(_backend, "name", lambda: _backend.TENSORFLOW)


def test_workers_take_the_gpus_in_turn_each_with_memory_growth():
    chosen = []
    for index in range(5):
        config = FakeTFConfig(2)
        device = _backend.place_worker(index=index, tf_config=config)
        assert config.visible == [device]  # this worker sees one GPU only
        assert config.growth == [(device, True)]
        chosen.append(device)
    assert chosen == [f"/physical_device:GPU:{i % 2}" for i in range(5)]


def test_nothing_changes_without_gpus_or_when_turned_off(monkeypatch):
    config = FakeTFConfig(0)
    assert _backend.place_worker(index=1, tf_config=config) is None
    assert config.visible is None and config.growth == []
    monkeypatch.setenv("SKMULTIHEAD_WORKER_GPUS", "0")
    config = FakeTFConfig(2)
    assert _backend.place_worker(index=1, tf_config=config) is None
    assert config.visible is None and config.growth == []


def test_devices_already_set_up_stay_as_they_are():
    config = FakeTFConfig(2, fail=True)
    assert _backend.place_worker(index=1, tf_config=config) is None
    assert config.growth == []


def test_the_users_own_process_is_left_alone(monkeypatch):
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: None)
    config = FakeTFConfig(2)
    assert _backend.place_worker(tf_config=config) is None
    assert config.visible is None and config.growth == []


def test_placement_happens_once_per_process(monkeypatch):
    monkeypatch.setattr(_backend, "worker_index", lambda: 0)
    first = FakeTFConfig(2)
    assert _backend.place_worker(tf_config=first) == "/physical_device:GPU:0"
    second = FakeTFConfig(2)
    assert _backend.place_worker(tf_config=second) is None
    assert second.visible is None


def test_worker_index_is_read_from_the_worker_process_name(monkeypatch):
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    monkeypatch.setattr(multiprocessing, "current_process", lambda: SimpleNamespace(name="LokyProcess-3"))
    assert _backend.worker_index() == 2


def _index_in_worker(_):
    return _backend.worker_index()


def test_loky_workers_have_an_index_and_this_process_has_none():
    assert _backend.worker_index() is None
    indices = Parallel(n_jobs=2)(delayed(_index_in_worker)(i) for i in range(4))
    assert all(isinstance(i, int) and i >= 0 for i in indices)
