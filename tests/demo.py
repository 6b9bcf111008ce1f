"""`make demo`, for now: the measurement core against a server that knows the truth.

The full demo (two emulated engines compared, ending in a report) arrives with the emulator
(issue 3) and the analysis stage (issue 5). Until then this runs the smallest real end-to-end path:
a local streaming server in vLLM's and then SGLang's dialect (200 ms to the first token, 20 ms
between tokens, a reasoning phase first), 32 concurrent conversations' worth of turns through
turnbench's streaming client, and the client's figures printed beside the server's own log.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import locust  # noqa: E402, F401
from gevent.pool import Group  # noqa: E402

from harness.chat_request import ChatRequest, user_message  # noqa: E402
from harness.client import ChatClient  # noqa: E402
from harness.measurement import percentile  # noqa: E402
from tests.groundtruth.process import running_groundtruth  # noqa: E402

STREAMS = 32
ROUNDS = 3


def p(values: list[float], q: float) -> float:
    return percentile(sorted(values), q)


def main() -> None:
    print(__doc__.split("\n\n")[1].replace("\n", " "), "\n")
    print(f"{'dialect':<8} {'turns':>5} {'TTFT p50':>9} {'truth':>7} {'TTFO p50':>9} {'E2E p50':>8} {'truth':>7} "
          f"{'TPOT p50':>9} {'tokens':>7} {'failed':>6}")  # fmt: skip
    with running_groundtruth("--ttft-ms", "200", "--itl-ms", "20", "--cached-tokens", "8") as server:
        for dialect in ("vllm", "sglang"):
            client = ChatClient.standalone(server.url, concurrency=STREAMS)
            request = ChatRequest(
                "groundtruth",
                [user_message("My order arrived damaged. What are my options?")],
                max_tokens=48,
                extra_body={"groundtruth": {"dialect": dialect, "reasoning_tokens": 8}},
            )
            group, requests = Group(), [request] * STREAMS
            group.map(client.send, requests)  # opens the connections
            server.log()
            results = [r for _ in range(ROUNDS) for r in group.map(client.send, requests)]
            truth = server.log()
            ok = [r for r in results if r.ok and r.response_id in truth]
            logged = [truth[r.response_id or ""] for r in ok]
            columns = [
                p([r.ttft_ms or 0 for r in ok], 0.5),
                p([(t["first_token"] - t["received"]) * 1000 for t in logged], 0.5),
                p([r.ttfo_ms or 0 for r in ok], 0.5),
                p([r.e2e_ms for r in ok], 0.5),
                p([(t["end"] - t["received"]) * 1000 for t in logged], 0.5),
                p([r.tpot_ms or 0 for r in ok], 0.5),
            ]
            ttft, true_ttft, ttfo, e2e, true_e2e, tpot = columns
            tokens = sum(r.completion_tokens or 0 for r in ok)
            print(
                f"{dialect:<8} {len(results):>5} {ttft:>6.1f} ms {true_ttft:>7.1f} {ttfo:>6.1f} ms {e2e:>5.0f} ms "
                f"{true_e2e:>7.0f} {tpot:>6.2f} ms {tokens:>7} {len(results) - len(ok):>6}"
            )
    print(
        "\n'truth' is the server's own log of when it sent the first and last token. TTFT counts the first "
        "token of any kind (reasoning included); TTFO the first visible answer token.\n"
        "Next: `make test` runs the tests; `turnbench chat --base-url URL --model NAME` measures one turn "
        "against a server of your own."
    )


if __name__ == "__main__":
    main()
