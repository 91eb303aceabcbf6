"""What the bytecode backend relies on in each CPython it targets (3.11-3.15)."""

from __future__ import annotations

import ctypes
import dis
import signal
import sys
from typing import Any, List

import pytest

import wasmjit
from wasmjit.backends import bytecode as bytecode_backend
from wasmjit.backends import template_for
from wasmjit.model.kinds import Kind
from wasmjit.model.plan import CallbackBindings, CallBindings, Flavour, call_plan, callback_plan
from wasmjit.model.signature import Signature

pytestmark = pytest.mark.skipif(
    wasmjit.probe()["bytecode"] is not None, reason=f"bytecode backend unavailable: {wasmjit.probe()['bytecode']}"
)


def test_the_running_cpython_is_a_supported_one() -> None:
    assert sys.version_info[:2] in bytecode_backend.SUPPORTED


@pytest.mark.parametrize("direction", ["callback", "call"])
def test_generated_functions_carry_their_docstring(direction: str) -> None:
    # 3.14+: co_consts[0] is the docstring only with CO_HAS_DOCSTRING.
    if direction == "callback":
        plan = callback_plan(Signature((Kind.I32,), (Kind.I64,)))
    else:
        plan = call_plan(Signature((Kind.I32,), (Kind.I64,)))
    template, _ = template_for(plan, backend="bytecode")
    empty = CallbackBindings if direction == "callback" else CallBindings
    function = template.bind(empty(*(None for _ in empty._fields)))
    assert function.__doc__ == plan.program().docstring


def test_every_conditional_jump_is_followed_by_not_taken_on_3_14() -> None:
    plan = call_plan(Signature((Kind.EXTERNREF, Kind.I32), (Kind.I32, Kind.I64)), Flavour.WASMTIME)
    template, _ = template_for(plan, backend="bytecode")
    instructions = list(dis.get_instructions(template.code))
    jumps = [i for i, ins in enumerate(instructions) if ins.opname.startswith("POP_JUMP")]
    assert jumps
    following = {instructions[i + 1].opname for i in jumps}
    assert following == ({"NOT_TAKEN"} if sys.version_info >= (3, 14) else following - {"NOT_TAKEN"})


def test_a_signal_pending_at_entry_is_handled_inside_the_try() -> None:
    """``RESUME 2`` runs no eval-breaker check: the first one is inside the ``try``.

    The signal is made pending by C code (``PyErr_SetInterrupt`` called by
    ``iter``) and the trampoline is called by ``map``: no bytecode runs in
    between, so the trampoline's ``RESUME`` is the first check.
    """
    plan = callback_plan(Signature((), ()))
    template, _ = template_for(plan, backend="bytecode")
    caught: List[Any] = []

    def fail(exc: BaseException, *rest: Any) -> str:
        caught.append(type(exc))
        return "failed inside the try"

    trampoline = template.bind(CallbackBindings(lambda: None, fail))

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    set_interrupt = ctypes.pythonapi.PyErr_SetInterrupt
    set_interrupt.restype = None
    set_interrupt.argtypes = []
    previous = signal.signal(signal.SIGINT, handler)
    try:
        for _ in range(3):  # cold, then quickened
            caught.clear()
            try:
                result = next(map(trampoline, iter(set_interrupt, 1), [None], [0], [0]))
            except KeyboardInterrupt:
                pytest.fail("the signal was handled at the trampoline's RESUME, outside its try")
            assert result == "failed inside the try"
            assert caught == [KeyboardInterrupt]
    finally:
        signal.signal(signal.SIGINT, previous)
