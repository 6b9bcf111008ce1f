"""Both engines' launch commands from one set of settings, so a comparison compares engines, not configs.

`EngineSettings` says what an engine must do in engine-neutral words (context length, prefix cache,
reasoning parser, ...). `EngineSpec.flags` spells it in each engine's own dialect (notes §4): the
same setting is `--max-model-len` for vLLM and `--context-length` for SGLang, `deepseek_r1` for one
parser and `deepseek-r1` for the other. The flags that turn on what later stages read (cached-token
reporting, metrics) are each engine's own, from deploy.engines. `parity_differences` is the check
that refuses to deploy two engines asked to do different things.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

from deploy.engines import LAUNCHABLE, engine_named
from deploy.errors import DeployError

DEFAULT_MODEL = "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"
PORT = 8000

# Pinned images. vLLM 0.33.0 is the current official CUDA build (notes/real-engines-on-cpu.md);
# its flag spellings below were read for 0.27.1 (notes §4): recheck `vllm serve --help` on a bump.
# Since vLLM 0.20 the plain tag is CUDA 13.0 and `-cu129` is CUDA 12.9 (notes §4): the 12.9 build
# runs on hosts whose driver offers 12.9 or 13.0, which is more of Runpod's fleet.
VLLM_IMAGE = "vllm/vllm-openai:v0.33.0-cu129"
# SGLang 0.5.23 is the release the notes checked; recent SGLang tags are cu130 with -cu129 variants.
# Not worker-sglang's v0.5.2-cu126, which predates the flags below being checked.
SGLANG_IMAGE = "lmsysorg/sglang:v0.5.23-cu129"
DEFAULT_IMAGES = {"vllm": VLLM_IMAGE, "sglang": SGLANG_IMAGE}

# The vLLM image's ENTRYPOINT is `vllm serve`, so its docker args are the model and flags only;
# the SGLang image has no serving entrypoint (notes §1).
COMMANDS: dict[str, tuple[str, ...]] = {"vllm": (), "sglang": ("python3", "-m", "sglang.launch_server")}

# One neutral name per parser; vLLM spells DeepSeek-R1's with an underscore, SGLang with a hyphen
# (and worker-sglang's README lists wrong values: notes §2.8).
REASONING_PARSERS: dict[str, dict[str, str]] = {
    "deepseek_r1": {"vllm": "deepseek_r1", "sglang": "deepseek-r1"},
    "qwen3": {"vllm": "qwen3", "sglang": "qwen3"},
}

# create_pod pastes docker_args into GraphQL unescaped, and Runpod splits them on spaces without a
# shell (runpod 1.12.0): every token must be free of quotes, backslashes and whitespace.
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_.:/=@+,%-]+$")
API_KEY_PLACEHOLDER = "<TURNBENCH_ENGINE_API_KEY>"  # what the record shows instead of the key


@dataclass(frozen=True)
class EngineSettings:
    """What an engine is asked to do; two engines are at parity when every field is equal."""

    model: str = DEFAULT_MODEL
    served_model_name: str = DEFAULT_MODEL  # what clients put in "model"; a wrong one is a 404 on vLLM
    tensor_parallel: int = 2
    context_length: int = 16384  # vLLM's default (131072) does not fit a 70B model on 2x H100
    # One fraction for both. The meanings differ slightly (vLLM: all memory it may use; SGLang:
    # weights + KV pool), but at 0.90 both leave ~4 GiB/GPU of KV for a 70B model (notes §4).
    gpu_memory_fraction: float = 0.90
    prefix_cache: bool = True  # vLLM automatic prefix caching / SGLang RadixAttention
    reasoning_parser: str | None = "deepseek_r1"
    metrics: bool = True  # SGLang serves /metrics only when asked; vLLM always does
    cached_tokens: bool = True  # usage.prompt_tokens_details.cached_tokens, off by default on both
    port: int = PORT


@dataclass(frozen=True)
class EngineSpec:
    engine: str
    image: str
    settings: EngineSettings

    def flags(self, api_key: str | None = None) -> list[str]:
        """The engine's arguments in its own spelling; `api_key` adds `--api-key` with that value."""
        s = self.settings
        known = engine_named(self.engine)
        vllm = self.engine == "vllm"
        args = [s.model] if vllm else ["--model-path", s.model]
        args += ["--served-model-name", s.served_model_name]
        # SGLang binds 127.0.0.1:30000 by default, which the pod's proxy cannot reach.
        args += ["--host", "0.0.0.0", "--port", str(s.port)]
        args += ["--tensor-parallel-size" if vllm else "--tp-size", str(s.tensor_parallel)]
        args += ["--max-model-len" if vllm else "--context-length", str(s.context_length)]
        args += ["--gpu-memory-utilization" if vllm else "--mem-fraction-static", f"{s.gpu_memory_fraction:g}"]
        if vllm:  # on by default in vLLM V1; stated either way so the record shows it
            args.append("--enable-prefix-caching" if s.prefix_cache else "--no-enable-prefix-caching")
        elif not s.prefix_cache:
            args.append("--disable-radix-cache")
        if s.cached_tokens and known.cached_tokens_flag:
            args.append(known.cached_tokens_flag)
        if s.metrics and known.metrics_flag:
            args.append(known.metrics_flag)
        if s.reasoning_parser:
            spelled = REASONING_PARSERS.get(s.reasoning_parser, {}).get(self.engine, s.reasoning_parser)
            args += ["--reasoning-parser", spelled]
        if api_key:
            args += ["--api-key", api_key]
        return args

    def docker_args(self, api_key: str | None = None) -> str:
        """What create_pod's `docker_args` gets: the command (SGLang) and the flags, space-separated."""
        tokens = [*COMMANDS[self.engine], *self.flags(api_key)]
        for token in tokens:
            if not _SAFE_TOKEN.match(token):
                shown = "the engine API key" if token == api_key else repr(token)
                raise DeployError(
                    f"{self.engine} launch argument {shown} has a quote, backslash, space or other character "
                    "Runpod's create_pod cannot carry; use plain names and numbers"
                )
        return " ".join(tokens)

    def launch_record(self, api_key_set: bool) -> dict[str, Any]:
        """The `launch` table of targets.toml: image and every flag, the key shown as a placeholder."""
        flags = self.flags(API_KEY_PLACEHOLDER if api_key_set else None)
        return {"image": self.image, "command": " ".join(COMMANDS[self.engine]) or "vllm serve", "flags": flags}


