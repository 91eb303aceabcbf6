"""The component text of the component workloads.

:data:`EXPORTS` is one component whose exports Python calls (host -> wasm);
:func:`importing` makes a component importing one host function and exporting
``run(n) -> u32``, a core loop calling that import ``n`` times with constant
arguments and folding its results into a checksum (wasm -> host, like the
core ``callback-*`` modules).

Each core module has its memory and a ``cabi_realloc``-style allocator: a ring
of :data:`SLOTS` slots of :data:`SLOT` bytes, so the allocations of one call
(an argument string or list lowered into the guest, a string returned by a
host) never run out however many calls a benchmark makes, and nothing needs
freeing.  Record, enum, flags and variant types are named: exported with the
component's exports, imported with an ``eq`` bound beside the imports.
"""

from __future__ import annotations

from typing import Dict, Tuple

__all__ = ["EXPORTS", "IMPORTS", "GREETING", "SLOT", "SLOTS", "importing", "TYPES"]

#: The prefix ``greet`` adds; the core module keeps it at address 64.
GREETING = "hello, "
#: The ring allocator: ``SLOTS`` slots of ``SLOT`` bytes from 64 KiB (a list of 2,048 u32 fits one slot).
SLOT = 8192
SLOTS = 16
_RING = 65536
_RET = 32  # the return area of results returned through memory

#: The named types, as component type definitions.
TYPES: Dict[str, str] = {
    "point": '(record (field "x" f64) (field "y" f64))',
    "color": '(enum "red" "green" "blue")',
    "perms": '(flags "read" "write" "exec")',
    "shape": '(variant (case "circle" f64) (case "square" f64) (case "empty"))',
}

_REALLOC = f"""
    (global $slot (mut i32) (i32.const 0))
    (func $realloc (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32)
        (result i32)
      (local $new i32)
      (if (i32.gt_u (local.get $size) (i32.const {SLOT})) (then unreachable))
      (global.set $slot (i32.and (i32.add (global.get $slot) (i32.const 1)) (i32.const {SLOTS - 1})))
      (local.set $new (i32.add (i32.const {_RING}) (i32.mul (global.get $slot) (i32.const {SLOT}))))
      (if (local.get $old) (then (memory.copy (local.get $new) (local.get $old) (local.get $old_size))))
      (local.get $new))"""

_PAGES = (_RING + SLOT * SLOTS) // 65536 + 1

