"""The `make run` launcher starts every Procfile process and stops all of them together."""

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LAUNCHER = REPO_ROOT / "scripts" / "procfile_run.py"
# scripts/ is no package, so the launcher is loaded from its path.
_spec = importlib.util.spec_from_file_location("procfile_run", LAUNCHER)
procfile_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(procfile_run)
ProcessSpec, parse_procfile = procfile_run.ProcessSpec, procfile_run.parse_procfile

WAIT_SECONDS = 20
SLEEPER = f'{sys.executable} -c "import time; print(\'up\', flush=True); time.sleep(120)"'


def start_launcher(procfile: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(LAUNCHER), str(procfile), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def read_until(process: subprocess.Popen, text: str, *, times: int = 1) -> list[str]:
    """Read the launcher's output lines until `times` of them contain `text`; fail after WAIT_SECONDS."""
    lines = []
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if sum(text in seen for seen in lines) == times:
            return lines
    process.kill()
    pytest.fail(f"The launcher never printed {text!r}; its output was:\n" + "\n".join(lines))


@pytest.fixture
def leftover_pids() -> Iterator[list[int]]:
    """Collect child pids; any still running after the test are killed, so a failure leaks nothing."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if is_running(pid):
            os.kill(pid, signal.SIGKILL)


def child_pids(lines: list[str]) -> list[int]:
    return [int(line.split("started with pid ")[1].split(":")[0]) for line in lines if "started with pid " in line]


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited and only waits to be reaped, so it counts as stopped.
    status_file = Path(f"/proc/{pid}/status")
    return not (status_file.exists() and "State:\tZ" in status_file.read_text())


def test_parse_procfile_reads_names_and_commands():
    text = "# comment\n\nweb: python manage.py runserver 127.0.0.1:${PORT:-8000}\nworker:celery -A config worker\n"

    assert parse_procfile(text) == [
        ProcessSpec("web", "python manage.py runserver 127.0.0.1:${PORT:-8000}"),
        ProcessSpec("worker", "celery -A config worker"),
    ]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "web python manage.py\n", ": no name\n", "web:\n"])
def test_parse_procfile_rejects_invalid_files(text):
    with pytest.raises(ValueError):
        parse_procfile(text)


def test_repository_procfile_starts_web_worker_and_beat():
    specs = parse_procfile((REPO_ROOT / "Procfile.dev").read_text(encoding="utf-8"))

    assert [spec.name for spec in specs] == ["web", "worker", "beat"]
    assert "runserver" in specs[0].command
    assert "worker" in specs[1].command
    assert "beat" in specs[2].command


def test_launcher_stops_every_process_on_interrupt(tmp_path, leftover_pids):
    # given
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"one: {SLEEPER}\ntwo: {SLEEPER}\n")
    launcher = start_launcher(procfile)
    lines = read_until(launcher, "| up", times=2)
    pids = child_pids(lines)
    leftover_pids.extend(pids)

    # when: Ctrl-C in a terminal sends SIGINT
    launcher.send_signal(signal.SIGINT)
    output, _ = launcher.communicate(timeout=WAIT_SECONDS)

    # then
    assert launcher.returncode == 0
    assert "received SIGINT; stopping every process" in output
    assert len(pids) == 2
    assert not any(is_running(pid) for pid in pids)


def test_launcher_stops_processes_after_output_closed(tmp_path, leftover_pids):
    # given: output piped to a reader that goes away first, as `make run | tee` on Ctrl-C
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"one: {SLEEPER}\ntwo: {SLEEPER}\n")
    launcher = start_launcher(procfile)
    pids = child_pids(read_until(launcher, "| up", times=2))
    leftover_pids.extend(pids)
    launcher.stdout.close()

    # when
    launcher.send_signal(signal.SIGINT)
    launcher.wait(timeout=WAIT_SECONDS)

    # then
    assert launcher.returncode == 0
    assert len(pids) == 2
    assert not any(is_running(pid) for pid in pids)


def test_launcher_stops_others_when_one_exits(tmp_path, leftover_pids):
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"sleeper: {SLEEPER}\ncrasher: {sys.executable} -c \"import sys; sys.exit(3)\"\n")
    launcher = start_launcher(procfile)

    output, _ = launcher.communicate(timeout=WAIT_SECONDS)
    leftover_pids.extend(child_pids(output.splitlines()))

    assert launcher.returncode == 3
    assert "exited with code 3; stopping the other processes" in output
    assert not any(is_running(pid) for pid in child_pids(output.splitlines()))


def test_launcher_prints_url_once_port_accepts_connections(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = f"{sys.executable} -m http.server {port} --bind 127.0.0.1"
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"web: {server}\n")
    launcher = start_launcher(procfile, "--url", f"http://127.0.0.1:{port}/")

    try:
        lines = read_until(launcher, "Triage Desk is running at")
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.communicate(timeout=WAIT_SECONDS)

    assert f"Triage Desk is running at http://127.0.0.1:{port}/ (press Ctrl-C to stop every process)" in lines[-1]
