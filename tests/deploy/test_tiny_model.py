"""The offline test model: deterministic, and loadable the way engines load it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from safetensors import safe_open

from deploy.tiny_model import build


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("tiny"))


def test_same_seed_same_bytes(model: Path, tmp_path: Path) -> None:
    assert digests(build(tmp_path / "again")) == digests(model)


def test_transformers_loads_the_tokenizer_and_renders_chatml(model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model))
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello, world"}]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert (
        text
        == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello, world<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = tokenizer("def main():\n    return 0\n")["input_ids"]
    assert tokenizer.decode(ids) == "def main():\n    return 0\n"
    assert len(tokenizer) == 8192 and tokenizer.eos_token_id == 2


def test_weights_match_the_config_and_never_favour_end_of_turn(model: Path) -> None:
    config = json.loads((model / "config.json").read_text())
    with safe_open(str(model / "model.safetensors"), "np") as weights:
        head = weights.get_tensor("lm_head.weight")
        q_proj = weights.get_tensor("model.layers.0.self_attn.q_proj.weight")
        k_proj = weights.get_tensor("model.layers.0.self_attn.k_proj.weight")
        names = list(weights.keys())  # a safetensors handle, not a dict
    layers = {k.split(".")[2] for k in names if k.startswith("model.layers.")}
    assert head.shape == (config["vocab_size"], config["hidden_size"])
    assert q_proj.shape == (config["num_attention_heads"] * config["head_dim"], config["hidden_size"])
    assert k_proj.shape == (config["num_key_value_heads"] * config["head_dim"], config["hidden_size"])
    assert len(layers) == config["num_hidden_layers"]
    assert not head[:3].any()  # special tokens, <|im_end|> included, get zero logits
    assert head[3:].std() * config["hidden_size"] ** 0.5 == pytest.approx(4.0, rel=0.05)
