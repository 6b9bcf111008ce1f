"""Both engines' launch commands from one set of settings, so a comparison compares engines, not configs.

`EngineSettings` says what an engine must do in engine-neutral words (context length, prefix cache,
reasoning parser, ...). `EngineSpec.flags` spells it in each engine's own dialect (notes §4): the
same setting is `--max-model-len` for vLLM and `--context-length` for SGLang, `deepseek_r1` for one
parser and `deepseek-r1` for the other; `start_args` and `start_env` are what a Runpod REST v2
pod is created with (`args`, `env`), the key in the environment where the engine reads it there.
Every default that differs between the engines and changes results is stated on both command lines
and so in `launch_record`. The flags that turn on what later stages read (cached-token
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

# Pinned images. vLLM 0.33.0 is the current official CUDA build (notes/real-engines-on-cpu.md). The
# flags and defaults below were read in vLLM 0.33.0's PyPI wheel (the source the image is built from)
# and checked against the installed 0.32.0 parser (.venv-engines): recheck them on a bump.
# Since vLLM 0.20 the plain tag is CUDA 13.0 and `-cu129` is CUDA 12.9 (notes §4): the 12.9 build
# runs on hosts whose driver offers 12.9 or 13.0, which is more of Runpod's fleet.
VLLM_IMAGE = "vllm/vllm-openai:v0.33.0-cu129"
# SGLang 0.5.23: its flags and defaults below were read in the 0.5.23 PyPI wheel
# (python/sglang/srt/arg_groups/fields/*.py, where each field `x_y` is the flag `--x-y`: arg_utils.py).
# Recent SGLang tags are cu130 with -cu129 variants. Not worker-sglang's v0.5.2-cu126, which
# predates the flags below.
SGLANG_IMAGE = "lmsysorg/sglang:v0.5.23-cu129"
DEFAULT_IMAGES = {"vllm": VLLM_IMAGE, "sglang": SGLANG_IMAGE}

# The vLLM image's ENTRYPOINT is `vllm serve`, so its args are the model and flags only; the SGLang
# image has no serving entrypoint (notes §1), so its args are the whole command. `sglang serve` is
# SGLang's console script (`sglang = sglang.cli.main:main`, 0.5.23 entry_points) and the recommended
# entry point: `python -m sglang.launch_server` warns that it is only "still supported" (0.5.23
# launch_server.py). Both end in the same run_server(prepare_server_args(argv)).
COMMANDS: dict[str, tuple[str, ...]] = {"vllm": (), "sglang": ("sglang", "serve")}

# One neutral name per parser; vLLM spells DeepSeek-R1's with an underscore, SGLang with a hyphen
# (and worker-sglang's README lists wrong values: notes §2.8).
REASONING_PARSERS: dict[str, dict[str, str]] = {
    "deepseek_r1": {"vllm": "deepseek_r1", "sglang": "deepseek-r1"},
    "qwen3": {"vllm": "qwen3", "sglang": "qwen3"},
}

# Where the default sampling parameters (temperature, top_p, ...) of a request that sets none come
# from: "model" = the model's generation_config.json (R1-distill: temperature 0.6, top_p 0.95), the
# default of both (vLLM `generation_config = "auto"`, vllm/config/model.py 0.33.0; SGLang
# `sampling_defaults = "model"`, fields/serving.py 0.5.23); "engine" = the engine's own (1.0, 1.0).
SAMPLING_DEFAULTS: dict[str, dict[str, tuple[str, str]]] = {
    "model": {"vllm": ("--generation-config", "auto"), "sglang": ("--sampling-defaults", "model")},
    "engine": {"vllm": ("--generation-config", "vllm"), "sglang": ("--sampling-defaults", "openai")},
}

# The scheduling policies each engine accepts: vLLM `SchedulerPolicy` (vllm/config/scheduler.py
# 0.33.0), SGLang `schedule_policy` choices (fields/schedule.py 0.5.23). Both default to fcfs.
SCHEDULE_POLICIES: dict[str, tuple[str, ...]] = {
    "vllm": ("fcfs", "priority"),
    "sglang": ("lpm", "random", "fcfs", "dfs-weight", "lof", "priority", "routing-key", "hrrn",
               "shortest-prefill-first"),
}  # fmt: skip

# Each neutral setting's flag in each engine's spelling (vllm/engine/arg_utils.py 0.33.0; SGLang
# fields/*.py 0.5.23). Prefill budgets are the closest pair, not identical: vLLM's
# --max-num-batched-tokens bounds all tokens of a step (decodes too), SGLang's --chunked-prefill-size
# the tokens of one prefill chunk.
FLAG_NAMES: dict[str, dict[str, str]] = {
    "tensor_parallel": {"vllm": "--tensor-parallel-size", "sglang": "--tp-size"},
    "context_length": {"vllm": "--max-model-len", "sglang": "--context-length"},
    "gpu_memory_fraction": {"vllm": "--gpu-memory-utilization", "sglang": "--mem-fraction-static"},
    "schedule_policy": {"vllm": "--scheduling-policy", "sglang": "--schedule-policy"},
    "prefill_chunk_tokens": {"vllm": "--max-num-batched-tokens", "sglang": "--chunked-prefill-size"},
    "max_running_requests": {"vllm": "--max-num-seqs", "sglang": "--max-running-requests"},
}

# What each engine needs in its environment (Runpod REST v2 `env`). vLLM mounts POST
# /reset_prefix_cache, which compare flushes with, only when VLLM_SERVER_DEV_MODE is set
# (vllm/entrypoints/launchers/api_server/routers.py, 0.32.0 and 0.33.0): otherwise it is a 404.
# Dev mode also mounts /sleep, /collective_rpc, ... outside --api-key's /v1, /v2 prefixes, so a pod's
# proxy URL is not to be shared; its /server_info leaves out VLLM_* variables naming a KEY
# (serve/dev/server_info/api_router.py 0.33.0), so VLLM_API_KEY is not shown there.
ENVIRONMENTS: dict[str, dict[str, str]] = {"vllm": {"VLLM_SERVER_DEV_MODE": "1"}, "sglang": {}}
# The variable each engine reads its API key from, which keeps the key out of `args` and so off the
# engine's command line (`ps`, anything that prints argv). vLLM uses VLLM_API_KEY when --api-key is
# absent (vllm/entrypoints/serve/middleware/register.py, 0.32.0 and 0.33.0). SGLang 0.5.23 has no
# such variable (its only *_API_KEY in srt/environ.py is EXA_API_KEY, for web search): its key stays
# in `args`, which the record shows as API_KEY_PLACEHOLDER.
API_KEY_ENV: dict[str, str] = {"vllm": "VLLM_API_KEY"}

# REST v2's `args` is one string that Runpod splits on spaces without a shell, with no quoting rules
# documented (notes §2.7): every token must be free of quotes, backslashes and whitespace.
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_.:/=@+,%-]+$")
API_KEY_PLACEHOLDER = "<TURNBENCH_ENGINE_API_KEY>"  # what the record shows instead of the key


@dataclass(frozen=True)
class EngineSettings:
    """What an engine is asked to do; two engines are at parity when every field is equal.

    Every setting whose default differs between the engines, or that changes results, is stated on
    both command lines, so a run never depends on an engine's default.
    """

    model: str = DEFAULT_MODEL
    served_model_name: str = DEFAULT_MODEL  # what clients put in "model"; a wrong one is a 404 on vLLM
    tensor_parallel: int = 2
    context_length: int = 16384  # vLLM's default (131072) does not fit a 70B model on 2x H100
    # One fraction for both; the defaults differ (vLLM 0.92, vllm/config/cache.py 0.33.0; SGLang
    # None = sized from the prefill chunk, arg_groups/memory_hook.py 0.5.23). The meanings differ
    # slightly (vLLM: all memory it may use; SGLang: weights + KV pool), but at 0.90 both leave
    # ~4 GiB/GPU of KV for a 70B model (notes §4).
    gpu_memory_fraction: float = 0.90
    prefix_cache: bool = True  # vLLM automatic prefix caching / SGLang RadixAttention
    reasoning_parser: str | None = "deepseek_r1"
    metrics: bool = True  # SGLang serves /metrics only when asked; vLLM always does
    cached_tokens: bool = True  # usage.prompt_tokens_details.cached_tokens, off by default on both
    port: int = PORT
    schedule_policy: str = "fcfs"  # both engines' default (SCHEDULE_POLICIES)
    sampling_defaults: str = "model"  # a key of SAMPLING_DEFAULTS; both engines' default
    # Both engines' default on an H100 or H200: vLLM's API server 8192 on >= 70 GiB non-A100 GPUs
    # (vllm/engine/arg_utils.py 0.33.0), SGLang 8192 on 60-160 GiB GPUs (memory_hook.py 0.5.23);
    # both move to 16384 on a B200, so it is stated.
    prefill_chunk_tokens: int = 8192
    # vLLM's default on an H100 (max_num_seqs 1024, arg_utils.py 0.33.0); SGLang's would be 2048-4096
    # (kv_cache_configurator.py resolve_max_num_reqs, 0.5.23). The KV pool caps both far lower on
    # 2x H100 (notes §4), but the record says what each was allowed.
    max_running_requests: int = 1024


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
        # SGLang binds 127.0.0.1:30000 by default (fields/serving.py 0.5.23): the pod's proxy cannot reach it.
        args += ["--host", "0.0.0.0", "--port", str(s.port)]
        args += self._flag("tensor_parallel", str(s.tensor_parallel))
        args += self._flag("context_length", str(s.context_length))
        args += self._flag("gpu_memory_fraction", f"{s.gpu_memory_fraction:g}")
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
        args += self._flag("schedule_policy", s.schedule_policy)
        args += SAMPLING_DEFAULTS.get(s.sampling_defaults, {}).get(self.engine, ())
        args += self._flag("prefill_chunk_tokens", str(s.prefill_chunk_tokens))
        args += self._flag("max_running_requests", str(s.max_running_requests))
        if api_key:
            args += ["--api-key", api_key]
        return args

    def _flag(self, setting: str, value: str) -> list[str]:
        return [FLAG_NAMES[setting][self.engine], value]

    def start_args(self, api_key: str | None = None) -> str:
        """Runpod REST v2's `args`: the command (SGLang) and the flags, with the key only for an
        engine that cannot read it from `start_env` (SGLang)."""
        return self._joined(self.flags(None if self.engine in API_KEY_ENV else api_key), api_key)

    def start_env(self, api_key: str | None = None) -> dict[str, str]:
        """Runpod REST v2's `env`: what the engine needs in its environment, the key where it reads one."""
        env = dict(ENVIRONMENTS[self.engine])
        if api_key and self.engine in API_KEY_ENV:
            env[API_KEY_ENV[self.engine]] = api_key
        return env

    def _joined(self, flags: list[str], api_key: str | None) -> str:
        tokens = [*COMMANDS[self.engine], *flags]
        for token in tokens:
            if not _SAFE_TOKEN.match(token):
                shown = "the engine API key" if token == api_key else repr(token)
                raise DeployError(
                    f"{self.engine} launch argument {shown} has a quote, backslash, space or other character "
                    "Runpod's start command cannot carry; use plain names and numbers"
                )
        return " ".join(tokens)

    def launch_record(self, api_key_set: bool) -> dict[str, Any]:
        """The `launch` table of targets.toml and run.json: image, command, every flag and environment
        variable of `start_args`/`start_env`, the key shown as API_KEY_PLACEHOLDER wherever it goes."""
        key = API_KEY_PLACEHOLDER if api_key_set else None
        flags = self.flags(None if self.engine in API_KEY_ENV else key)
        # "K=V" strings, not a table: targets.toml writes launch values as JSON, which TOML reads for
        # arrays of strings but not for objects.
        env = [f"{name}={value}" for name, value in self.start_env(key).items()]
        return {"image": self.image, "command": " ".join(COMMANDS[self.engine]) or "vllm serve", "flags": flags,
                "env": env}  # fmt: skip


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
        if s.prefill_chunk_tokens < 1 or s.max_running_requests < 1:
            raise DeployError(f"{engine}: prefill_chunk_tokens and max_running_requests must be positive")
        # vLLM refuses to start otherwise (SchedulerConfig.verify_max_model_len, vllm/config/scheduler.py 0.33.0).
        if engine == "vllm" and s.prefill_chunk_tokens < s.max_running_requests:
            raise DeployError(
                f"vllm: prefill_chunk_tokens ({s.prefill_chunk_tokens}) must be at least max_running_requests "
                f"({s.max_running_requests})"
            )
        if s.schedule_policy not in SCHEDULE_POLICIES[engine]:
            raise DeployError(
                f"{engine}: schedule_policy {s.schedule_policy!r} is not one of {', '.join(SCHEDULE_POLICIES[engine])}"
            )
        if s.sampling_defaults not in SAMPLING_DEFAULTS:
            raise DeployError(f"{engine}: sampling_defaults must be one of {', '.join(SAMPLING_DEFAULTS)}")
        spec.start_args()
