"""Setup shared by the compare tests: emulators on 127.0.0.1 with scaled profiles, a targets file for them,
one bounded `turnbench compare` (or `turnbench cost`, `turnbench run`), and what it wrote."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.emulator.process import running_emulator
from deploy.emulator.profile import BUILTIN, load_profile
from deploy.local import EMULATOR_BILLING
from deploy.targets import Target, write_targets

ROOT = Path(__file__).resolve().parents[2]
BASE_PROFILE = BUILTIN / "h100x2-70b.toml"
STEP_COSTS = ("base_ms", "prefill_ms_per_token", "decode_ms_per_seq", "kv_ms_per_1k_tokens")
# Priced as the 2x H100 pod the profile emulates, as `deploy up --local` writes.
BILLING: dict[str, Any] = dict(EMULATOR_BILLING)
STOP_GRACE_S = 20.0  # after a timeout: SIGTERM lets the levels stop, then SIGKILL


def scaled_profile(folder: Path, factor: float, max_running: int | None = None) -> Path:
    """A copy of h100x2-70b with every step cost times `factor` (and, if given, another max_running)."""
    base = load_profile(BASE_PROFILE)
    text = BASE_PROFILE.read_text()
    changes = {key: getattr(base, key) * factor for key in STEP_COSTS}
    if max_running is not None:
        changes["max_running"] = max_running
    for key, value in changes.items():
        text, found = re.subn(rf"^{key} = .*$", f"{key} = {value!r}", text, count=1, flags=re.MULTILINE)
        assert found == 1, f"{BASE_PROFILE} has no line {key} = ..."
    suffix = f"-q{max_running}" if max_running is not None else ""
    path = folder / f"h100x2-70b-x{factor:g}{suffix}.toml"
    path.write_text(text)
    scaled = load_profile(path)
    for key, value in changes.items():
        assert getattr(scaled, key) == value, f"{path}: {key}"
    return path


@dataclass(frozen=True)
class Engine:
    """One emulated target of a test: its name in targets.toml, its profile, its faults; a vLLM emulator unless
    it says otherwise, and named in targets.toml as the engine it emulates unless `engine` says otherwise."""

    name: str
    profile: Path
    faults: str = ""  # `turnbench emulate --faults`, e.g. "http_5xx=0.2"
    emulates: str = "vllm"  # `turnbench emulate --engine`
    engine: str = ""  # targets.toml's engine, e.g. "openai" for a server turnbench can assume nothing of


@contextlib.contextmanager
def emulated_targets(folder: Path, engines: Sequence[Engine]) -> Iterator[Path]:
    """Start one emulator per engine (each its own process on 127.0.0.1) and yield a targets.toml naming them."""
    with contextlib.ExitStack() as stack:
        targets = []
        for engine in engines:
            faults = ("--faults", engine.faults) if engine.faults else ()
            url = stack.enter_context(running_emulator(engine.emulates, "--profile", str(engine.profile), *faults))
            targets.append(
                Target(engine.name, engine.engine or engine.emulates, url, "emulated", billing=dict(BILLING))
            )
        path = folder / "targets.toml"
        write_targets(path, targets)
        yield path


@dataclass(frozen=True)
class Compared:
    """What one `turnbench compare` wrote: OUT/<time>-compare/<target>/<run dirs> and OUT/<time>-compare/report/."""

    folder: Path
    stdout: str
    summary: dict[str, Any]
    seconds: float

    def run_dirs(self, target: str | None = None) -> list[Path]:
        """The runs (a search's levels or the fixed-load repeats), of one target or all, by start time."""
        pattern = f"{target}/*/run.json" if target else "*/*/run.json"
        return sorted((p.parent for p in self.folder.glob(pattern)), key=lambda d: run_info(d)["started_at"])

    def capacity(self, target: str) -> dict[str, Any]:
        capacity = self.summary["targets"][target]["capacity"]
        assert capacity is not None, f"{target}: no capacity in summary.json"
        return dict(capacity)

    def replicas(self, target: str) -> int | None:
        cost = self.summary["targets"][target]["cost_for_traffic"]
        assert cost is not None, f"{target}: no cost_for_traffic in summary.json"
        return cost["replicas"]


def run_info(run_dir: Path) -> dict[str, Any]:
    info: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    return info


def run_compare(targets: Path, out: Path, args: Sequence[str], locust_args: Sequence[str],
                timeout_s: float) -> Compared:  # fmt: skip
    """`turnbench compare --targets T --out OUT ARGS -- LOCUST_ARGS`, which must succeed within timeout_s."""
    began = time.monotonic()
    command = ["compare", "--targets", str(targets), "--out", str(out), *args, "--", *locust_args]
    result = turnbench(command, timeout_s)
    assert result.returncode == 0, f"compare failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    folders = sorted(out.glob("*-compare"))
    assert len(folders) == 1, f"expected one compare folder in {out}, found {folders}"
    report = folders[0] / "report"
    assert result.stdout.strip().splitlines()[-1] == f"report: {report / 'report.html'}"
    summary = json.loads((report / "summary.json").read_text())
    return Compared(folders[0], result.stdout, summary, time.monotonic() - began)


def turnbench(args: Sequence[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Run `python -m turnbench ARGS` in its own process group; past timeout_s it is stopped (and the test fails),
    so no level outlives the test."""
    command = [sys.executable, "-m", "turnbench", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        output = f"{stdout[-3000:]}{stderr[-3000:]}"
        raise AssertionError(f"`turnbench {args[0]}` took over {timeout_s:g}s:\n{output}") from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@dataclass(frozen=True)
class CostBlock:
    """One target's block of `turnbench cost`'s output: what it says the traffic needs."""

    replicas: int | None
    usd_per_month: str  # as printed, e.g. "$5,825.40"
    levels: tuple[tuple[int | None, bool], ...]  # (users of a ramp's step, or None; held), in printed order


_BLOCK = re.compile(r"^(\S+) \(\d+ levels? from \d+ runs?, \d+ held the SLO\)$")
_COST = re.compile(r"^  for [\d,]+ conversations/hour: ([\d,]+) pods?, \$[\d,.]+/hour, (\$[\d,.]+)/month, ")
_LEVEL = re.compile(r"^\s+[\d,]+(?: \((\d+) users\))?\s+(held|failed)\s")


def cost_blocks(text: str) -> dict[str, CostBlock]:
    """`turnbench cost`'s printed blocks, by target name."""
    blocks: dict[str, CostBlock] = {}
    name = None
    replicas: int | None = None
    month = ""
    levels: list[tuple[int | None, bool]] = []
    for line in [*text.splitlines(), ""]:
        if (block := _BLOCK.match(line)) is not None:
            name, replicas, month, levels = block.group(1), None, "", []
        elif name is not None and (level := _LEVEL.match(line)) is not None:
            levels.append((int(level.group(1)) if level.group(1) else None, level.group(2) == "held"))
        elif name is not None and (cost := _COST.match(line)) is not None:
            replicas, month = int(cost.group(1).replace(",", "")), cost.group(2)
        elif name is not None and not line:
            blocks[name] = CostBlock(replicas, month, tuple(levels))
            name = None
    return blocks
