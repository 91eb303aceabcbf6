"""The WebAssembly text of every benchmark module.

Callback modules export ``run(n)``, a loop that calls the imported host
function ``host.f`` ``n`` times with constant arguments and drops the results,
so the time of one ``run(n)`` divided by ``n`` is the cost of one wasm -> host
call (the loop itself costs a few nanoseconds per iteration).  ``CALLS``
exports the functions Python calls directly (host -> wasm).  ``GCD`` is the
workload of wasmtime-py issue 140: wasm calls a Python ``gcd`` in a loop.
"""

from __future__ import annotations

import functools

import wasmtime

__all__ = [
    "CALLBACK_I32",
    "CALLBACK_MIX3",
    "CALLBACK_16",
    "CALLBACK_CALLER",
    "GCD",
    "CALLS",
    "GUEST_TEXT",
    "GUEST_32",
    "CALLBACK_MEMORY",
    "MEMORY_LOOP",
    "MEMORY_PAGES",
    "binary",
]


def _callback_loop(import_type: str, call: str) -> str:
    """A module importing ``host.f`` of ``import_type`` and calling it ``n`` times with ``call``."""
    return f"""
(module
  (import "host" "f" (func $f {import_type}))
  (func (export "run") (param $n i32)
    (loop $again
      (if (local.get $n)
        (then
          {call}
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $again))))))
"""


#: ``(i32) -> ()``
CALLBACK_I32 = _callback_loop("(param i32)", "(call $f (i32.const 7))")

#: ``(i32, f32, i64) -> (i32, i32, i64)``
CALLBACK_MIX3 = _callback_loop(
    "(param i32 f32 i64) (result i32 i32 i64)",
    "(call $f (i32.const 7) (f32.const 1.5) (i64.const 9)) drop drop drop",
)

_SIXTEEN_TYPES = "i32 i64 f32 f64 " * 4
_SIXTEEN_ARGS = " ".join(f"({kind}.const {index})" for index, kind in enumerate(["i32", "i64", "f32", "f64"] * 4))

#: ``(i32, i64, f32, f64) x 4 -> i64``: sixteen parameters, one result.
CALLBACK_16 = _callback_loop(f"(param {_SIXTEEN_TYPES.strip()}) (result i64)", f"(call $f {_SIXTEEN_ARGS}) drop")

#: The bytes the caller workload reads from guest memory at address 0.
GUEST_TEXT = b"hello from wasm!"

#: ``(Caller, i32 ptr, i32 len) -> i32``: the host reads ``len`` bytes of guest memory.
CALLBACK_CALLER = f"""
(module
  (import "host" "f" (func $f (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{GUEST_TEXT.decode()}")
  (func (export "run") (param $n i32)
    (loop $again
      (if (local.get $n)
        (then
          (drop (call $f (i32.const 0) (i32.const {len(GUEST_TEXT)})))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $again))))))
"""

#: wasmtime-py issue 140: ``run(n, a, b)`` calls the host ``gcd(a, b)`` ``n`` times and sums the results.
GCD = """
(module
  (import "host" "f" (func $gcd (param i32 i32) (result i32)))
  (func (export "run") (param $n i32) (param $a i32) (param $b i32) (result i32)
    (local $sum i32)
    (loop $again
      (if (local.get $n)
        (then
          (local.set $sum (i32.add (local.get $sum) (call $gcd (local.get $a) (local.get $b))))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $again))))
    (local.get $sum)))
"""

#: Functions Python calls: ``nop``, ``add`` and the four-value ``swap``.
CALLS = """
(module
  (func (export "nop"))
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func (export "swap") (param i32 i64 f32 f64) (result f64 f32 i64 i32)
    (local.get 3) (local.get 2) (local.get 1) (local.get 0)))
"""


#: The 32 bytes the memory callback workloads read at address 64.
GUEST_32 = b"thirty-two bytes of guest data!!"
assert len(GUEST_32) == 32

#: ``(Caller, i32 ptr, i32 len) -> i32``: the host reads 32 bytes of guest memory per call.
CALLBACK_MEMORY = f"""
(module
  (import "host" "f" (func $f (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{GUEST_32.decode()}")
  (func (export "run") (param $n i32)
    (loop $again
      (if (local.get $n)
        (then
          (drop (call $f (i32.const 64) (i32.const 32)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $again))))))
"""

#: Pages of :data:`MEMORY_LOOP`'s memory: room for the 1 MiB copies at address 65536.
MEMORY_PAGES = 20

#: A guest with an allocator: ``alloc(n) -> ptr`` (a bump allocator over the
#: second page onwards), ``free(ptr)`` (frees everything once nothing is
#: allocated), and ``upper(ptr, n) -> i32`` (ASCII upper-case in place; returns n).
MEMORY_LOOP = f"""
(module
  (memory (export "memory") {MEMORY_PAGES})
  (global $next (mut i32) (i32.const 65536))
  (global $live (mut i32) (i32.const 0))
  (func (export "alloc") (param $n i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $next))
    (global.set $next (i32.and (i32.add (i32.add (local.get $ptr) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (global.set $live (i32.add (global.get $live) (i32.const 1)))
    (local.get $ptr))
  (func (export "free") (param $ptr i32)
    (global.set $live (i32.sub (global.get $live) (i32.const 1)))
    (if (i32.eqz (global.get $live)) (then (global.set $next (i32.const 65536)))))
  (func (export "upper") (param $ptr i32) (param $n i32) (result i32)
    (local $i i32) (local $c i32)
    (block $done
      (loop $again
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
          (then (i32.store8 (i32.add (local.get $ptr) (local.get $i)) (i32.sub (local.get $c) (i32.const 32)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))
    (local.get $n)))
"""


@functools.cache
def binary(text: str) -> bytes:
    """The binary encoding of ``text`` (for runtimes that take no WAT, e.g. pywasm3)."""
    return bytes(wasmtime.wat2wasm(text))
