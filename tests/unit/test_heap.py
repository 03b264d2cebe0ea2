"""Computed JVM heaps: stable under MemTotal's small moves, within floor and cap."""

from __future__ import annotations

import pytest

from kafkaform.cluster import heap_for

# MemTotal (MiB) as machines of a nominal size report it: a few percent below that size.
MEMTOTAL = {2: 1980, 4: 3920, 8: 7957, 16: 16004, 32: 32100, 64: 64300}


@pytest.mark.parametrize("role", ["kafka", "zookeeper"])
@pytest.mark.parametrize("nominal_gib", sorted(MEMTOTAL))
def test_a_few_mb_more_or_less_keep_the_heap(role, nominal_gib):
    memtotal = MEMTOTAL[nominal_gib]
    heaps = {heap_for(role, memtotal + delta, None) for delta in range(-40, 41, 4)}
    assert len(heaps) == 1, heaps


@pytest.mark.parametrize(
    ("role", "memtotal", "heap"),
    [
        ("kafka", 7957, "2048m"),  # a quarter of 8 GiB
        ("kafka", 16004, "4096m"),
        ("kafka", 3920, "1024m"),
        ("kafka", 64300, "6144m"),  # capped
        ("kafka", 500, "256m"),  # floor
        ("zookeeper", 7957, "1024m"),  # an eighth of 8 GiB
        ("zookeeper", 3920, "512m"),
        ("zookeeper", 1980, "256m"),  # floor
        ("zookeeper", 32100, "2048m"),  # capped
    ],
)
def test_share_of_the_nominal_ram(role, memtotal, heap):
    assert heap_for(role, memtotal, None) == heap


@pytest.mark.parametrize("memtotal", range(300, 70_000, 97))
def test_computed_heaps_are_whole_steps_within_bounds(memtotal):
    for role, cap in (("kafka", 6144), ("zookeeper", 2048)):
        mb = int(heap_for(role, memtotal, None).removesuffix("m"))
        assert mb % 256 == 0 and 256 <= mb <= cap


def test_configured_heap_wins():
    assert heap_for("kafka", 7957, "3g") == "3g"
