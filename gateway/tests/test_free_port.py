"""free_port: the ports tests bind their servers and gateways to."""

from __future__ import annotations

import random
import socket

import pytest

from spectral_gateway import testing


def test_a_port_is_handed_out_once_even_before_anything_binds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same draw every time: the case where two picks for one gateway would collide.
    monkeypatch.setattr(random, "sample", lambda population, k: list(population)[:k])
    picked = [testing.free_port() for _ in range(20)]
    assert len(set(picked)) == len(picked)


def test_the_port_is_free_and_outside_the_kernels_ephemeral_range() -> None:
    port = testing.free_port()
    assert port not in testing._ephemeral_ports()
    assert port % 1000 != 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # raises if something already listens there