#: The core module behind :data:`EXPORTS`: memory, the allocator and the implementations.
_EXPORTS_CORE = f"""
  (core module $m
    (memory (export "memory") {_PAGES})
    (data (i32.const 64) "{GREETING}")
    {_REALLOC}
    (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
    (func (export "nop"))
    ;; greet(name) = "hello, " + name, in a new allocation; (ptr, len) returned through memory
    (func (export "greet") (param $p i32) (param $n i32) (result i32)
      (local $out i32) (local $len i32)
      (local.set $len (i32.add (local.get $n) (i32.const {len(GREETING)})))
      (local.set $out (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (local.get $len)))
      (memory.copy (local.get $out) (i32.const 64) (i32.const {len(GREETING)}))
      (memory.copy (i32.add (local.get $out) (i32.const {len(GREETING)})) (local.get $p) (local.get $n))
      (i32.store (i32.const {_RET}) (local.get $out))
      (i32.store (i32.const {_RET + 4}) (local.get $len))
      (i32.const {_RET}))
    (func (export "norm") (param $x f64) (param $y f64) (result f64)
      (f64.sqrt (f64.add (f64.mul (local.get $x) (local.get $x)) (f64.mul (local.get $y) (local.get $y)))))
    ;; option<u32>: some(x) -> some(x + 1), none -> none
    (func (export "bump-option") (param $some i32) (param $v i32) (result i32)
      (i32.store8 (i32.const {_RET}) (local.get $some))
      (if (local.get $some) (then (i32.store (i32.const {_RET + 4}) (i32.add (local.get $v) (i32.const 1)))))
      (i32.const {_RET}))
    ;; result<u32, string>: ok(x) -> ok(x + 1), err(s) -> err(s)
    (func (export "bump-result") (param $err i32) (param $a i32) (param $b i32) (result i32)
      (i32.store8 (i32.const {_RET}) (local.get $err))
      (if (local.get $err)
        (then (i32.store (i32.const {_RET + 4}) (local.get $a)) (i32.store (i32.const {_RET + 8}) (local.get $b)))
        (else (i32.store (i32.const {_RET + 4}) (i32.add (local.get $a) (i32.const 1)))))
      (i32.const {_RET}))
    ;; color: red -> green -> blue -> red
    (func (export "next-color") (param i32) (result i32)
      (i32.rem_u (i32.add (local.get 0) (i32.const 1)) (i32.const 3)))
    ;; perms: every flag toggled
    (func (export "invert") (param i32) (result i32) (i32.xor (local.get 0) (i32.const 7)))
    ;; shape: circle(r) -> circle(2r), square(s) -> square(2s), empty -> empty
    (func (export "grow") (param $case i32) (param $v f64) (result i32)
      (i32.store8 (i32.const {_RET}) (local.get $case))
      (if (i32.lt_u (local.get $case) (i32.const 2))
        (then (f64.store (i32.const {_RET + 8}) (f64.mul (local.get $v) (f64.const 2)))))
      (i32.const {_RET}))
    (func (export "sum") (param $p i32) (param $n i32) (result i32)
      (local $sum i32) (local $end i32)
      (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
      (block $done (loop $again
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $sum (i32.add (local.get $sum) (i32.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $again)))
      (local.get $sum))
    ;; echo(list) returns the list lowered into the guest as it is
    (func (export "echo") (param $p i32) (param $n i32) (result i32)
      (i32.store (i32.const {_RET}) (local.get $p))
      (i32.store (i32.const {_RET + 4}) (local.get $n))
      (i32.const {_RET})))
  (core instance $i (instantiate $m))"""

_MEM = '(memory (core memory $i "memory"))'
_ALLOC = '(realloc (core func $i "cabi_realloc"))'

#: The exported functions: name -> (component function type, canonical options).
_EXPORTED: Dict[str, Tuple[str, str]] = {
    "add": ('(param "a" u32) (param "b" u32) (result u32)', ""),
    "nop": ("", ""),
    "greet": ('(param "name" string) (result string)', f"{_MEM} {_ALLOC}"),
    "norm": ('(param "p" $point) (result f64)', ""),
    "bump-option": ('(param "x" (option u32)) (result (option u32))', _MEM),
    "bump-result": ('(param "x" (result u32 (error string))) (result (result u32 (error string)))', f"{_MEM} {_ALLOC}"),
    "next-color": ('(param "c" $color) (result $color)', ""),
    "invert": ('(param "p" $perms) (result $perms)', ""),
    "grow": ('(param "s" $shape) (result $shape)', _MEM),
    "sum": ('(param "xs" (list u32)) (result u32)', f"{_MEM} {_ALLOC}"),
    "echo": ('(param "xs" (list u32)) (result (list u32))', f"{_MEM} {_ALLOC}"),
}


def _exports() -> str:
    types = "\n".join(
        f"  (type ${name}' {body})\n  (export ${name} \"{name}\" (type ${name}'))" for name, body in TYPES.items()
    )
    funcs = "\n".join(
        f'  (func (export "{name}") {ty} (canon lift (core func $i "{name}") {options}))'
        for name, (ty, options) in _EXPORTED.items()
    )
    return f"(component\n{_EXPORTS_CORE}\n{types}\n{funcs}\n)"


#: One component exporting ``add``, ``nop``, ``greet``, ``norm``, ``bump-option``, ``bump-result``,
#: ``next-color``, ``invert``, ``grow``, ``sum`` and ``echo``.
EXPORTS = _exports()

