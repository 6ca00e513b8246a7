"""Drives real coding-agent CLIs (Claude Code, Codex CLI, Gemini CLI) through Busbar.

Every agent runs non-interactively, once with a plain prompt and once with a whole tool turn,
against two targets:

- `demo`: `busbar demo` on each of its six one-protocol models and on the pool `demo`;
- `mock`: `busbar` with a configuration this script writes, in front of `busbar-mock`, one model
  per egress protocol.

The mock answers by the rules in crates/busbar-testkit/src/behaviour.rs. Agents send many tools
on every request, so the prompts steer it with markers: `mock:no-tools` for the plain prompt (a
text echo of the prompt, which carries a fresh nonce the test looks for), and `mock:call=TOOL
{args}` for the tool turn, naming a harmless tool call whose output (a word the prompt does not
contain) must come back in the agent's final answer as `Tool result received: …`.

Nothing here reaches beyond 127.0.0.1: every agent gets a fresh HOME under a temporary
directory, dummy keys, every switch its vendor documents for telemetry, update checks and
auto-login turned off, and a working directory of its own with nothing in it worth harming.
run.sh also runs this script inside a network namespace with only a loopback interface, where
one is available.

    python3 agents.py --busbar BIN --mock BIN --agents-dir DIR [--jobs N] [--only SUBSTRING]...
    python3 agents.py --capture OUT_DIR [--busbar BIN --mock BIN]  # record what agents send

Prints one line per case and a closing `agents: N passed, N failed` line; exits 1 on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
STARTUP_TIMEOUT_S = 30.0
CASE_TIMEOUT_S = float(os.environ.get("BUSBAR_AGENTS_CASE_TIMEOUT_S", "60"))
# The whole suite must fit CI's budget even when every case hangs; cases not started by then
# fail as not run.
SUITE_DEADLINE_S = float(os.environ.get("BUSBAR_AGENTS_DEADLINE_S", "420"))
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
BUSBAR_ADDR = re.compile(r"\baddr=(127\.0\.0\.1:\d+)")
MOCK_ADDR = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")

PROTOCOLS = ["openai", "responses", "anthropic", "gemini", "cohere", "bedrock", "bedrock-invoke"]
DEMO_MODELS = [f"demo-{p}" for p in PROTOCOLS] + ["demo"]
MOCK_MODELS = [f"mock-{p}" for p in PROTOCOLS]

# The key Busbar presents to the mock, and the Bedrock key pair the mock checks SigV4 with.
MOCK_KEY = "sk-busbar-agents-mock"
MOCK_AWS_ID, MOCK_AWS_SECRET = "AKIDBUSBARAGENTS", "agents-secret"

# What a tool turn's command prints: upper case, so it cannot be an echo of the prompt.
TOOL_OUTPUT = "BUSBAR-TOOL-OK"
TOOL_COMMAND = "echo busbar-tool-ok | tr a-z A-Z"

# Variables through which an agent would pick up a base URL, a key, a proxy or an account from
# the caller's shell; each agent sees only what its case sets.
FOREIGN_PREFIXES = ("OPENAI_", "ANTHROPIC_", "CLAUDE_", "CODEX_", "GOOGLE_", "GEMINI_", "VERTEX",
                    "CLOUD_ML_", "AWS_", "NODE_OPTIONS", "NPM_CONFIG_", "XDG_")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                   "ALL_PROXY")

# Claude Code: no telemetry, error reports, update checks, surveys or other side traffic.
CLAUDE_QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1",
    "DISABLE_INSTALLATION_CHECKS": "1",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
    "CLAUDE_CODE_IDE_SKIP_AUTO_INSTALL": "1",
    "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
    "CLAUDE_CODE_DISABLE_AUTO_MEMORY": "1",
    # A failure must show at once, not after minutes of backoff. (Its fallback on a 400 that
    # names an unsupported feature is not a retry and still happens.)
    "CLAUDE_CODE_MAX_RETRIES": "0",
}

# Gemini CLI: no usage statistics, telemetry, update checks or IDE link; API-key auth only.
GEMINI_SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False,
                # One attempt: a failure must show at once, not after minutes of backoff.
                "maxAttempts": 1, "retryFetchErrors": False},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "ide": {"enabled": False},
}
GEMINI_QUIET = {
    "GEMINI_CLI_TRUST_WORKSPACE": "true",
    "GEMINI_TELEMETRY_ENABLED": "false",
    # Gemini CLI otherwise restarts itself in a second node process with a larger heap.
    "GEMINI_CLI_NO_RELAUNCH": "true",
}


def codex_config(base_url: str, model: str) -> str:
    """Codex's config.toml: one custom provider (Responses is the only wire API it speaks)."""
    return textwrap.dedent(f"""\
        model = "{model}"
        model_provider = "busbar"
        check_for_update_on_startup = false

        [model_providers.busbar]
        name = "Busbar"
        base_url = "{base_url}/v1"
        env_key = "BUSBAR_AGENT_KEY"
        wire_api = "responses"
        # One attempt each: a failure must show, not be retried into a timeout.
        request_max_retries = 0
        stream_max_retries = 0

        # The curated-plugin sync (git or HTTPS to GitHub at start-up) and the update machinery.
        [features]
        plugins = false
        remote_plugin = false
        plugin_sharing = false
        in_app_updates = false

        [analytics]
        enabled = false

        [feedback]
        enabled = false

        [otel]
        exporter = "none"
        trace_exporter = "none"
        metrics_exporter = "none"
        """)


