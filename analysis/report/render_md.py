"""report.md: the same blocks as report.html, with images as relative links to the PNG files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from analysis.report.document import Block, Bullets, Heading, Paragraph, Table


def render_markdown(title: str, blocks: Sequence[Block], report_dir: Path) -> str:
    parts = [f"# {title}"]
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            parts.append(f"> **{block.text}**" if block.alert else block.text)
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, Table):
            parts.append(_table(block))
        else:
            link = Path(os.path.relpath(block.path, report_dir)).as_posix()
            parts.append(f"![{block.title}]({link})")
    return "\n\n".join(parts) + "\n"


def _table(table: Table) -> str:
    lines = [f"**{table.caption}**", ""]
    lines.append("| " + " | ".join(_cell(c) for c in table.columns) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(table.columns) - 1)) + "|")
    lines.extend("| " + " | ".join(_cell(v) for v in row) + " |" for row in table.rows)
    if table.note:
        lines.extend(["", f"*{table.note}*"])
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
