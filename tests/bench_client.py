"""`make bench-client`: what the streaming client costs and how true its TTFT is, against ground truth.

The ground-truth server runs in its own process and logs when it really sent each first token;
this process runs only the client, so its CPU time is the client's cost. For each scenario:

    paced   N streams at once, 200 ms TTFT, 20 ms between tokens, 64 tokens (N = 1, 64, 256)
    burst   64 streams x 256 tokens sent back to back (no delays): the per-token cost alone

Figures: client CPU per 1,000 streamed tokens, and the TTFT error (client TTFT minus the server's
TTFT from its own log) at p50 and p99. The same scenarios are run with a bare Locust
`FastHttpSession.iter_lines` reader as a baseline. Connections are opened in a warm-up round
first: the server cannot see connect time, so it is left out of the comparison.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import locust  # noqa: E402, F401
from gevent.pool import Group  # noqa: E402
from locust.contrib.fasthttp import FastHttpSession  # noqa: E402
from locust.event import EventHook  # noqa: E402

from deploy.groundtruth.process import GroundTruth, running_groundtruth  # noqa: E402
from harness.chat_request import ChatRequest, user_message  # noqa: E402
from harness.client import ChatClient  # noqa: E402
from harness.measurement import percentile  # noqa: E402


@dataclass(frozen=True)
class Scenario:
    name: str
    streams: int
    tokens: int
    ttft_ms: float
    itl_ms: float
    rounds: int


@dataclass(frozen=True)
class Sample:
    response_id: str
    ttft_ms: float
    tokens: int


def request_for(s: Scenario) -> ChatRequest:
    return ChatRequest(
        "groundtruth",
        [user_message("Summarise the refund policy.")],
        s.tokens,
        extra_body={"groundtruth": {"ttft_ms": s.ttft_ms, "itl_ms": s.itl_ms}},
    )


def turnbench_sender(url: str, streams: int) -> Callable[[ChatRequest], Sample]:
    client = ChatClient.standalone(url, concurrency=streams)

    def send(request: ChatRequest) -> Sample:
        r = client.send(request)
        if not r.ok or r.ttft_ms is None or r.response_id is None:
            raise RuntimeError(f"turn failed: {r.error_kind}: {r.error}")
        return Sample(r.response_id, r.ttft_ms, r.completion_tokens or 0)

    return send


def locust_iter_lines_sender(url: str, streams: int) -> Callable[[ChatRequest], Sample]:
    """The baseline: what a Locust user gets from FastHttpSession.iter_lines and json per line."""
    session = FastHttpSession(url, request_event=EventHook(), user=None, concurrency=streams, max_retries=0)

    def send(request: ChatRequest) -> Sample:
        body = json.dumps(request.body())
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        t0 = time.monotonic()
        first = None
        response_id, tokens = "", 0
        for line in session.iter_lines("/v1/chat/completions", method="POST", data=body, headers=headers):
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk: dict[str, Any] = json.loads(line[6:])
            response_id = chunk.get("id", response_id)
            if chunk.get("choices") and chunk["choices"][0].get("delta", {}).get("content") and first is None:
                first = time.monotonic()
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
        if first is None:
            raise RuntimeError("baseline saw no token")
        return Sample(response_id, (first - t0) * 1000, tokens)

    return send


def run(server: GroundTruth, scenario: Scenario, make_sender: Callable[..., Callable[[ChatRequest], Sample]]) -> dict:
    send = make_sender(server.url, scenario.streams)
    request = request_for(scenario)
    group = Group()
    group.map(lambda _: send(request), range(scenario.streams))  # warm-up: open the connections
    server.log()
    samples: list[Sample] = []
    cpu0, wall0 = time.process_time(), time.monotonic()
    for _ in range(scenario.rounds):
        samples += group.map(lambda _: send(request), range(scenario.streams))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    truth = server.log()
    errors = sorted(
        s.ttft_ms - (truth[s.response_id]["first_token"] - truth[s.response_id]["received"]) * 1000 for s in samples
    )
    tokens = sum(s.tokens for s in samples)
    return {
        "turns": len(samples),
        "tokens": tokens,
        "cpu_ms_per_1k_tokens": cpu * 1000 / tokens * 1000,
        "tokens_per_s": tokens / wall,
        "ttft_err_p50_ms": percentile(errors, 0.5),
        "ttft_err_p99_ms": percentile(errors, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Client CPU cost and TTFT accuracy against ground truth.")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per scenario")
    parser.add_argument("--no-baseline", action="store_true", help="skip the Locust iter_lines baseline")
    args = parser.parse_args()
    scenarios = [
        Scenario("paced", 1, 64, 200, 20, max(args.rounds, 5)),
        Scenario("paced", 64, 64, 200, 20, args.rounds),
        Scenario("paced", 256, 64, 200, 20, args.rounds),
        Scenario("burst", 64, 256, 0, 0, args.rounds),
    ]
    clients = [("turnbench", turnbench_sender)]
    if not args.no_baseline:
        clients.append(("locust iter_lines", locust_iter_lines_sender))
    header = (
        f"{'client':<18} {'scenario':<8} {'streams':>7} {'tokens':>7} {'CPU ms/1k tok':>13} {'tok/s':>7} "
        f"{'TTFT err p50':>12} {'p99':>8}"
    )
    print(header)
    print("-" * len(header))
    with running_groundtruth() as server:
        for name, sender in clients:
            for s in scenarios:
                r = run(server, s, sender)
                print(
                    f"{name:<18} {s.name:<8} {s.streams:>7} {r['tokens']:>7} {r['cpu_ms_per_1k_tokens']:>13.1f} "
                    f"{r['tokens_per_s']:>7.0f} {r['ttft_err_p50_ms']:>9.2f} ms {r['ttft_err_p99_ms']:>5.2f} ms",
                    flush=True,
                )
    print(
        "\nTTFT error = client TTFT - server TTFT (first token written - request read), same clock; "
        "burst rows measure CPU only (TTFT 0)."
    )


if __name__ == "__main__":
    main()
