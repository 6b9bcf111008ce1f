"""Secrets come from the environment, are checked before use, and never show up in text."""

from __future__ import annotations

import pytest

from deploy.errors import DeployError
from deploy.runpod.credentials import Credentials


def test_all_three_from_the_environment() -> None:
    env = {"RUNPOD_API_KEY": "rk_1", "TURNBENCH_ENGINE_API_KEY": "ek_2", "HF_TOKEN": "hf_3"}
    creds = Credentials.from_env(env)
    assert (creds.runpod_key, creds.engine_key, creds.hf_token) == ("rk_1", "ek_2", "hf_3")
    assert "rk_1" not in repr(creds) and "ek_2" not in str(creds)
    assert creds.redact("key rk_1 and ek_2 and hf_3") == "key <redacted> and <redacted> and <redacted>"


def test_missing_keys_say_what_to_set() -> None:
    with pytest.raises(DeployError, match="set RUNPOD_API_KEY"):
        Credentials.from_env({})
    with pytest.raises(DeployError, match="openssl rand -hex 24"):
        Credentials.from_env({"RUNPOD_API_KEY": "rk"})
    assert (
        Credentials.from_env({"RUNPOD_API_KEY": "rk", "TURNBENCH_ENGINE_API_KEY": "ek"}, engine_key=False).engine_key
        is None
    )


@pytest.mark.parametrize("key", ['ab"cd', "ab cd", "ab\\cd", "ab'cd"])
def test_engine_keys_a_start_command_cannot_carry_are_refused_without_being_shown(key: str) -> None:
    """SGLang takes its key as a flag in the pod's one `args` string, which Runpod splits on spaces."""
    with pytest.raises(DeployError) as refused:
        Credentials.from_env({"RUNPOD_API_KEY": "rk", "TURNBENCH_ENGINE_API_KEY": key})
    assert key not in str(refused.value)
    # The Hugging Face token is an env value, sent as JSON: any character travels.
    env = {"RUNPOD_API_KEY": "rk", "TURNBENCH_ENGINE_API_KEY": "ek", "HF_TOKEN": key}
    assert Credentials.from_env(env).hf_token == key.strip()
