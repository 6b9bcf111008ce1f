"""The report as a list of blocks, so report.html and report.md say exactly the same things.

`sections.py` builds the blocks; `render_html.py` and `render_md.py` only lay them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    alert: bool = False  # shown as a highlighted box (warnings, the emulator notice)


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]
    alert: bool = False


@dataclass(frozen=True)
class Table:
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str | None = None  # printed under the table


@dataclass(frozen=True)
class Image:
    title: str
    path: Path  # the PNG; HTML embeds its bytes, Markdown links it relative to the report


Block = Heading | Paragraph | Bullets | Table | Image
