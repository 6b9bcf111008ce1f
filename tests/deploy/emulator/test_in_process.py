"""The emulator embedded in asyncio code, without a subprocess (for library users and quick checks)."""

from __future__ import annotations

import asyncio
import json

from deploy.emulator.profile import load_profile
from deploy.emulator.server import Emulator, EmulatorConfig


async def one_streamed_turn() -> tuple[list[str], dict[str, object]]:
    emulator = Emulator(EmulatorConfig(engine="sglang", profile=load_profile("fast"), model="m"))
    url = await emulator.start()
    host, port = url.removeprefix("http://").split(":")
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3,
                           "stream": True, "stream_options": {"include_usage": True}, "ignore_eos": True})  # fmt: skip
        writer.write(
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n\r\n{body}".encode()
        )
        raw = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), timeout=10)
        writer.close()
        stats = emulator.truth.records[-1]
    finally:
        await emulator.stop()
    events = [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]
    return events, {"completion_tokens": stats.completion_tokens, "fault": stats.fault}


def test_an_emulator_runs_inside_an_asyncio_program() -> None:
    events, truth = asyncio.run(one_streamed_turn())
    assert events[-1] == "[DONE]" and json.loads(events[-2])["usage"]["completion_tokens"] == 3
    assert truth == {"completion_tokens": 3, "fault": None}