def default_specs(settings: EngineSettings | None = None) -> dict[str, EngineSpec]:
    s = settings or EngineSettings()
    return {engine: EngineSpec(engine, DEFAULT_IMAGES[engine], s) for engine in LAUNCHABLE}


def override(settings: EngineSettings, assignments: list[str], engine: str) -> EngineSettings:
    """Apply `--vllm KEY=VALUE` / `--sglang KEY=VALUE` to one engine's settings."""
    kinds = {f.name: f.type for f in fields(EngineSettings)}
    changes: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in kinds:
            raise DeployError(f"--{engine} {item!r}: expected SETTING=VALUE, SETTING one of {', '.join(kinds)}")
        changes[key] = _parse_value(str(kinds[key]), raw.strip(), f"--{engine} {item}")
    return replace(settings, **changes)


def _parse_value(kind: str, raw: str, where: str) -> Any:
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise DeployError(f"{where}: expected a {kind}") from None
    if kind == "bool":
        if raw.lower() in ("1", "true", "on", "yes"):
            return True
        if raw.lower() in ("0", "false", "off", "no"):
            return False
        raise DeployError(f"{where}: expected on or off")
    if kind == "str | None" and raw.lower() in ("", "none"):
        return None
    return raw


def parity_differences(specs: dict[str, EngineSpec]) -> list[str]:
    """Each setting on which the engines differ, as "setting (vllm X, sglang Y)"; empty at parity."""
    differences = []
    for f in fields(EngineSettings):
        values = {engine: getattr(spec.settings, f.name) for engine, spec in specs.items()}
        if len(set(values.values())) > 1:
            shown = ", ".join(f"{engine} {value}" for engine, value in values.items())
            differences.append(f"{f.name} ({shown})")
    return differences


def check_parity(specs: dict[str, EngineSpec], force: bool) -> str:
    """ "checked", or "forced: ..." with --force; otherwise asymmetric settings are refused."""
    differences = parity_differences(specs)
    if not differences:
        return "checked"
    if not force:
        raise DeployError(
            f"the engines would not run the same setup: {'; '.join(differences)}; make them equal, or pass "
            "--force to compare them anyway (the difference is recorded in targets.toml)"
        )
    return "forced: " + "; ".join(differences)


def validate(specs: dict[str, EngineSpec]) -> None:
    """Refuse settings no engine can start with, before anything is created or paid for."""
    for engine, spec in specs.items():
        s = spec.settings
        if s.tensor_parallel < 1 or s.context_length < 1 or s.port < 1:
            raise DeployError(f"{engine}: tensor_parallel, context_length and port must be positive")
        if not 0.1 <= s.gpu_memory_fraction <= 0.99:
            raise DeployError(f"{engine}: gpu_memory_fraction {s.gpu_memory_fraction:g} must be in 0.10-0.99")
        spec.docker_args()