@dataclass
class Case:
    agent: str
    target: str  # "demo" or "mock"
    model: str
    kind: str  # "plain" or "tool"

    @property
    def name(self) -> str:
        return f"{self.agent}/{self.target}/{self.model}/{self.kind}"


@dataclass
class Outcome:
    case: Case
    passed: bool
    seconds: float
    detail: str = ""
    log: str = field(default="", repr=False)


class Server:
    """A child process that prints its address on stdout; its output is kept for failures."""

    def __init__(self, name: str, argv: list[str], pattern: re.Pattern[str], env: dict[str, str]):
        self.name = name
        self.lines: list[str] = []
        self.address: str | None = None
        self._ready = threading.Event()
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, text=True, env=env,
                                        start_new_session=True)
        threading.Thread(target=self._read, args=(pattern,), daemon=True).start()

    def _read(self, pattern: re.Pattern[str]) -> None:
        # Keeps draining the pipe for the process's whole life so it never blocks on it.
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = ANSI_ESCAPE.sub("", raw.rstrip("\n"))
            self.lines.append(line)
            if self.address is None and (match := pattern.search(line)):
                self.address = match.group(1)
                self._ready.set()
        self._ready.set()

    def wait(self) -> str:
        self._ready.wait(STARTUP_TIMEOUT_S)
        if self.address is None:
            self.stop()
            tail = "\n".join(self.lines[-20:])
            raise RuntimeError(f"{self.name} did not start:\n{tail}")
        return self.address if self.address.startswith("http") else f"http://{self.address}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def clean_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(FOREIGN_PREFIXES) and k not in PROXY_VARIABLES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def start_demo(busbar: str) -> Server:
    server = Server("busbar demo", [busbar, "demo", "--listen", "127.0.0.1:0"], BUSBAR_ADDR,
                    clean_environment())
    server.wait()
    return server


