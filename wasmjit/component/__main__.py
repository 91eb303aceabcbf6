"""``python -m wasmjit.component stubs COMPONENT.wasm [-o OUT.py]``: typed declarations of a component."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wasmjit.component", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    stubs = commands.add_parser(
        "stubs",
        help="write the typed Python declarations of a component (dataclasses, enums, flags, Protocols)",
        description="Write the typed Python declarations of COMPONENT: dataclasses for records, enum.Enum and"
        " enum.Flag, variant case classes, and the Protocols Exports and Imports that"
        " wasmjit.component.bind and define_imports check against the component.",
    )
    stubs.add_argument("component", help="a component: binary (.wasm) or component text (.wat)")
    stubs.add_argument("-o", "--output", help="write to this file (default: standard output)")
    args = parser.parse_args(argv)

    from .stubs import generate_from_path

    try:
        text = generate_from_path(args.component)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"python -m wasmjit.component stubs: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # wasmtime's error for a file that is not a component
        print(f"python -m wasmjit.component stubs: {args.component}: {exc}", file=sys.stderr)
        return 1
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
