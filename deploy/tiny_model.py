"""A tiny, deterministic Llama checkpoint that real engines can serve on a CPU, built offline.

Tests cannot download a model, so this builds one from what every machine has: a byte-level
BPE tokenizer trained on the Python standard library's own sources, a ChatML chat template, and
random Llama weights saved as safetensors. The language-model head gives special tokens zero
weight, so `<|im_end|>` is practically never sampled and every completion runs to `max_tokens`
(finish_reason "length", completion_tokens == max_tokens) without `ignore_eos`. Output is
gibberish by design. The same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2; no BOS
EOS_ID = 2
TRAINING_BYTES = 6_000_000  # enough text for an 8k vocabulary; more only slows the build
LOGIT_STD = 4.0  # spread of the logits of ordinary tokens; special tokens sit at 0, far below the top

# ChatML; accepts string content or OpenAI-style lists of {"type": "text", "text": ...} parts.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class Preset:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int = 8192
    max_positions: int = 8192


PRESETS = {
    "tiny": Preset(hidden=256, layers=4, heads=4, kv_heads=2, ffn=768),  # 7.3 M parameters, 29 MB
    "small": Preset(hidden=768, layers=8, heads=12, kv_heads=4, ffn=2048),  # ~60 M, for slower steps
}


def build(out_dir: Path, preset: str = "tiny", seed: int = 0) -> Path:
    """Write tokenizer, config and weights to `out_dir` and return it."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_tokenizer(out_dir, p.vocab)
    _write_config(out_dir, p)
    _write_weights(out_dir, p, seed)
    return out_dir


def _training_text() -> list[str]:
    """The standard library's .py files, in a fixed order, up to TRAINING_BYTES."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts, total = [], 0
    for path in sorted(stdlib.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        texts.append(text)
        total += len(text)
        if total >= TRAINING_BYTES:
            break
    return texts


def _write_tokenizer(out_dir: Path, vocab: int) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_training_text(), trainer=trainer)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 8192,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    special = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


def _write_config(out_dir: Path, p: Preset) -> None:
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": p.hidden,
        "intermediate_size": p.ffn,
        "num_hidden_layers": p.layers,
        "num_attention_heads": p.heads,
        "num_key_value_heads": p.kv_heads,
        "head_dim": p.hidden // p.heads,
        "hidden_act": "silu",
        "max_position_embeddings": p.max_positions,
        "vocab_size": p.vocab,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": None,
        "eos_token_id": EOS_ID,
        "pad_token_id": 0,
        "torch_dtype": "float32",
    }
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    generation = {"eos_token_id": EOS_ID, "pad_token_id": 0}
    (out_dir / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")


def _write_weights(out_dir: Path, p: Preset, seed: int) -> None:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    head_dim = p.hidden // p.heads

    def normal(*shape: int, std: float = 0.02) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float32)

    tensors: dict[str, np.ndarray] = {"model.embed_tokens.weight": normal(p.vocab, p.hidden)}
    for i in range(p.layers):
        prefix = f"model.layers.{i}."
        tensors[prefix + "self_attn.q_proj.weight"] = normal(p.heads * head_dim, p.hidden)
        tensors[prefix + "self_attn.k_proj.weight"] = normal(p.kv_heads * head_dim, p.hidden)
        tensors[prefix + "self_attn.v_proj.weight"] = normal(p.kv_heads * head_dim, p.hidden)
        tensors[prefix + "self_attn.o_proj.weight"] = normal(p.hidden, p.heads * head_dim)
        tensors[prefix + "mlp.gate_proj.weight"] = normal(p.ffn, p.hidden)
        tensors[prefix + "mlp.up_proj.weight"] = normal(p.ffn, p.hidden)
        tensors[prefix + "mlp.down_proj.weight"] = normal(p.hidden, p.ffn)
        tensors[prefix + "input_layernorm.weight"] = np.ones(p.hidden, dtype=np.float32)
        tensors[prefix + "post_attention_layernorm.weight"] = np.ones(p.hidden, dtype=np.float32)
    tensors["model.norm.weight"] = np.ones(p.hidden, dtype=np.float32)
    # After the final RMSNorm the hidden state has norm ~sqrt(hidden); rows of std
    # LOGIT_STD / sqrt(hidden) give logits ~ N(0, LOGIT_STD^2). Zero rows pin special tokens at 0.
    lm_head = normal(p.vocab, p.hidden, std=LOGIT_STD / float(np.sqrt(p.hidden)))
    lm_head[: len(SPECIAL_TOKENS)] = 0.0
    tensors["lm_head.weight"] = lm_head
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