def start_mock_gateway(busbar: str, mock: str, workdir: Path) -> tuple[Server, Server]:
    """`busbar-mock`, then `busbar` with one model per egress protocol in front of it."""
    mock_server = Server("busbar-mock", [mock, "--listen", "127.0.0.1:0", "--aws-credentials",
                                         f"{MOCK_AWS_ID}:{MOCK_AWS_SECRET}", "--api-key", MOCK_KEY],
                         MOCK_ADDR, clean_environment())
    upstream = mock_server.wait()
    providers = ["providers:"]
    config = ["listen: 127.0.0.1:0", "providers:"]
    models = ["models:"]
    for protocol in PROTOCOLS:
        # Each protocol under its own path prefix, as a real provider's base_url carries one.
        providers += [f"  mock-{protocol}:", f"    protocol: {protocol}",
                      f"    base_url: {upstream}/{protocol}", "    allow_private: true"]
        aws = protocol.startswith("bedrock")
        if aws:
            providers.append("    region: us-east-1")
        key_env = "BUSBAR_AGENTS_AWS_KEYS" if aws else "BUSBAR_AGENTS_MOCK_KEY"
        config.append(f"  mock-{protocol}: {{api_key_env: {key_env}}}")
        models.append(f"  mock-{protocol}: {{provider: mock-{protocol}, max_concurrent: 64}}")
    (workdir / "providers.yaml").write_text("\n".join(providers) + "\n")
    (workdir / "config.yaml").write_text("\n".join(config + models) + "\n")
    env = clean_environment()
    env["BUSBAR_AGENTS_MOCK_KEY"] = MOCK_KEY
    env["BUSBAR_AGENTS_AWS_KEYS"] = f"{MOCK_AWS_ID}:{MOCK_AWS_SECRET}"
    gateway = Server("busbar", [busbar, "--providers", str(workdir / "providers.yaml"),
                                "--config", str(workdir / "config.yaml")], BUSBAR_ADDR, env)
    try:
        gateway.wait()
    except RuntimeError:
        mock_server.stop()
        raise
    return mock_server, gateway


class Sandbox:
    """A fresh HOME and an empty working directory for one agent run."""

    def __init__(self, root: Path, case_name: str):
        self.home = Path(tempfile.mkdtemp(prefix=re.sub(r"\W+", "-", case_name) + "-", dir=root))
        self.work = self.home / "work"
        self.work.mkdir()

    def environment(self) -> dict[str, str]:
        env = clean_environment()
        env.update(HOME=str(self.home), TMPDIR=str(self.home / "tmp"), TERM="dumb",
                   NO_COLOR="1", CI="true")
        (self.home / "tmp").mkdir(exist_ok=True)
        return env


@dataclass
class Invocation:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    # Reads the agent's final answer from its stdout (or its output files).
    answer: Callable[[str], str]
    # Where the answer came from, for the failure detail.
    source: str


def claude_invocation(bin_dir: Path, box: Sandbox, base_url: str, model: str,
                      prompt: str, tool: bool) -> Invocation:
    env = box.environment()
    env.update(CLAUDE_QUIET)
    env.update(ANTHROPIC_BASE_URL=base_url, ANTHROPIC_API_KEY="sk-ant-busbar-agents-dummy")
    # Background and sub-agent calls go to the model under test too, never to a default name.
    for variable in ("ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL",
                     "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL",
                     "CLAUDE_CODE_SUBAGENT_MODEL"):
        env[variable] = model
    argv = [str(bin_dir / "claude"), "-p", prompt, "--output-format", "json", "--model", model,
            "--no-session-persistence", "--strict-mcp-config"]
    if tool:
        # Only the exact command the mock will ask for; any other call is refused.
        argv += ["--allowedTools", f"Bash({TOOL_COMMAND})"]

    def answer(stdout: str) -> str:
        result = json.loads(stdout)
        if result.get("is_error"):
            raise AssertionError(f"is_error: {result.get('result')!r}")
        return result.get("result") or ""

    return Invocation(argv, env, box.work, answer, "stdout JSON .result")


def claude_bedrock_invocation(bin_dir: Path, box: Sandbox, base_url: str, model: str,
                              prompt: str, tool: bool) -> Invocation:
    """Claude Code in its Bedrock mode: InvokeModelWithResponseStream at Busbar, the model
    name as the Bedrock model id, no SigV4 (Busbar's demo and gateway take unsigned calls)."""
    invocation = claude_invocation(bin_dir, box, base_url, model, prompt, tool)
    env = invocation.env
    for variable in ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"):
        env.pop(variable, None)
    env.update(CLAUDE_CODE_USE_BEDROCK="1", ANTHROPIC_BEDROCK_BASE_URL=base_url,
               AWS_REGION="us-east-1", CLAUDE_CODE_SKIP_BEDROCK_AUTH="1")
    return invocation


