"""Both engines' launch flags from one set of settings, each in its engine's own spelling (notes §4)."""

from __future__ import annotations

import itertools
import tomllib

import pytest

from deploy.errors import DeployError
from deploy.parity import (
    API_KEY_PLACEHOLDER,
    COMMANDS,
    EngineSettings,
    EngineSpec,
    check_parity,
    default_specs,
    override,
    parity_differences,
    validate,
)
from deploy.targets import Target


def pairs(args: list[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(args))


def test_vllm_flags_use_vllm_spellings() -> None:
    args = default_specs()["vllm"].start_args()
    assert args.startswith("deepseek-ai/DeepSeek-R1-Distill-Llama-70B ")  # the image's entrypoint is `vllm serve`
    tokens = args.split()
    assert {("--tensor-parallel-size", "2"), ("--max-model-len", "16384"), ("--gpu-memory-utilization", "0.9"),
            ("--reasoning-parser", "deepseek_r1"), ("--host", "0.0.0.0"), ("--port", "8000"),
            ("--served-model-name", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B")} <= pairs(tokens)  # fmt: skip
    assert "--enable-prefix-caching" in tokens and "--enable-prompt-tokens-details" in tokens
    assert "--enable-metrics" not in tokens  # vLLM serves /metrics without being asked


def test_sglang_flags_use_sglang_spellings() -> None:
    tokens = default_specs()["sglang"].start_args().split()
    assert tokens[:3] == ["sglang", "serve", "--model-path"]  # SGLang 0.5.23's recommended entry point
    expected = {("--tp-size", "2"), ("--context-length", "16384"), ("--mem-fraction-static", "0.9"),
                ("--reasoning-parser", "deepseek-r1"), ("--host", "0.0.0.0"), ("--port", "8000")}  # fmt: skip
    assert expected <= pairs(tokens)
    assert "--enable-cache-report" in tokens and "--enable-metrics" in tokens
    assert "--disable-radix-cache" not in tokens


def test_prefix_cache_off_is_spelled_per_engine() -> None:
    specs = default_specs(EngineSettings(prefix_cache=False))
    assert "--no-enable-prefix-caching" in specs["vllm"].flags()
    assert "--disable-radix-cache" in specs["sglang"].flags()
    assert check_parity(specs, force=False) == "checked"


def test_no_reasoning_parser_means_no_flag() -> None:
    for spec in default_specs(EngineSettings(reasoning_parser=None)).values():
        assert "--reasoning-parser" not in spec.flags()


@pytest.mark.parametrize(
    ("engine", "assignment", "named"),
    [
        ("sglang", "context_length=8192", "context_length (vllm 16384, sglang 8192)"),
        ("vllm", "prefix_cache=off", "prefix_cache (vllm False, sglang True)"),
        ("sglang", "served_model_name=other", "served_model_name"),
        ("vllm", "gpu_memory_fraction=0.95", "gpu_memory_fraction"),
        ("sglang", "schedule_policy=lpm", "schedule_policy (vllm fcfs, sglang lpm)"),
        ("vllm", "sampling_defaults=engine", "sampling_defaults (vllm engine, sglang model)"),
        ("sglang", "prefill-chunk-tokens=16384", "prefill_chunk_tokens (vllm 8192, sglang 16384)"),
        ("vllm", "max_running_requests=256", "max_running_requests (vllm 256, sglang 1024)"),
    ],
)
def test_asymmetric_settings_are_refused_unless_forced(engine: str, assignment: str, named: str) -> None:
    specs = default_specs()
    specs[engine] = EngineSpec(engine, specs[engine].image, override(specs[engine].settings, [assignment], engine))
    assert any(named in d for d in parity_differences(specs))
    with pytest.raises(DeployError) as refused:
        check_parity(specs, force=False)
    assert "\n" not in str(refused.value) and "--force" in str(refused.value) and named in str(refused.value)
    assert check_parity(specs, force=True).startswith("forced: ")


def test_different_images_are_not_a_parity_difference() -> None:
    specs = default_specs()
    specs["vllm"] = EngineSpec("vllm", "vllm/vllm-openai:v0.32.0-cu129", specs["vllm"].settings)
    assert check_parity(specs, force=False) == "checked"


def test_overrides_reject_unknown_settings_and_bad_values() -> None:
    with pytest.raises(DeployError, match="SETTING one of model"):
        override(EngineSettings(), ["speed=fast"], "vllm")
    with pytest.raises(DeployError, match="expected a int"):
        override(EngineSettings(), ["context_length=big"], "vllm")
    with pytest.raises(DeployError, match="on or off"):
        override(EngineSettings(), ["metrics=maybe"], "sglang")
    assert override(EngineSettings(), ["reasoning-parser=none"], "vllm").reasoning_parser is None


def test_flags_that_would_break_runpods_args_are_refused_before_anything_is_created() -> None:
    specs = default_specs(EngineSettings(served_model_name='my "model"'))
    with pytest.raises(DeployError, match="quote, backslash, space"):
        validate(specs)
    with pytest.raises(DeployError):
        validate(default_specs(EngineSettings(model="a\\b")))
    for spec in default_specs().values():
        assert not set("\"\\'") & set(spec.start_args("k3y"))


def test_the_record_shows_every_flag_but_never_the_key() -> None:
    spec = default_specs()["sglang"]
    assert "--api-key s3cret" in spec.start_args("s3cret")  # SGLang reads its key from no variable
    record = spec.launch_record(api_key_set=True)
    assert record["flags"][-2:] == ["--api-key", API_KEY_PLACEHOLDER]
    assert record["flags"] == spec.flags(API_KEY_PLACEHOLDER) and record["image"] == spec.image
    assert record["command"] == "sglang serve"
    assert default_specs()["vllm"].launch_record(api_key_set=False)["command"] == "vllm serve"


def test_impossible_settings_are_refused() -> None:
    with pytest.raises(DeployError, match=r"0\.10-0\.99"):
        validate(default_specs(EngineSettings(gpu_memory_fraction=1.5)))
    with pytest.raises(DeployError, match="positive"):
        validate(default_specs(EngineSettings(context_length=0)))


# Each parity setting as each engine spells it, at the defaults and at a changed value.
PARITY_FLAGS = {
    "vllm": {"--scheduling-policy": ("fcfs", "priority"), "--generation-config": ("auto", "vllm"),
             "--gpu-memory-utilization": ("0.9", "0.8"), "--max-num-batched-tokens": ("8192", "4096"),
             "--max-num-seqs": ("1024", "256")},
    "sglang": {"--schedule-policy": ("fcfs", "priority"), "--sampling-defaults": ("model", "openai"),
               "--mem-fraction-static": ("0.9", "0.8"), "--chunked-prefill-size": ("8192", "4096"),
               "--max-running-requests": ("1024", "256")},
}  # fmt: skip
CHANGED = EngineSettings(
    schedule_policy="priority",
    sampling_defaults="engine",
    gpu_memory_fraction=0.8,
    prefill_chunk_tokens=4096,
    max_running_requests=256,
)


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_every_parity_setting_is_stated_on_both_command_lines(engine: str) -> None:
    for settings, which in ((EngineSettings(), 0), (CHANGED, 1)):
        spec = default_specs(settings)[engine]
        expected = {(flag, values[which]) for flag, values in PARITY_FLAGS[engine].items()}
        assert expected <= pairs(spec.start_args("k3y").split())
        assert expected <= pairs(spec.launch_record(api_key_set=True)["flags"])
    assert check_parity(default_specs(CHANGED), force=False) == "checked"


def test_vllm_takes_its_key_from_the_environment_and_runs_in_dev_mode() -> None:
    spec = default_specs()["vllm"]
    assert "s3cret" not in spec.start_args("s3cret") and "--api-key" not in spec.start_args("s3cret")
    assert spec.start_env("s3cret") == {"VLLM_SERVER_DEV_MODE": "1", "VLLM_API_KEY": "s3cret"}
    # Without dev mode vLLM answers compare's POST /reset_prefix_cache with a 404.
    assert spec.start_env(None) == {"VLLM_SERVER_DEV_MODE": "1"}


def test_sglang_reads_no_key_from_the_environment_so_it_stays_in_the_args() -> None:
    spec = default_specs()["sglang"]
    assert spec.start_args("s3cret").endswith("--api-key s3cret") and spec.start_env("s3cret") == {}
    assert "--api-key" not in spec.start_args(None)


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_the_record_is_what_the_pod_gets_with_the_key_as_a_placeholder(engine: str) -> None:
    spec = default_specs()[engine]
    record = spec.launch_record(api_key_set=True)
    shown = " ".join(record["flags"]) + " " + " ".join(record["env"])
    assert API_KEY_PLACEHOLDER in shown and "s3cret" not in shown
    # The record is the pod's start command and environment, the key replaced by the placeholder.
    started = spec.start_args("s3cret").replace("s3cret", API_KEY_PLACEHOLDER)
    assert started == " ".join([*COMMANDS[engine], *record["flags"]])
    env = {f"{k}={v}".replace("s3cret", API_KEY_PLACEHOLDER) for k, v in spec.start_env("s3cret").items()}
    assert set(record["env"]) == env
    no_key = spec.launch_record(api_key_set=False)
    assert API_KEY_PLACEHOLDER not in str(no_key) and no_key["env"] == [f"{k}={v}" for k, v in spec.start_env().items()]


def test_the_record_can_be_written_to_targets_toml_and_read_back() -> None:
    for engine, spec in default_specs().items():
        record = spec.launch_record(api_key_set=True)
        written = Target(f"{engine}-runpod", engine, "http://127.0.0.1:8000", launch=record).to_toml()
        assert tomllib.loads(written)["target"][0]["launch"] == record


def test_settings_an_engine_cannot_start_with_are_refused_for_that_engine() -> None:
    specs = default_specs()
    specs["sglang"] = EngineSpec(
        "sglang", specs["sglang"].image, override(specs["sglang"].settings, ["schedule_policy=lpm"], "sglang")
    )
    validate(specs)  # lpm is SGLang's alone: a forced, labelled arm
    with pytest.raises(DeployError, match="vllm: schedule_policy 'lpm' is not one of fcfs, priority"):
        validate(default_specs(EngineSettings(schedule_policy="lpm")))
    with pytest.raises(DeployError, match="sampling_defaults must be one of model, engine"):
        validate(default_specs(EngineSettings(sampling_defaults="openai")))
    # vLLM will not start with a step budget below its sequence limit.
    with pytest.raises(DeployError, match=r"vllm: prefill_chunk_tokens \(512\) must be at least max_running_requests"):
        validate(default_specs(EngineSettings(prefill_chunk_tokens=512)))
    with pytest.raises(DeployError, match="positive"):
        validate(default_specs(EngineSettings(max_running_requests=0)))
