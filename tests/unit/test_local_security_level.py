"""The lab's and the dev nodes' security level by one variable (KAFKA_SECURITY)."""

from __future__ import annotations

from kafkaform import dev
from kafkaform.lab.plan import inventory_group_data
from kafkaform.local_hosts import security_level


def test_the_variable_sets_the_level_and_its_absence_sets_nothing():
    assert security_level({"KAFKA_SECURITY": "sasl_ssl"}) == {"security": "sasl_ssl"}
    assert security_level({"KAFKA_SECURITY": " "}) == {}
    assert security_level({}) == {}


def test_lab_and_dev_group_data_carry_it(monkeypatch):
    monkeypatch.setenv("KAFKA_SECURITY", "sasl_ssl")
    state = {"mirror_url": "http://10.213.0.1:8213/"}
    assert inventory_group_data(state)["security"] == "sasl_ssl"
    assert dev.group_data()["security"] == "sasl_ssl"
    monkeypatch.delenv("KAFKA_SECURITY")
    assert "security" not in inventory_group_data(state)
    assert "security" not in dev.group_data()
