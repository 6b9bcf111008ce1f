"""Shared-context documents: the built-in texts, user files, and sizing them to exact tokens.

A shared context is the document every user of a scenario puts after the instructions (a shop's
policies, a code base, a design document): the part of the prompt a prefix cache can reuse across
users. Its size in tokens is the experiment's main knob, so a text is lengthened or cut to exactly
the requested size. A text shorter than the request is extended by repeating its sections with
a section counter in each repeated heading, because a real long document has many distinct
sections, and a document that is one section pasted over and over looks like padding.
"""

from __future__ import annotations

import re
import sysconfig
from collections.abc import Callable
from pathlib import Path

from harness.scenario.tokenizer import PromptTokenizer

TEXTS_DIR = Path(__file__).parent / "builtin" / "texts"
# Real standard-library modules a coding assistant's shared context is made of, in a fixed order
# so every machine with the same Python version builds the same text. Missing ones are skipped
# (some distributions split the standard library into several packages).
STDLIB_SHARED_FILES = (
    "json/__init__.py", "json/decoder.py", "json/encoder.py", "json/scanner.py", "textwrap.py",
    "shlex.py", "fnmatch.py", "bisect.py", "heapq.py", "graphlib.py", "colorsys.py", "string.py",
    "queue.py", "sched.py", "glob.py",
)  # fmt: skip
# Enough characters that no tokenizer can make fewer tokens from them than requested; used to
# decide whether a text needs lengthening without tokenizing all of a long one.
CHARS_PER_TOKEN_CEILING = 16
_HEADING = re.compile(r"^(#{1,6} .+)$", re.MULTILINE)


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def source_listing(relative: str, text: str) -> str:
    """A source file as it appears in a prompt: a header line naming it, then its text."""
    return f"# ===== {relative} =====\n{text.rstrip()}\n"


def _stdlib_sources() -> str:
    parts = []
    for relative in STDLIB_SHARED_FILES:
        path = stdlib_dir() / relative
        if path.is_file():
            parts.append(source_listing(relative, path.read_text(encoding="utf-8", errors="replace")))
    if not parts:
        raise OSError(f"none of the standard-library files of the 'stdlib-sources' text are in {stdlib_dir()}")
    return "\n".join(parts)


def _packaged(filename: str) -> Callable[[], str]:
    return lambda: (TEXTS_DIR / filename).read_text(encoding="utf-8")


BUILTIN_TEXTS: dict[str, Callable[[], str]] = {
    "kv-store-design": _packaged("kv-store-design.txt"),  # an engineering design document
    "shop-policies": _packaged("shop-policies.txt"),  # an online shop's policies and FAQ
    "stdlib-sources": _stdlib_sources,  # Python standard-library source files
}


def sections(text: str) -> list[tuple[str | None, str]]:
    """(heading, body) pairs: Markdown-style headings, or paragraphs when a text has none."""
    found = list(_HEADING.finditer(text))
    if not found:
        return [(None, p.strip()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    out = []
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        out.append((match.group(1), text[match.end() : end].strip()))
    return out


def lengthen(text: str, tokens: int, tokenizer: PromptTokenizer) -> str:
    """`text`, followed by numbered repeats of its sections until it holds at least `tokens`."""
    head = text[: (tokens + 1) * CHARS_PER_TOKEN_CEILING]
    have = tokenizer.count(head)
    if have > tokens or (len(head) == len(text) and have == tokens):
        return text
    parts = sections(text)
    sizes = [tokenizer.count(f"{h or ''}\n{b}") for h, b in parts]
    out, number = [text.rstrip()], len(parts)
    while have <= tokens:  # one token more than needed: the final cut then never falls short
        for (heading, body), size in zip(parts, sizes, strict=True):
            number += 1
            out.append(f"{heading} (section {number})\n\n{body}" if heading else f"(section {number}) {body}")
            have += size + 2
            if have > tokens:
                break
    return "\n\n".join(out)


def sized(text: str, tokens: int | None, tokenizer: PromptTokenizer) -> str:
    """`text` at exactly `tokens` tokens (approximately, for an approximate tokenizer)."""
    if tokens is None:
        return text
    return tokenizer.fit(lengthen(text, tokens, tokenizer), tokens)
