"""Asking a server what it is (harness/client/server.py): what it says goes into run.json, its secrets never."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.client.server import REDACTED, server_info
from harness.recording.run_json import RunRecorder

API_KEY, ADMIN_KEY, HF_TOKEN, SSL_PASSWORD = "sk-live-123", "admin-456", "hf_789", "pem-000"
# What SGLang 0.5's /get_server_info answers, cut down: its server_args (with both keys set) and more.
SERVER_INFO = {
    "version": "0.5.3",
    "model_path": "meta-llama/Llama-3.3-70B-Instruct",
    "api_key": API_KEY,
    "admin_api_key": ADMIN_KEY,
    "tokenizer_path": "meta-llama/Llama-3.3-70B-Instruct",
    "max_total_tokens": 400000,
    "ssl_keyfile": "/etc/ssl/key.pem",
    "ssl_keyfile_password": SSL_PASSWORD,
    "enable_auth": True,
    "hf_token": None,
    "internal_states": [{"hfToken": HF_TOKEN, "last_gen_throughput": 41.5}],
    "argv": ["--tp", "2", "--api-key", API_KEY, f"--admin-api-key={ADMIN_KEY}", "--port", "30000"],
}


class SGLangLike(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body: Any = {"/v1/models": {"data": [{"id": "llama", "owned_by": "sglang"}]}, "/get_server_info": SERVER_INFO}
        payload = json.dumps(body.get(self.path, {})).encode()
        self.send_response(200 if self.path in body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def sglang() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SGLangLike)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_run_json_keeps_the_servers_flags_but_none_of_its_secrets(sglang: str, tmp_path: Path) -> None:
    info = server_info(sglang)
    assert info["engine"] == "sglang" and info["version"] == "0.5.3"
    target = {"name": "sglang", "engine": "sglang", "base_url": sglang, "model": "llama"}
    RunRecorder(tmp_path, target, {}, {}, info, lag_limit_ms=5.0)  # type: ignore[arg-type]
    written = (tmp_path / "run.json").read_text()
    for secret in (API_KEY, ADMIN_KEY, HF_TOKEN, SSL_PASSWORD):
        assert secret not in written
    details = json.loads(written)["server"]["details"]
    assert details["api_key"] == details["admin_api_key"] == details["ssl_keyfile_password"] == REDACTED
    assert details["internal_states"][0] == {"hfToken": REDACTED, "last_gen_throughput": 41.5}
    assert details["argv"] == ["--tp", "2", "--api-key", REDACTED, f"--admin-api-key={REDACTED}", "--port", "30000"]
    # The flags run.json is for stay, and so does "not set".
    assert details["max_total_tokens"] == 400000 and details["tokenizer_path"] == SERVER_INFO["tokenizer_path"]
    assert details["ssl_keyfile"] == "/etc/ssl/key.pem" and details["enable_auth"] is True
    assert details["hf_token"] is None
