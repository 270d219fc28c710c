"""The simulator fixtures of the simulator's own tests (a plugin loaded by conftest):
one server per module, built from that module's ``BASE`` config, reset to it around
every test of a module marked ``pytest.mark.usefixtures("fresh")``. Modules that define
their own ``sim`` fixture use theirs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exotel_sim import Simulator


@pytest.fixture(scope="module")
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    with Simulator(request.module.BASE) as server:
        yield server


@pytest.fixture()
def fresh(sim: Simulator, request: pytest.FixtureRequest) -> Iterator[None]:
    sim.reset()
    sim.configure(**request.module.BASE.model_dump())
    yield
    sim.reset()
