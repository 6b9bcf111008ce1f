"""Both engines' launch flags from one set of settings, each in its engine's own spelling (notes §4)."""

from __future__ import annotations

import itertools

import pytest

from deploy.errors import DeployError
from deploy.parity import (
    API_KEY_PLACEHOLDER,
    EngineSettings,
    EngineSpec,
    check_parity,
    default_specs,
    override,
    parity_differences,
    validate,
)


def pairs(args: list[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(args))


def test_vllm_flags_use_vllm_spellings() -> None:
    args = default_specs()["vllm"].docker_args()
    assert args.startswith("deepseek-ai/DeepSeek-R1-Distill-Llama-70B ")  # the image's entrypoint is `vllm serve`
    tokens = args.split()
    assert {("--tensor-parallel-size", "2"), ("--max-model-len", "16384"), ("--gpu-memory-utilization", "0.9"),
            ("--reasoning-parser", "deepseek_r1"), ("--host", "0.0.0.0"), ("--port", "8000"),
            ("--served-model-name", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B")} <= pairs(tokens)  # fmt: skip
    assert "--enable-prefix-caching" in tokens and "--enable-prompt-tokens-details" in tokens
    assert "--enable-metrics" not in tokens  # vLLM serves /metrics without being asked


def test_sglang_flags_use_sglang_spellings() -> None:
    tokens = default_specs()["sglang"].docker_args().split()
    assert tokens[:4] == ["python3", "-m", "sglang.launch_server", "--model-path"]
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


def test_flags_that_would_break_runpods_graphql_are_refused_before_anything_is_created() -> None:
    specs = default_specs(EngineSettings(served_model_name='my "model"'))
    with pytest.raises(DeployError, match="quote, backslash, space"):
        validate(specs)
    with pytest.raises(DeployError):
        validate(default_specs(EngineSettings(model="a\\b")))
    for spec in default_specs().values():
        assert not set("\"\\'") & set(spec.docker_args("k3y"))


def test_the_record_shows_every_flag_but_never_the_key() -> None:
    spec = default_specs()["sglang"]
    assert "--api-key s3cret" in spec.docker_args("s3cret")
    record = spec.launch_record(api_key_set=True)
    assert record["flags"][-2:] == ["--api-key", API_KEY_PLACEHOLDER]
    assert record["flags"] == spec.flags(API_KEY_PLACEHOLDER) and record["image"] == spec.image
    assert record["command"] == "python3 -m sglang.launch_server"
    assert default_specs()["vllm"].launch_record(api_key_set=False)["command"] == "vllm serve"


def test_impossible_settings_are_refused() -> None:
    with pytest.raises(DeployError, match=r"0\.10-0\.99"):
        validate(default_specs(EngineSettings(gpu_memory_fraction=1.5)))
    with pytest.raises(DeployError, match="positive"):
        validate(default_specs(EngineSettings(context_length=0)))
