"""The README's Example runs, and prints the listing the README shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def example_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Example\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, "README.md has no Example section"
    return match.group(1)


def test_the_example_prints_the_listing_it_shows() -> None:
    section = example_section()
    code = re.search(r"```python\n(.*?)```", section, re.S)
    shown = re.search(r"```text\n(.*?)```", section, re.S)
    assert code and shown
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code.group(1), str(README), "exec"), {"__name__": "readme_example"})
    backends, listing = output.getvalue().split("\n", 1)
    assert backends.split()[0] == "source"
    assert listing.rstrip("\n") == shown.group(1).rstrip("\n")


def test_the_quick_start_has_its_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.S | re.M)
    assert section
    commands = re.findall(r"```sh\n(.*?)```", section.group(1), re.S)
    assert [c.strip() for c in commands] == [
        "pip install . && python -m perf",
        'pip install ".[test]" && python -m pytest',
    ]
