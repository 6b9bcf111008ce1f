"""deploy/schedules/: the ready-made nightly schedules are valid for their schedulers and run one command.

Each schedule is checked the way its scheduler would read it (cron's five fields, systemd's INI and
`systemd-analyze verify` when present, YAML for GitHub Actions and Kubernetes), and all of them must
run the same `turnbench run --config deploy/schedules/nightly.toml`, then the trend gate. Nothing
here contacts anything but 127.0.0.1.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = ROOT / "deploy" / "schedules"
CONFIG = "deploy/schedules/nightly.toml"
RUN = f"turnbench run --config {CONFIG}"
TREND = "turnbench report --trend runs --gate"
FILES = ("nightly.toml", "turnbench.cron", "turnbench-nightly.service", "turnbench-nightly.timer",
         "github-actions.yml", "k8s-cronjob.yaml")  # fmt: skip
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$")

# ---- a small cron validator: five fields, each a list of *, N, N-M, with an optional /STEP ----
MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),  # 0 and 7 are both Sunday
)


def cron_errors(schedule: str) -> list[str]:
    """What is wrong with a five-field cron schedule (empty when cron would accept it)."""
    fields = schedule.split()
    if len(fields) != len(CRON_FIELDS):
        return [f"expected {len(CRON_FIELDS)} fields, got {len(fields)}"]
    errors = []
    for text, (name, low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        for item in text.split(","):
            if not _cron_item_ok(item, low, high, names):
                errors.append(f"{name}: {item!r} is not in {low}-{high}")
    return errors


def _cron_item_ok(item: str, low: int, high: int, names: dict[str, int]) -> bool:
    span, _, step = item.partition("/")
    if step and not (step.isdigit() and 0 < int(step) <= high):
        return False
    if span == "*":
        return True
    start, dash, end = span.partition("-")
    values = [start, end] if dash else [start]
    numbers = [names.get(v.lower(), int(v) if v.isdigit() else -1) for v in values]
    if any(not low <= n <= high for n in numbers):
        return False
    return not (dash and numbers[0] > numbers[1])


@pytest.mark.parametrize(
    ("schedule", "ok"),
    [
        ("30 2 * * *", True),
        ("*/15 0-6,22-23 1 jan-jun mon-fri", True),
        ("0 0 * * 7", True),
        ("60 2 * * *", False),
        ("30 24 * * *", False),
        ("30 2 0 * *", False),
        ("30 2 * 13 *", False),
        ("30 2 * * 8", False),
        ("30 2 * *", False),
        ("30 2 * * * *", False),
        ("5-1 * * * *", False),
        ("*/0 * * * *", False),
        ("x 2 * * *", False),
    ],
)
def test_the_cron_validator_knows_the_ranges(schedule: str, ok: bool) -> None:
    assert (cron_errors(schedule) == []) is ok


# ---- reading each schedule ----


def cron_entries() -> list[str]:
    """The crontab's job lines: not comments, blank lines or VAR=value settings."""
    lines = (SCHEDULES / "turnbench.cron").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#") and not _setting(line)]


def _setting(line: str) -> bool:
    return re.match(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=", line) is not None


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((SCHEDULES / name).read_text(), source=name)
    return parser


def workflow() -> dict[Any, Any]:
    return dict(yaml.safe_load((SCHEDULES / "github-actions.yml").read_text()))


def workflow_triggers(data: dict[Any, Any]) -> dict[str, Any]:
    # PyYAML reads YAML 1.1, where a bare `on` is the boolean true; GitHub reads it as the key "on".
    return dict(data.get("on", data.get(True)) or {})


def k8s_documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((SCHEDULES / "k8s-cronjob.yaml").read_text()) if doc]


def cronjob() -> dict[str, Any]:
    (job,) = [doc for doc in k8s_documents() if doc.get("kind") == "CronJob"]
    return job


