"""The offline deploy runner leaves pyinfra's global state as it found it."""

from __future__ import annotations

import pyinfra
import pytest
from pyinfra.api.exceptions import PyinfraError

from tests.unit.deployrun import cli_ordering, run_deploy
from tests.unit.fakes import fake_hosts


@pytest.fixture
def api_mode(monkeypatch):
    monkeypatch.setattr(pyinfra, "is_cli", False)


def test_is_cli_is_set_back_after_a_run(api_mode):
    run_deploy(fake_hosts("debian12", 1))
    assert pyinfra.is_cli is False


def test_is_cli_is_set_back_after_a_refused_run(api_mode):
    with pytest.raises(PyinfraError):
        run_deploy(fake_hosts("debian12", 1, kafka_hepa="1g"))
    assert pyinfra.is_cli is False


def test_cli_ordering_holds_only_inside(api_mode):
    with cli_ordering():
        assert pyinfra.is_cli is True
    assert pyinfra.is_cli is False
