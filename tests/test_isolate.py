"""Child processes with time and memory limits: a hostile file may hang or eat memory."""

import os
import time

import pytest

from sheetprop.isolate import IsolationError, run


def add(a, b):
    return a + b


def sleep_forever():
    time.sleep(60)


def eat_memory():
    blocks = []
    while True:
        blocks.append(bytearray(50 * 2**20))


def die():
    os._exit(3)


def raise_value_error():
    raise ValueError("bad cell")


def test_result_comes_back():
    assert run(add, 2, b=3) == 5


def test_time_limit_stops_the_child():
    with pytest.raises(IsolationError, match="the engine took longer than 0.5 s and was stopped"):
        run(sleep_forever, timeout=0.5, what="the engine")


def test_memory_bound():
    with pytest.raises(IsolationError, match=r"ran out of memory \(limit of 512 MiB\)"):
        run(eat_memory, max_memory=512 * 2**20, timeout=60)


def test_a_dying_child_is_reported():
    with pytest.raises(IsolationError, match=r"stopped unexpectedly \(exit code 3\)"):
        run(die, timeout=10)


def test_exceptions_are_raised_in_the_parent():
    with pytest.raises(ValueError, match="bad cell"):
        run(raise_value_error)
