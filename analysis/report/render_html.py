"""report.html: one self-contained page (inline CSS, images as data: URIs, no external requests)."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from analysis.report.document import Block, Bullets, Heading, Image, Paragraph, Table

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #1b1b1b; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: .6rem 0 .2rem; font-size: .88rem; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { border: 1px solid #d0d0d0; padding: .25rem .5rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f3f3; }
.note { color: #b00020; font-size: .82rem; margin: 0 0 1rem; }
.alert { background: #fff4e5; border-left: 4px solid #e07b00; padding: .5rem .8rem; }
figure { margin: 1rem 0; } figcaption { font-weight: 600; } img { max-width: 100%; height: auto; }
"""


def render_html(title: str, blocks: Sequence[Block]) -> str:
    body = "\n".join(_block(block) for block in blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def _block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        css = ' class="alert"' if block.alert else ""
        return f"<p{css}>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        css = ' class="alert"' if block.alert else ""
        items = "".join(f"<li>{html.escape(item)}</li>" for item in block.items)
        return f"<ul{css}>{items}</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(c)}</th>" for c in block.columns)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in block.rows)
        note = f'<p class="note">{html.escape(block.note)}</p>' if block.note else ""
        return (
            f"<table><caption>{html.escape(block.caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>{note}"
        )
    assert isinstance(block, Image)
    data = base64.b64encode(block.path.read_bytes()).decode("ascii")
    alt = html.escape(block.title)
    return (
        f'<figure><figcaption>{alt}</figcaption><img alt="{alt}" data-plot="{html.escape(block.path.stem)}" '
        f'src="data:image/png;base64,{data}"></figure>'
    )