#: The host functions a component may import: name -> (component type, core type of the lowered import,
#: the core loop body calling it as ``$f`` once and adding what it returned to the i32 local ``$sum``).
#: Results returned through memory are written by the host at ``$ret`` (address 32); the string
#: argument of ``greet`` is ``"world"`` at address 80.
IMPORTS: Dict[str, Tuple[str, str, str]] = {
    "add": (
        '(param "a" u32) (param "b" u32) (result u32)',
        "(param i32 i32) (result i32)",
        "(local.set $sum (i32.add (local.get $sum) (call $f (i32.const 3) (i32.const 4))))",
    ),
    "nop": ("", "", "(call $f) (local.set $sum (i32.add (local.get $sum) (i32.const 1)))"),
    "greet": (
        '(param "name" string) (result string)',
        "(param i32 i32 i32)",
        # the length of the greeting plus its first byte
        f"(call $f (i32.const 80) (i32.const 5) (i32.const {_RET}))"
        f" (local.set $sum (i32.add (local.get $sum) (i32.add (i32.load (i32.const {_RET + 4}))"
        f" (i32.load8_u (i32.load (i32.const {_RET}))))))",
    ),
    "norm": (
        '(param "p" $point) (result f64)',
        "(param f64 f64) (result f64)",
        "(local.set $sum (i32.add (local.get $sum) (i32.trunc_f64_u (call $f (f64.const 3) (f64.const 4)))))",
    ),
    "bump-option": (
        '(param "x" (option u32)) (result (option u32))',
        "(param i32 i32 i32)",
        f"(call $f (i32.const 1) (i32.const 41) (i32.const {_RET}))"
        f" (local.set $sum (i32.add (local.get $sum) (i32.add (i32.load8_u (i32.const {_RET}))"
        f" (i32.load (i32.const {_RET + 4})))))",
    ),
    "bump-result": (
        '(param "x" (result u32 (error string))) (result (result u32 (error string)))',
        "(param i32 i32 i32 i32)",
        f"(call $f (i32.const 0) (i32.const 41) (i32.const 0) (i32.const {_RET}))"
        f" (local.set $sum (i32.add (local.get $sum) (i32.add (i32.load8_u (i32.const {_RET}))"
        f" (i32.load (i32.const {_RET + 4})))))",
    ),
    "next-color": (
        '(param "c" $color) (result $color)',
        "(param i32) (result i32)",
        "(local.set $sum (i32.add (local.get $sum) (call $f (i32.const 1))))",
    ),
    "invert": (
        '(param "p" $perms) (result $perms)',
        "(param i32) (result i32)",
        "(local.set $sum (i32.add (local.get $sum) (call $f (i32.const 1))))",
    ),
    "grow": (
        '(param "s" $shape) (result $shape)',
        "(param i32 f64 i32)",
        f"(call $f (i32.const 0) (f64.const 1.5) (i32.const {_RET}))"
        f" (local.set $sum (i32.add (local.get $sum) (i32.add (i32.load8_u (i32.const {_RET}))"
        f" (i32.trunc_f64_u (f64.load (i32.const {_RET + 8}))))))",
    ),
}


def importing(name: str) -> str:
    """A component importing the host function ``name`` (of :data:`IMPORTS`) and exporting ``run(n) -> u32``."""
    ty, core_ty, body = IMPORTS[name]
    types = "\n".join(
        f"  (type ${t}' {TYPES[t]})\n  (import \"{t}\" (type ${t} (eq ${t}')))" for t in TYPES if f"${t}" in ty
    )
    return f"""(component
{types}
  (import "{name}" (func $host {ty}))
  (core module $libc
    (memory (export "memory") {_PAGES})
    (data (i32.const 80) "world")
    {_REALLOC})
  (core instance $libc (instantiate $libc))
  (core func $lowered (canon lower (func $host) (memory (core memory $libc "memory"))
    (realloc (core func $libc "cabi_realloc"))))
  (core module $m
    (import "libc" "memory" (memory 1))
    (import "host" "f" (func $f {core_ty}))
    (func (export "run") (param $n i32) (result i32)
      (local $sum i32)
      (loop $again
        (if (local.get $n)
          (then
            {body}
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $again))))
      (local.get $sum)))
  (core instance $i (instantiate $m
    (with "libc" (instance $libc)) (with "host" (instance (export "f" (func $lowered))))))
  (func (export "run") (param "n" u32) (result u32) (canon lift (core func $i "run")))
)"""
