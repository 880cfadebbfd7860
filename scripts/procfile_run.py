#!/usr/bin/env python3
"""Run every process of a Procfile together and stop them all on Ctrl-C.

`make run` starts the web server, the Celery worker and Celery beat through this script.
It uses only the standard library, so it works before anything is installed, and it
reports the URL once the web server accepts connections.
Each line a process writes is shown with the process name in front of it. When one
process exits, the others are stopped too, so a crashed worker never leaves a
half-running demo behind.

Usage: procfile_run.py Procfile.dev [--url http://127.0.0.1:8000/]
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# Celery's warm shutdown lets a running task finish, and a triage cycle takes well under this.
STOP_GRACE_SECONDS = 15
READY_TIMEOUT_SECONDS = 60
POLL_SECONDS = 0.2
COLORS = ("36", "33", "35", "32", "34", "31")


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: str


def parse_procfile(text: str) -> list[ProcessSpec]:
    """Parse `name: command` lines; blank lines and lines starting with # are skipped."""
    specs = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, command = line.partition(":")
        if not separator or not name.strip() or not command.strip():
            raise ValueError(f"Procfile line {number} is invalid: expected 'name: command', got {raw!r}.")
        specs.append(ProcessSpec(name=name.strip(), command=command.strip()))
    if not specs:
        raise ValueError("The Procfile defines no process.")
    return specs


class ProcessGroup:
    """The running processes of one Procfile, with their output copied to ours."""

    def __init__(self, specs: list[ProcessSpec]) -> None:
        self.specs = specs
        self.processes: dict[str, subprocess.Popen] = {}
        self.width = max(len(spec.name) for spec in specs)
        self.colored = sys.stdout.isatty()
        self.output_lock = threading.Lock()
        self.output_closed = False
        self.readers: list[threading.Thread] = []

    def say(self, name: str, text: str, color: str = "1") -> None:
        label = name.ljust(self.width)
        if self.colored:
            label = f"\033[{color}m{label}\033[0m"
        with self.output_lock:
            if self.output_closed:
                return
            try:
                sys.stdout.write(f"{label} | {text}\n")
                sys.stdout.flush()
            except OSError:
                # Nothing reads our output any more, as with `make run | tee log` once Ctrl-C
                # has ended tee. The processes must still be stopped, so output is dropped.
                self.output_closed = True

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for index, spec in enumerate(self.specs):
            # `exec` makes the command replace the shell, so the signals sent below reach it.
            # A session of its own keeps the terminal's Ctrl-C away from the child, so this
            # script stops each one in order.
            process = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {spec.command}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
            self.processes[spec.name] = process
            color = COLORS[index % len(COLORS)]
            self.say(spec.name, f"started with pid {process.pid}: {spec.command}", color)
            reader = threading.Thread(target=self._copy_output, args=(spec.name, process, color), daemon=True)
            reader.start()
            self.readers.append(reader)

    def _copy_output(self, name: str, process: subprocess.Popen, color: str) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self.say(name, raw.decode("utf-8", errors="replace").rstrip("\n"), color)

    def first_exited(self) -> tuple[str, int] | None:
        for name, process in self.processes.items():
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop(self) -> None:
        """Send SIGTERM to every process still running, then SIGKILL what is left after the grace period."""
        for name, process in self.processes.items():
            if process.poll() is None:
                self.say(name, "stopping (SIGTERM)")
                process.send_signal(signal.SIGTERM)

        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(name, f"still running after {STOP_GRACE_SECONDS} s; killing its process group")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for reader in self.readers:
            reader.join(timeout=2)


def wait_until_listening(url: str, *, stop: threading.Event) -> bool:
    """Return True once a TCP connection to the URL's host and port succeeds."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not stop.is_set():
        try:
            with socket.create_connection((parts.hostname, port), timeout=1):
                return True
        except OSError:
            stop.wait(POLL_SECONDS)
    return False


def run(procfile: Path, *, url: str | None) -> int:
    group = ProcessGroup(parse_procfile(procfile.read_text(encoding="utf-8")))
    stop = threading.Event()
    signal_received: list[int] = []

    def request_stop(signum: int, _frame) -> None:
        signal_received.append(signum)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    exited = None
    try:
        group.start()
        if url:
            announcer = threading.Thread(target=_announce_url, args=(group, url, stop), daemon=True)
            announcer.start()

        while not stop.is_set():
            exited = group.first_exited()
            if exited:
                break
            stop.wait(POLL_SECONDS)

        if exited:
            name, code = exited
            group.say(name, f"exited with code {code}; stopping the other processes")
        else:
            group.say("run", f"received {signal.Signals(signal_received[0]).name}; stopping every process")
    finally:
        # Also reached on an unexpected error here, because the children run in sessions
        # of their own and would otherwise outlive this script.
        group.stop()

    if exited:
        return exited[1] or 1
    return 0


def _announce_url(group: ProcessGroup, url: str, stop: threading.Event) -> None:
    if wait_until_listening(url, stop=stop):
        group.say("run", f"Triage Desk is running at {url} (press Ctrl-C to stop every process)")
    elif not stop.is_set():
        group.say("run", f"Nothing answered at {url} within {READY_TIMEOUT_SECONDS} s; see the web process output above.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the processes of a Procfile until Ctrl-C.")
    parser.add_argument("procfile", type=Path, help="Procfile with one 'name: command' line per process.")
    parser.add_argument("--url", help="URL to print once its host and port accept connections.")
    options = parser.parse_args(argv)
    return run(options.procfile, url=options.url)


if __name__ == "__main__":
    sys.exit(main())
