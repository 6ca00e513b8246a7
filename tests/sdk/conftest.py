"""Shared fixtures: one real `busbar demo` per session, and the parameters every SDK module uses.

The binary comes from BUSBAR_BIN, else target/release/busbar (run.sh builds it;
CARGO_TARGET_DIR is honoured).
It is started with `demo --listen 127.0.0.1:0`; its log (stdout and stderr merged)
is read until the `busbar listening` line names the bound address. The log is kept
and its tail printed when a test fails.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest

from support import EGRESS

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 30

# Variables through which the SDKs would pick up a base URL, credentials or extra
# headers from the developer's shell; the suite must see only what it passes.
SDK_ENVIRONMENT_PREFIXES = (
    "OPENAI_",
    "ANTHROPIC_",
    "GOOGLE_",
    "GEMINI_",
    "CO_",
    "COHERE_",
    "AWS_",
    "BOTO_",
    "AZURE_",
    "CLOUD_ML_",
)

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
LISTEN_ADDR = re.compile(r"\baddr=(127\.0\.0\.1:\d+)")

for name in [n for n in os.environ if n.startswith(SDK_ENVIRONMENT_PREFIXES)]:
    del os.environ[name]
# Nor may boto3 read a profile, a region or credentials from the developer's files.
os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
# Loopback traffic must never go through a proxy from the environment.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


class Gateway:
    """A running `busbar demo`: its base URL and its log so far."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.log: collections.deque[str] = collections.deque(maxlen=2000)
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self.base_url: str | None = None
        self._reader = threading.Thread(target=self._read, name="busbar-log", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        # Keeps draining the pipe for the process's whole life so it never blocks on a full pipe.
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = ANSI_ESCAPE.sub("", raw.rstrip("\n"))
            with self._lock:
                self.log.append(line)
            if self.base_url is None and "busbar listening" in line:
                match = LISTEN_ADDR.search(line)
                if match:
                    self.base_url = f"http://{match.group(1)}"
                    self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float) -> str:
        self._ready.wait(timeout)
        if self.base_url is None:
            try:
                code: int | None = self.process.wait(1)
            except subprocess.TimeoutExpired:
                code = None
            why = f"exited with status {code}" if code is not None else f"not within {timeout:.0f} s"
            raise RuntimeError(
                f"busbar demo did not log `busbar listening addr=127.0.0.1:PORT` ({why}). Log:\n{self.tail()}"
            )
        return self.base_url

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        with self._lock:
            return "\n".join(list(self.log)[-lines:])

    def stop(self) -> int | None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._reader.join(SHUTDOWN_TIMEOUT_S)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


_gateway: Gateway | None = None


def busbar_binary() -> Path:
    configured = os.environ.get("BUSBAR_BIN")
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    binary = Path(configured) if configured else (REPO / target / "release" / "busbar")
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.exit(
            f"no busbar binary at {binary}: run tests/sdk/run.sh, or build with "
            "`cargo build --release --bin busbar`, or set BUSBAR_BIN",
            returncode=2,
        )
    return binary


@pytest.fixture(scope="session")
def gateway() -> Iterator[Gateway]:
    """The running `busbar demo` (one per session)."""
    global _gateway
    env = dict(os.environ, NO_COLOR="1", RUST_LOG=os.environ.get("RUST_LOG", "info"))
    process = subprocess.Popen(
        [str(busbar_binary()), "demo", "--listen", "127.0.0.1:0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env,
    )
    running = Gateway(process)
    _gateway = running
    try:
        running.wait_ready(STARTUP_TIMEOUT_S)
        yield running
    finally:
        code = running.stop()
    # The contract: on SIGTERM, drain in-flight requests and exit 0.
    assert code == 0, f"busbar demo exited with {code} after SIGTERM. Log:\n{running.tail()}"


@pytest.fixture(scope="session")
def base_url(gateway: Gateway) -> str:
    """The demo's base URL, `http://127.0.0.1:PORT` (no trailing slash, no `/v1`)."""
    assert gateway.base_url is not None
    return gateway.base_url


@pytest.fixture(params=EGRESS)
def egress(request: pytest.FixtureRequest) -> str:
    """Each demo model backed by one mock upstream protocol."""
    return request.param


@pytest.fixture(params=[False, True], ids=["whole", "stream"])
def stream(request: pytest.FixtureRequest) -> bool:
    """Whether the request streams."""
    return request.param


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Attaches the tail of the demo's log to a failed test's report. The report, unlike
    the terminal, reaches the main process from a pytest-xdist worker."""
    report = yield
    if report.failed and _gateway is not None:
        report.sections.append(("busbar demo log (tail)", _gateway.tail()))
    return report
