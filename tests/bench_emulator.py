"""`make bench-emulator`: how late the emulator sends tokens against its own schedule, by load.

The emulator (fast profile: a 20 ms step, so 20 ms between tokens) runs pinned to one core; this
process drives it from the other with N concurrent streams of 64 tokens each and then reads the
emulator's own lateness histogram (send time minus the step's scheduled end). It prints p50, p99
and max per N, and the largest N whose p99 stays within 5 ms: the load up to which the emulator's
timing is its model and not its own CPU.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import urllib.request  # noqa: E402

import locust  # noqa: E402, F401
from gevent.pool import Group  # noqa: E402

from deploy.emulator.process import running_emulator  # noqa: E402
from harness.client.chat_client import ChatClient  # noqa: E402
from harness.client.request import ChatRequest, user_message  # noqa: E402

P99_LIMIT_MS = 5.0


def stats(url: str, reset: bool = False) -> dict:
    with urllib.request.urlopen(f"{url}/emulator/stats{'?reset=1' if reset else ''}", timeout=10) as response:
        return json.load(response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="vllm", choices=("vllm", "sglang"))
    parser.add_argument("--streams", default="64,128,256,384,512,768,1024")
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    server_core = cores[0]
    if len(cores) > 1:
        os.sched_setaffinity(0, set(cores[1:]))  # the client stays off the emulator's core
    print(f"{args.engine} emulator, fast profile, pinned to core {server_core}; {args.tokens} tokens per stream")
    print(f"{'streams':>7} {'tokens':>7} {'late p50':>9} {'p99':>8} {'max':>8}")
    holding = 0
    with running_emulator(args.engine, "--profile", "fast", "--model", "m", cpu=server_core) as url:
        for n in (int(s) for s in args.streams.split(",")):
            client = ChatClient.standalone(url, concurrency=n)
            group, requests = Group(), [ChatRequest("m", [user_message(f"stream {i}")], 1) for i in range(n)]
            group.map(client.send, requests)  # open the connections
            stats(url, reset=True)
            full = [ChatRequest("m", [user_message(f"stream {i}")], args.tokens, ignore_eos=True) for i in range(n)]
            results = group.map(client.send, full)
            late = stats(url)["lateness"]
            failed = sum(not r.ok for r in results)
            print(
                f"{n:>7} {int(late['tokens']):>7} {late['p50_ms']:>6.2f} ms {late['p99_ms']:>5.2f} ms "
                f"{late['max_ms']:>5.1f} ms" + (f"  ({failed} failed turns)" if failed else ""),
                flush=True,
            )
            if late["p99_ms"] <= P99_LIMIT_MS and not failed:
                holding = max(holding, n)
    print(f"\nlargest stream count with token lateness p99 <= {P99_LIMIT_MS:g} ms: {holding or 'none tried'}")


if __name__ == "__main__":
    main()
