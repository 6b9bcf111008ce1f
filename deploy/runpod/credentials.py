"""The secrets deploy handles, read from the environment and never written anywhere.

Three values pass through `turnbench deploy up`: the Runpod key (to call the API), the engine key
(given to the engines' `--api-key`, because Runpod's HTTP proxy makes every pod public) and an
optional Hugging Face token. Targets files name the *variables*; the values stay in memory, and
anything printed that could echo one (an error from the API) goes through `redact` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from deploy.errors import DeployError

RUNPOD_KEY_ENV = "RUNPOD_API_KEY"  # the Bearer token of every REST v2 call
ENGINE_KEY_ENV = "TURNBENCH_ENGINE_API_KEY"  # the harness reads the same variable (api_key_env)
HF_TOKEN_ENV = "HF_TOKEN"

# Env values travel as JSON, but an engine that takes its key as a flag (SGLang's --api-key) gets it
# inside the pod's one `args` string, which Runpod splits on spaces without a shell: no quotes or spaces.
_ARGS_SAFE = re.compile(r"^[A-Za-z0-9._~+/=-]+$")


@dataclass(frozen=True, repr=False)
class Credentials:
    runpod_key: str
    engine_key: str | None = None
    hf_token: str | None = None

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.runpod_key, self.engine_key, self.hf_token) if s)

    def redact(self, text: str) -> str:
        """`text` with every secret replaced, for anything that may reach a terminal or a file."""
        for secret in self.secrets():
            text = text.replace(secret, "<redacted>")
        return text

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, engine_key: bool = True) -> Credentials:
        """`engine_key=False` deploys engines without `--api-key` (the user asked for open endpoints)."""
        env = os.environ if environ is None else environ
        runpod_key = env.get(RUNPOD_KEY_ENV, "").strip()
        if not runpod_key:
            raise DeployError(f"set {RUNPOD_KEY_ENV} to your Runpod API key (Runpod console > Settings > API Keys)")
        engine = env.get(ENGINE_KEY_ENV, "").strip() or None
        if engine_key and engine is None:
            raise DeployError(
                f"set {ENGINE_KEY_ENV} (e.g. `export {ENGINE_KEY_ENV}=$(openssl rand -hex 24)`): pods are public "
                "behind Runpod's proxy, so the engines get --api-key; or pass --no-engine-api-key"
            )
        if engine is not None and not _ARGS_SAFE.match(engine):
            raise DeployError(
                f"{ENGINE_KEY_ENV} may only hold letters, digits and ._~+/=- (it is a flag in the pod's start "
                f"command, which cannot carry quotes or spaces); generate one with `openssl rand -hex 24`"
            )
        hf = env.get(HF_TOKEN_ENV, "").strip() or None  # an env value, sent as JSON: any character is fine
        return cls(runpod_key, engine if engine_key else None, hf)
