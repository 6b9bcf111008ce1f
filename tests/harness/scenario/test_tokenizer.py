"""Loading tokenizers offline, exact cuts, chat counts, and the approximate fallback (harness/scenario/tokenizer.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from deploy.tiny_model import build
from harness.scenario.tokenizer import PromptTokenizer, load_tokenizer

PROSE = (
    "Refunds are issued to the original payment method once the returned item has been received "
    "and inspected at our warehouse. Inspection usually takes two business days from arrival. "
)
UNICODE = "Grüße aus Zürich, naïve café, 東京で会いましょう 🙂. Ελληνικά και русский текст. "


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> PromptTokenizer:
    return load_tokenizer(str(build(tmp_path_factory.mktemp("m"))))


def test_a_local_model_folder_gives_the_exact_tokenizer(tokenizer: PromptTokenizer) -> None:
    assert tokenizer.exact
    assert tokenizer.describe().startswith("exact: ")
    assert 0 < tokenizer.count(PROSE) < len(PROSE)
    assert tokenizer.count("") == 0


def test_a_model_not_available_offline_falls_back_to_an_approximation_that_says_why() -> None:
    fallback = load_tokenizer("meta-llama/Not-A-Real-Model-For-Tests")
    assert not fallback.exact
    assert fallback.describe() == (
        "approximate (~4 chars/token): 'meta-llama/Not-A-Real-Model-For-Tests' is not available offline"
    )
    assert fallback.count("x" * 400) == 100


def test_no_tokenizer_and_a_broken_folder_fall_back_too(tmp_path: Path) -> None:
    assert load_tokenizer(None).describe() == "approximate (~4 chars/token): no tokenizer given"
    broken = load_tokenizer(str(tmp_path))  # a folder with no tokenizer files in it
    assert not broken.exact
    assert "could not be loaded" in broken.describe()


@pytest.mark.parametrize("size", [1, 2, 7, 64, 333, 1000])
@pytest.mark.parametrize("source", ["prose", "code", "unicode"])
def test_fit_gives_exactly_the_requested_tokens(tokenizer: PromptTokenizer, size: int, source: str) -> None:
    text = {"prose": PROSE * 40, "code": Path(textwrap.__file__).read_text(), "unicode": UNICODE * 30}[source]
    fitted = tokenizer.fit(text, size)
    assert tokenizer.count(fitted) == size


def test_fit_takes_the_start_of_a_long_text(tokenizer: PromptTokenizer) -> None:
    text = PROSE * 40
    fitted = tokenizer.fit(text, 50)
    assert text.startswith(fitted)
    assert len(fitted) < len(text)


def test_fit_cycles_a_text_that_is_too_short(tokenizer: PromptTokenizer) -> None:
    fitted = tokenizer.fit("Hello world.", 300)
    assert tokenizer.count(fitted) == 300
    assert fitted.count("Hello world.") > 10


def test_fit_handles_every_cut_through_multibyte_text(tokenizer: PromptTokenizer) -> None:
    # Cuts through UTF-8 characters and half-merged words do not round-trip; fit must still land,
    # and never on half a character.
    for n in range(1, 120):
        fitted = tokenizer.fit(UNICODE * 4, n)
        assert tokenizer.count(fitted) == n
        assert "\ufffd" not in fitted


def test_fit_of_nothing_and_of_an_empty_text(tokenizer: PromptTokenizer) -> None:
    assert tokenizer.fit(PROSE, 0) == ""
    with pytest.raises(ValueError, match="empty text"):
        tokenizer.fit("   ", 10)


def test_the_approximate_fit_agrees_with_its_own_count() -> None:
    fallback = load_tokenizer(None)
    for size in (1, 10, 123, 2000):
        assert fallback.count(fallback.fit(PROSE, size)) == size


def test_count_chat_renders_the_models_chat_template(tokenizer: PromptTokenizer) -> None:
    messages = [{"role": "system", "content": "You help."}, {"role": "user", "content": "Where is my order?"}]
    rendered = (
        "<|im_start|>system\nYou help.<|im_end|>\n"
        "<|im_start|>user\nWhere is my order?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert tokenizer.count_chat(messages) == tokenizer.count(rendered)
    assert tokenizer.count_chat(messages) > tokenizer.count("You help.") + tokenizer.count("Where is my order?")


def test_count_chat_without_a_template_adds_framing_per_message() -> None:
    fallback = load_tokenizer(None)
    messages = [{"role": "user", "content": "x" * 40}]
    assert fallback.count_chat(messages) == 10 + 4 + 3


@pytest.mark.parametrize(("preset", "expected"), [(None, "false"), ("true", "true")])
def test_tokenizer_parallelism_is_turned_off_unless_the_user_chose(preset: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TOKENIZERS_PARALLELISM"}
    if preset is not None:
        env["TOKENIZERS_PARALLELISM"] = preset
    code = "import os, harness.scenario.tokenizer; print(os.environ['TOKENIZERS_PARALLELISM'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
