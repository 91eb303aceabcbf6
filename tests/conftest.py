"""Fixtures shared by the test modules.

(No Engine or Store is created at import time: pytest enables faulthandler
after conftest import, and an engine created before that would have its
trap handlers shadowed by faulthandler's.)
"""

from __future__ import annotations

from typing import Iterator

import pytest
import wasmtime

BACKENDS = ("bytecode", "source", "reflect")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each wasmjit backend in turn."""
    return str(request.param)


@pytest.fixture
def oracle() -> Iterator[str]:
    """``backend="oracle"``: the IR's reference interpreter (tests/ir_oracle.py), registered for this test."""
    from ir_oracle import oracle_backend

    with oracle_backend() as name:
        yield name


@pytest.fixture
def store() -> wasmtime.Store:
    """A fresh store."""
    return wasmtime.Store()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip cases that force a backend this interpreter cannot have (bytecode before CPython 3.11)."""
    import wasmjit

    unavailable = {name: why for name, why in wasmjit.probe().items() if why}
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec is not None else None
        if backend in unavailable:
            item.add_marker(
                pytest.mark.skip(reason=f"the {backend} backend is unavailable here: {unavailable[backend]}")
            )


def sigint_handled() -> None:
    """``preexec_fn`` of a child process that must handle SIGINT as Python does by default.

    A process started in the background (``cmd &``, ``nohup``, some CI runners) ignores
    SIGINT, children inherit that, and Python then installs no ``KeyboardInterrupt``
    handler: tests that send SIGINT would measure the runner, not wasmjit.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
