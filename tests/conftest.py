"""Fixtures shared by the test modules.

(No Engine or Store is created at import time: pytest enables faulthandler
after conftest import, and an engine created before that would have its
trap handlers shadowed by faulthandler's.)
"""

from __future__ import annotations

import pytest
import wasmtime

BACKENDS = ("bytecode", "source", "reflect")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each wasmjit backend in turn."""
    return str(request.param)


@pytest.fixture
def store() -> wasmtime.Store:
    """A fresh store."""
    return wasmtime.Store()
