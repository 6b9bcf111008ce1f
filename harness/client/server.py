"""Asking a server what it is: the models it serves, which engine it is, its version and flags.

The one place turnbench talks to a server outside a chat turn: the preflight of `turnbench run`,
the model of a user given no --model, and run.json's account of the server. Blocking urllib,
used before the load starts or on the master, never on a user's hot path; it imports neither
gevent nor Locust, so `turnbench run` can ask before Locust patches the process. Which engine
answers what, and where, comes from deploy.engines. What a server says about itself goes into
run.json, which people share: every value whose name looks like a secret is redacted first.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from typing import Any

from deploy.engines import ENGINES, OPENAI

MODELS_PATH = "/v1/models"
REDACTED = "<redacted>"
# A name is secret when its last word is one of these: api_key, admin_api_key (SGLang 0.5's
# /get_server_info lists both), hf_token, ssl_keyfile_password, client_secret, Authorization. Only
# the last word, so max_total_tokens, tokenizer_path, ssl_keyfile and api_key_env (the *name* of a
# variable) stay: they are the flags run.json is for.
SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "passphrase", "credential", "credentials",
     "auth", "authorization", "bearer", "cookie", "pwd"}
)  # fmt: skip


class ClientConfigError(ValueError):
    """The client cannot be set up as asked (for example, the API key variable is unset)."""


class ServerError(Exception):
    """The server cannot be used as asked; one line saying what to check."""


def auth_headers(api_key_env: str | None) -> dict[str, str]:
    """Bearer header from the named environment variable. The key itself is never stored elsewhere."""
    if not api_key_env:
        return {}
    key = os.environ.get(api_key_env)
    if not key:
        raise ClientConfigError(f"environment variable {api_key_env} is not set (it should hold the API key)")
    return {"Authorization": f"Bearer {key}"}


def fetch_json(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as response:
        return json.load(response)


def model_cards(base_url: str, api_key_env: str | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The server's /v1/models cards, or a one-line `ServerError` saying what is wrong."""
    try:
        headers = auth_headers(api_key_env)
    except ClientConfigError as exc:
        raise ServerError(str(exc)) from exc
    url = f"{base_url.rstrip('/')}{MODELS_PATH}"
    try:
        body = fetch_json(url, headers, timeout)
    except urllib.error.HTTPError as exc:
        raise ServerError(f"{url} answered HTTP {exc.code}: is this an OpenAI-compatible server?") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServerError(f"cannot reach {base_url} ({reason}): is the server running?") from exc
    except ValueError as exc:
        raise ServerError(f"{url} did not answer with JSON: is this an OpenAI-compatible server?") from exc
    cards = body.get("data") if isinstance(body, dict) else None
    return [card for card in cards or [] if isinstance(card, dict)]


def engine_of(cards: list[dict[str, Any]]) -> str:
    """The engine a server's model cards name in `owned_by` ("" when none is known)."""
    for card in cards:
        for engine in ENGINES.values():
            if engine.owned_by is not None and str(card.get("owned_by")) == engine.owned_by:
                return engine.name
    return ""


_served_models: dict[str, str] = {}


def served_model(base_url: str, api_key_env: str | None = None) -> str:
    """The server's first model, asked once per process ("" when it cannot be asked)."""
    if base_url not in _served_models:
        try:
            cards = model_cards(base_url, api_key_env)
            _served_models[base_url] = str(cards[0]["id"]) if cards else ""
        except (ServerError, KeyError):
            _served_models[base_url] = ""
    return _served_models[base_url]


def server_info(base_url: str, engine_hint: str = "", api_key_env: str | None = None) -> dict[str, Any]:
    """The engine's own account of itself: model, version, flags, and whether it is the emulator."""
    info: dict[str, Any] = {}
    cards: list[dict[str, Any]] = []
    try:
        cards = model_cards(base_url, api_key_env, timeout=5.0)
        card = cards[0]
        info.update(model=card.get("id"), owned_by=card.get("owned_by"), max_model_len=card.get("max_model_len"))
    except (ServerError, IndexError) as exc:
        info["models_error"] = str(exc) or "no models"
    engine = engine_hint or engine_of(cards[:1])
    path = ENGINES[engine].version_path if engine in ENGINES else None
    if path:
        try:
            details = fetch_json(f"{base_url.rstrip('/')}{path}", auth_headers(api_key_env))
            info["version"] = details.get("version")
            info["emulator"] = bool(details.get("emulator", False))
            info["details"] = redact_secrets(details)
        except Exception as exc:  # recorded in run.json; a server without the endpoint is still measured
            info["version_error"] = str(exc)
    info["engine"] = engine or OPENAI.name
    info.setdefault("emulator", False)
    return info


def is_secret_name(name: str) -> bool:
    """`api_key`, `adminApiKey`, `x-api-key`, `--hf-token`: names whose value must not be stored."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower().replace("-", "_").replace(".", "_").split("_")
    words = [word for word in words if word]
    return bool(words) and words[-1] in SECRET_WORDS


def redact_secrets(value: Any) -> Any:
    """A copy with every secret-named value (in dicts, lists, and `--flag value` / `--flag=value`
    argument lists) replaced by REDACTED. None, "" and booleans stay: "not set" is not a secret."""
    if isinstance(value, dict):
        return {k: _redact_value(v) if is_secret_name(str(k)) else redact_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        redacted: list[Any] = []
        hide_next = False
        for item in value:
            flag = isinstance(item, str) and item.startswith("-")
            if hide_next and not flag:
                redacted.append(_redact_value(item))
            elif flag and "=" in item and is_secret_name(item.lstrip("-").partition("=")[0]):
                redacted.append(f"{item.partition('=')[0]}={REDACTED}")
            else:
                redacted.append(redact_secrets(item))
            hide_next = flag and "=" not in item and is_secret_name(item.lstrip("-"))
        return redacted
    return value


def _redact_value(value: Any) -> Any:
    return value if value is None or value == "" or isinstance(value, bool) else REDACTED