def codex_invocation(bin_dir: Path, box: Sandbox, base_url: str, model: str,
                     prompt: str, tool: bool) -> Invocation:
    env = box.environment()
    codex_home = box.home / ".codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(codex_config(base_url, model))
    env.update(CODEX_HOME=str(codex_home), BUSBAR_AGENT_KEY="sk-busbar-agents-dummy")
    last = box.home / "last-message.txt"
    # The read-only sandbox lets `echo` run and nothing write outside the temp dirs.
    argv = [str(bin_dir / "codex"), "exec", "--skip-git-repo-check", "--ephemeral",
            "--sandbox", "read-only", "--color", "never", "--output-last-message", str(last),
            prompt]

    def answer(_stdout: str) -> str:
        return last.read_text() if last.exists() else ""

    return Invocation(argv, env, box.work, answer, "--output-last-message file")


def gemini_invocation(bin_dir: Path, box: Sandbox, base_url: str, model: str,
                      prompt: str, tool: bool) -> Invocation:
    env = box.environment()
    (box.home / ".gemini").mkdir()
    (box.home / ".gemini" / "settings.json").write_text(json.dumps(GEMINI_SETTINGS, indent=2))
    env.update(GEMINI_QUIET)
    env.update(GOOGLE_GEMINI_BASE_URL=base_url, GEMINI_API_KEY="busbar-agents-dummy-key")
    argv = [str(bin_dir / "gemini"), "-p", prompt, "-m", model, "--output-format", "json"]

    def answer(stdout: str) -> str:
        # Warnings may precede the JSON document on stdout.
        result = json.loads(stdout[stdout.index("{"):])
        if result.get("error"):
            raise AssertionError(f"error: {result['error']}")
        return result.get("response") or ""

    return Invocation(argv, env, box.work, answer, "stdout JSON .response")


def claude_vertex_invocation(bin_dir: Path, box: Sandbox, base_url: str, model: str,
                             prompt: str, tool: bool) -> Invocation:
    """Claude Code in its Vertex AI mode (`CLAUDE_CODE_USE_VERTEX=1`): Messages bodies posted to
    `/v1/projects/P/locations/L/publishers/anthropic/models/M:streamRawPredict`, Google's own
    authentication skipped and the Busbar key sent as a bearer token instead."""
    invocation = claude_invocation(bin_dir, box, base_url, model, prompt, tool)
    for variable in ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"):
        invocation.env.pop(variable, None)
    invocation.env.update(
        CLAUDE_CODE_USE_VERTEX="1",
        ANTHROPIC_VERTEX_BASE_URL=f"{base_url}/v1",
        ANTHROPIC_VERTEX_PROJECT_ID="busbar-agents",
        CLOUD_ML_REGION="us-east5",
        CLAUDE_CODE_SKIP_VERTEX_AUTH="1",
        ANTHROPIC_CUSTOM_HEADERS="Authorization: Bearer sk-busbar-agents-dummy",
    )
    return invocation


AGENTS = {"claude": claude_invocation, "claude-vertex": claude_vertex_invocation,
          "claude-bedrock": claude_bedrock_invocation,
          "codex": codex_invocation, "gemini": gemini_invocation}


def tool_prompt(agent: str, box: Sandbox) -> tuple[str, str]:
    """The tool-turn prompt for `agent` and the text its final answer must hold."""
    if agent.startswith("claude"):
        call = {"command": TOOL_COMMAND, "description": "Print the Busbar marker"}
        return f"Run the marker command. mock:call=Bash {json.dumps(call)}", TOOL_OUTPUT
    if agent == "codex":
        call = {"cmd": TOOL_COMMAND}
        return f"Run the marker command. mock:call=exec_command {json.dumps(call)}", TOOL_OUTPUT
    # Gemini CLI offers no shell in a headless run by default; it reads a file instead, one
    # whose content (not its name) is the marker.
    token = f"BUSBAR-FILE-{secrets.token_hex(4).upper()}"
    note = box.work / "note.txt"
    note.write_text(token + "\n")
    call = {"file_path": str(note)}
    return f"Read the note. mock:call=read_file {json.dumps(call)}", token