def pod_spec() -> dict[str, Any]:
    return dict(cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def schedule_commands() -> dict[str, str]:
    """The shell command each scheduler runs, as it would hand it to /bin/sh."""
    exec_start = unit("turnbench-nightly.service")["Service"]["ExecStart"]
    match = re.fullmatch(r"/bin/sh -c '(.*)'", exec_start)
    assert match, f"ExecStart should be /bin/sh -c '...': {exec_start}"
    (container,) = pod_spec()["containers"]
    steps = [step["run"] for step in next(iter(workflow()["jobs"].values()))["steps"] if "run" in step]
    return {
        "cron": cron_entries()[0].split(None, 5)[5],
        "systemd": match.group(1),
        "github": " && ".join(steps),
        "k8s": " ".join(container["args"]),  # command is ["/bin/sh", "-c"] (checked below)
    }


# ---- the tests ----


@pytest.mark.parametrize("name", FILES)
def test_every_schedule_explains_itself_in_comments(name: str) -> None:
    lines = (SCHEDULES / name).read_text().splitlines()
    assert lines[0].startswith("#")
    assert sum(line.lstrip().startswith("#") for line in lines) >= 4


def test_the_crontab_runs_nightly_at_0230_and_logs_to_a_file() -> None:
    (entry,) = cron_entries()
    fields = entry.split(None, 5)
    assert len(fields) == 6, "five schedule fields and a command"
    schedule, command = " ".join(fields[:5]), fields[5]
    assert cron_errors(schedule) == []
    assert fields[:2] == ["30", "2"]
    assert command.startswith("cd /opt/turnbench && ")
    assert f".venv/bin/{RUN} && .venv/bin/{TREND}" in command
    assert re.search(r">> \S+\.log 2>&1$", command), "both commands' output appended to a log file"
    assert "%" not in command  # cron turns % into a newline


def test_the_systemd_service_is_a_oneshot_with_secrets_in_a_file() -> None:
    service = unit("turnbench-nightly.service")
    assert {"Unit", "Service"} <= set(service.sections())
    assert service["Unit"]["Description"]
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["WorkingDirectory"] == "/opt/turnbench"
    assert service["Service"]["EnvironmentFile"].lstrip("-").startswith("/etc/")
    assert "Environment" not in service["Service"], "secrets go in the EnvironmentFile, never inline"
    assert f".venv/bin/{RUN} && .venv/bin/{TREND}" in service["Service"]["ExecStart"]


def test_the_systemd_timer_starts_the_service_at_0230_and_catches_up() -> None:
    timer = unit("turnbench-nightly.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 02:30:00"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == "turnbench-nightly.service"
    assert timer["Install"]["WantedBy"] == "timers.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_both_units(tmp_path: Path) -> None:
    names = ("turnbench-nightly.service", "turnbench-nightly.timer")
    for name in names:  # side by side, as in /etc/systemd/system, so the timer finds its service
        shutil.copy(SCHEDULES / name, tmp_path / name)
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "turnbench-nightly" not in done.stderr, done.stderr  # no warning about our units


def test_the_github_workflow_runs_nightly_and_on_demand() -> None:
    data = workflow()
    triggers = workflow_triggers(data)
    assert cron_errors(triggers["schedule"][0]["cron"]) == []
    assert triggers["schedule"][0]["cron"] == "30 2 * * *"
    assert "workflow_dispatch" in triggers
    (job,) = data["jobs"].values()
    steps = job["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    (python,) = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
    assert str(python["with"]["python-version"]) == "3.11"
    runs = [step["run"] for step in steps if "run" in step]
    assert runs == ["python -m venv .venv && .venv/bin/pip install -e .", f".venv/bin/{RUN}", f".venv/bin/{TREND}"]
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["path"].rstrip("/") == "runs"
    assert upload["if"] == "always()", "the runs of a night that failed are the ones to look at"


def test_the_github_workflow_takes_secrets_only_from_the_secret_store() -> None:
    (job,) = workflow()["jobs"].values()
    secret_env = {name: value for name, value in job["env"].items() if SECRET_NAME.search(name)}
    assert "RUNPOD_API_KEY" in secret_env
    for name, value in secret_env.items():
        assert value == f"${{{{ secrets.{name} }}}}"


def test_the_k8s_cronjob_runs_a_master_and_two_workers_in_one_pod() -> None:
    job = cronjob()
    assert job["apiVersion"] == "batch/v1"
    assert cron_errors(job["spec"]["schedule"]) == []
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    spec = pod_spec()
    assert spec["restartPolicy"] == "Never"
    (container,) = spec["containers"]
    assert container["command"] == ["/bin/sh", "-c"]
    (script,) = container["args"]
    assert f".venv/bin/{RUN} --workers 2 && .venv/bin/{TREND}" == script
    resources = container["resources"]
    assert str(resources["requests"]["cpu"]) == str(resources["limits"]["cpu"]) == "2"
    assert resources["requests"]["memory"] and resources["limits"]["memory"]


def test_the_k8s_runs_survive_the_pod_on_a_claim_declared_alongside() -> None:
    (container,) = pod_spec()["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == f"{container['workingDir']}/runs"]
    (volume,) = [v for v in pod_spec()["volumes"] if v["name"] == mount["name"]]
    claims = {doc["metadata"]["name"] for doc in k8s_documents() if doc["kind"] == "PersistentVolumeClaim"}
    assert volume["persistentVolumeClaim"]["claimName"] in claims


def test_the_k8s_keys_come_from_a_secret() -> None:
    (container,) = pod_spec()["containers"]
    secret_env = [e for e in container["env"] if SECRET_NAME.search(e["name"])]
    assert secret_env
    for variable in secret_env:
        assert "value" not in variable
        assert variable["valueFrom"]["secretKeyRef"]["name"]


def test_every_schedule_runs_the_same_config_then_the_trend_gate() -> None:
    commands = schedule_commands()
    assert set(commands) == {"cron", "systemd", "github", "k8s"}
    for scheduler, command in commands.items():
        assert command.count("--config ") == 1, scheduler
        assert f"{RUN}" in command, scheduler
        assert command.index(RUN) < command.index(TREND), scheduler
        assert re.search(r"turnbench run [^&]*&& \.venv/bin/turnbench report", command), scheduler


@pytest.mark.parametrize("scheduler", ["cron", "systemd", "github", "k8s"])
def test_every_schedule_command_is_valid_shell(scheduler: str) -> None:
    command = schedule_commands()[scheduler]
    done = subprocess.run(["/bin/sh", "-n", "-c", command], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr


def test_the_config_has_the_documented_keys() -> None:
    config = tomllib.loads((ROOT / CONFIG).read_text())
    assert set(config) == {"run", "slo"}
    run, slo = config["run"], config["slo"]
    assert set(run) == {"host", "scenario", "users", "spawn_rate", "run_time", "out", "target_name", "processes"}
    assert set(slo) == {"ttft_p95_ms", "e2e_p95_ms", "tpot_p95_ms", "failure_rate", "per_turn"}
    assert run["out"] == "runs", "the schedules run `turnbench report --trend runs`"
    assert run["host"].startswith(("http://", "https://"))
    assert isinstance(run["users"], int) and isinstance(run["processes"], int)
    assert isinstance(run["spawn_rate"], float) and isinstance(run["run_time"], str)
    assert all(isinstance(slo[k], float) for k in ("ttft_p95_ms", "e2e_p95_ms", "tpot_p95_ms", "failure_rate"))
    assert isinstance(slo["per_turn"], bool)


def dry_run(*extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TURNBENCH_")}
    return subprocess.run(
        [sys.executable, "-m", "turnbench", "run", "--config", CONFIG, *extra, "--dry-run"],
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_dry_run_of_the_config_prints_the_locust_command() -> None:
    done = dry_run("--host", "http://127.0.0.1:9")
    assert done.returncode == 0, done.stderr
    assert "locust" in done.stdout
    assert "--host http://127.0.0.1:9 " in done.stdout, "the command line overrides the config's host"
    assert "--scenario shared-context" in done.stdout and "-u 50" in done.stdout


def test_a_dry_run_with_workers_as_the_k8s_pod_runs_it() -> None:
    done = dry_run("--host", "http://127.0.0.1:9", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert "locust" in done.stdout


def test_the_environment_overrides_the_configs_host_as_the_schedules_use_it() -> None:
    done = dry_run(env={"TURNBENCH_HOST": "http://127.0.0.1:9"})
    assert done.returncode == 0, done.stderr
    assert "--host http://127.0.0.1:9 " in done.stdout