def run_agent(invocation: Invocation) -> tuple[str, str, int | None]:
    """Runs the agent in a process group of its own: stdout, stderr and the exit code, or None
    after a time-out, when the whole group (tool subprocesses too) is killed so no grandchild
    keeps the pipes open."""
    process = subprocess.Popen(invocation.argv, env=invocation.env, cwd=invocation.cwd,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=CASE_TIMEOUT_S)
        return stdout, stderr, process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return stdout, f"{stderr}\n[timed out after {CASE_TIMEOUT_S:.0f} s]", None


def run_case(case: Case, base_url: str, bin_dir: Path, scratch: Path) -> Outcome:
    started = time.monotonic()
    box = Sandbox(scratch, case.name)
    if case.kind == "plain":
        nonce = f"busbar-plain-{secrets.token_hex(4)}"
        prompt, expected = f"Say hello, {nonce}. mock:no-tools", nonce
    else:
        prompt, expected = tool_prompt(case.agent, box)
    invocation = AGENTS[case.agent](bin_dir, box, base_url, case.model, prompt,
                                    case.kind == "tool")
    stdout, stderr, code = run_agent(invocation)
    log = f"$ {' '.join(invocation.argv)}\n[exit {code}]\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    seconds = time.monotonic() - started
    try:
        answer = invocation.answer(stdout)
    except (ValueError, AssertionError, OSError) as error:
        return Outcome(case, False, seconds, f"exit {code}; no answer ({error})"[:300], log)
    wanted = [expected] if case.kind == "plain" else ["Tool result received", expected]
    missing = [w for w in wanted if w not in answer]
    if code != 0 or missing:
        detail = f"exit {code}; {invocation.source} lacks {missing}: {answer[:160]!r}"
        return Outcome(case, False, seconds, detail, log)
    shutil.rmtree(box.home, ignore_errors=True)
    return Outcome(case, True, seconds, answer.strip().splitlines()[0][:80] if answer else "", log)


def cases_for(agents: list[str], only: list[str]) -> list[Case]:
    cases = [Case(agent, target, model, kind)
             for agent in agents
             for target, models in (("demo", DEMO_MODELS), ("mock", MOCK_MODELS))
             for model in models
             for kind in ("plain", "tool")]
    return [c for c in cases if all(o in c.name for o in only)]


def run_suite(args: argparse.Namespace) -> int:
    bin_dir = Path(args.agents_dir) / "node_modules" / ".bin"
    cases = cases_for(args.agent or list(AGENTS), args.only)
    if not cases:
        print("agents: no case matches", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="busbar-agents-"))
    shutil.rmtree(args.logs, ignore_errors=True)
    servers: list[Server] = []
    try:
        bases = {}
        if any(c.target == "demo" for c in cases):
            demo = start_demo(args.busbar)
            servers.append(demo)
            bases["demo"] = demo.wait()
        if any(c.target == "mock" for c in cases):
            mock, gateway = start_mock_gateway(args.busbar, args.mock, scratch)
            servers += [mock, gateway]
            bases["mock"] = gateway.wait()
        print(f"agents: {len(cases)} cases, {args.jobs} at a time; demo {bases.get('demo', '-')}, "
              f"gateway {bases.get('mock', '-')} in front of busbar-mock", flush=True)
        outcomes: list[Outcome] = []
        lock = threading.Lock()

        deadline = time.monotonic() + SUITE_DEADLINE_S

        def one(case: Case) -> Outcome:
            if time.monotonic() > deadline:
                outcome = Outcome(case, False, 0.0, f"not run: the suite's {SUITE_DEADLINE_S:.0f} s "
                                  "deadline passed (BUSBAR_AGENTS_DEADLINE_S)")
            else:
                outcome = run_case(case, bases[case.target], bin_dir, scratch)
            with lock:
                mark = "PASS" if outcome.passed else "FAIL"
                print(f"  {mark}  {case.name:<42} {outcome.seconds:5.1f}s  {outcome.detail}",
                      flush=True)
            return outcome

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            outcomes = list(pool.map(one, cases))
    finally:
        for server in reversed(servers):
            server.stop()

    print_table(outcomes)
    failed = [o for o in outcomes if not o.passed]
    if failed:
        logs = Path(args.logs)
        logs.mkdir(parents=True, exist_ok=True)
        for outcome in failed:
            name = outcome.case.name.replace("/", "__") + ".log"
            (logs / name).write_text(outcome.log)
        for server in servers:
            (logs / f"{server.name.replace(' ', '-')}.log").write_text("\n".join(server.lines))
        print(f"agents: logs of the failed cases and the servers are in {logs}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    passed = len(outcomes) - len(failed)
    print(f"agents: {passed} passed, {len(failed)} failed")
    return 1 if failed else 0


def print_table(outcomes: list[Outcome]) -> None:
    """Agent × target × model, one column per prompt kind."""
    by_row: dict[tuple[str, str, str], dict[str, str]] = {}
    for o in outcomes:
        row = by_row.setdefault((o.case.agent, o.case.target, o.case.model), {})
        row[o.case.kind] = "PASS" if o.passed else "FAIL"
    print()
    print(f"{'agent':<16}{'target':<8}{'model':<21}{'plain':<7}{'tool':<7}")
    for (agent, target, model), row in by_row.items():
        print(f"{agent:<16}{target:<8}{model:<21}{row.get('plain', '-'):<7}{row.get('tool', '-'):<7}")
    print()


def capture(args: argparse.Namespace) -> int:
    """Records what each agent sends, into two folders of `--capture DIR`.

    `first-request/`: the agent pointed at capture.py, which answers 400 (Claude Code then retries
    with fewer features, so it leaves several). `tool-turn/` (with --busbar and --mock): the
    agent's whole tool turn through capture.py relaying to busbar in front of the mock, on the
    agent's own protocol, so the request that carries the tool result is recorded too.
    """
    bin_dir = Path(args.agents_dir) / "node_modules" / ".bin"
    out = Path(args.capture)
    scratch = Path(tempfile.mkdtemp(prefix="busbar-agents-capture-"))
    natives = {"claude": "anthropic", "codex": "responses", "gemini": "gemini"}
    servers: list[Server] = []
    status = 0
    try:
        gateway_base = None
        if args.busbar and args.mock:
            mock, gateway = start_mock_gateway(args.busbar, args.mock, scratch)
            servers += [mock, gateway]
            gateway_base = gateway.wait()
        for agent, protocol in natives.items():
            runs = [("first-request", f"demo-{protocol}", "plain", [])]
            if gateway_base:
                runs.append(("tool-turn", f"mock-{protocol}", "tool", ["--forward", gateway_base]))
            for folder, model, kind, extra in runs:
                server = Server("capture", [sys.executable, str(HERE / "capture.py"), "--out",
                                            str(out / folder), "--prefix", agent, *extra],
                                re.compile(r"listening on (http://127\.0\.0\.1:\d+)"),
                                clean_environment())
                try:
                    outcome = run_case(Case(agent, "capture", model, kind), server.wait(),
                                       bin_dir, scratch)
                finally:
                    server.stop()
                if kind == "tool" and not outcome.passed:
                    status = 1
                    print(f"capture: {agent} tool turn failed: {outcome.detail}")
                names = sorted(p.name for p in (out / folder).glob(agent + "-*"))
                print(f"capture: {folder}/{agent}: {', '.join(names)}")
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents-dir", default=str(HERE))
    parser.add_argument("--busbar")
    parser.add_argument("--mock")
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--agent", action="append", choices=list(AGENTS))
    parser.add_argument("--only", action="append", default=[],
                        help="keep cases whose name (agent/target/model/kind) holds this")
    parser.add_argument("--logs", default=str(HERE / "logs"))
    parser.add_argument("--capture", help="record each agent's first request into this directory")
    args = parser.parse_args()
    if args.capture:
        return capture(args)
    if not args.busbar or not args.mock:
        parser.error("--busbar and --mock are required")
    return run_suite(args)


if __name__ == "__main__":
    sys.exit(main())
