"""Fixtures for the end-to-end test: a JupyterLab server of our own and headless Chromium.

The server runs from the course's own environment (the Python running pytest), on 127.0.0.1 with
a random free port, a random token and ``port_retries=0`` (Jupyter would otherwise move silently
to another port), with every Jupyter/IPython/matplotlib directory in a temporary folder so nothing
is read from or written to ``$HOME``. It serves a temporary folder: the test copies a chapter
there, so running cells in the browser never touches the committed notebook. The server is its
own process; the fixture keeps its id and stops it when the session ends, whether tests passed
or not.

Chromium is Debian's (``scripts/install_browser.sh``), driven by the PyPI ``playwright`` package
through ``executable_path``; playwright's own browser download is never used. When either is
missing the tests are skipped with the reason, except under ``CI=true``, where they fail: CI
installs both, so a missing browser there is a broken CI, not a reason to pass.

Screenshots and the server log go to ``test-artifacts/browser/`` (or ``$COURSEKIT_ARTIFACTS/browser``);
the folder is printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from coursekit.workspace import LAB_FLAGS

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ENV = "COURSEKIT_CHROMIUM"
ARTIFACTS_ENV = "COURSEKIT_ARTIFACTS"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_HINT = f"run `bash scripts/install_browser.sh` (Debian's chromium) or set ${CHROMIUM_ENV}"
PLAYWRIGHT_HINT = "pip install -c requirements/constraints.txt -e '.[browser]'"
# Headless, as root in a container, with nothing talking to the network but 127.0.0.1:
# without the background-networking flags Chromium keeps trying to reach Google's services.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
    "--metrics-recording-only",
]
# JupyterLab settings a fresh user would have, less the two that contact the internet.
LAB_USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
SERVER_START_TIMEOUT = 120.0

_report_lines: list[str] = []


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _missing(reason: str):
    """Skip with ``reason`` on a learner's machine; fail under CI, which must install the browser."""
    if _in_ci():
        pytest.fail(f"CI=true but {reason}; .ci/run must install it", pytrace=False)
    pytest.skip(reason)


# -- where the screenshots go --------------------------------------------------------------------
@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``$COURSEKIT_ARTIFACTS/browser`` or ``test-artifacts/browser`` in the repository."""
    root = Path(os.environ.get(ARTIFACTS_ENV) or REPO / "test-artifacts")
    folder = (root / "browser").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    _report_lines.append(f"browser test artifacts (screenshots, server log): {folder}")
    return folder


def pytest_terminal_summary(terminalreporter) -> None:
    if _report_lines:
        terminalreporter.section("browser test")
        for line in _report_lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def report():
    """``report(line)`` adds a line to the ``browser test`` section printed at the end of the run."""
    return _report_lines.append


# -- the browser ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        _missing(f"no Chromium at {path}: {CHROMIUM_HINT}")
    return path


def _private_home(env: dict[str, str], home: Path) -> dict[str, str]:
    """Point HOME and the XDG folders at ``home``: nothing is read from or written to the real one."""
    for name, rel in {
        "HOME": ".",
        "XDG_CONFIG_HOME": ".config",
        "XDG_CACHE_HOME": ".cache",
        "XDG_DATA_HOME": ".local/share",
    }.items():
        (home / rel).mkdir(parents=True, exist_ok=True)
        env[name] = str((home / rel).resolve())
    return env


@pytest.fixture(scope="session")
def browser(chromium_executable, tmp_path_factory):
    """Headless Chromium with a fresh profile (playwright makes one per launch) and private HOME."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing(f"the playwright package is not installed: {PLAYWRIGHT_HINT}")
    env = _private_home(dict(os.environ), tmp_path_factory.mktemp("chromium-home"))
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS, env=env
        )
        try:
            yield chromium
        finally:
            chromium.close()


# -- the JupyterLab server -----------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class LabServer:
    """A running server: ``url`` (ends with ``/``), ``token``, the folder it serves, its process."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen
    log: Path

    def __repr__(self) -> str:
        return f"LabServer({self.url}, pid {self.process.pid})"

    def api(self, method: str, path: str, timeout: float = 10.0):
        """Call the server's REST API (``path`` like ``api/sessions``); returns the parsed JSON."""
        request = urllib.request.Request(
            self.url + path,
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method in {"POST", "PUT"} else None,
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut every session's kernel down (frees the chapter's memory between tests)."""
        for session in self.api("GET", "api/sessions"):
            self.api("DELETE", f"api/sessions/{session['id']}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(state: Path) -> dict[str, str]:
    """The environment of a fresh learner: every Jupyter/IPython/matplotlib folder under ``state``."""
    env = _private_home(dict(os.environ), state / "home")
    # Makefile's test run sets a non-interactive backend; a learner's kernel uses the inline one.
    env.pop("MPLBACKEND", None)
    folders = {
        "JUPYTER_CONFIG_DIR": "jupyter/config",
        "JUPYTER_DATA_DIR": "jupyter/data",
        "JUPYTER_RUNTIME_DIR": "jupyter/runtime",
        "JUPYTERLAB_SETTINGS_DIR": "jupyter/lab/user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "jupyter/lab/workspaces",
        "IPYTHONDIR": "ipython",
        "MPLCONFIGDIR": "matplotlib",
    }
    for name, rel in folders.items():
        (state / rel).mkdir(parents=True, exist_ok=True)
        env[name] = str(state / rel)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    # The kernel is this environment's python (jupyter_client maps "python" to sys.executable);
    # put its bin/ first anyway so nothing else on PATH is picked up.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for name, settings in LAB_USER_SETTINGS.items():
        file = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(settings), encoding="utf-8")
    return env


def _start_server(root: Path, state: Path, log: Path) -> LabServer:
    """Start ``jupyter lab`` on a random free port; raise with its log if it does not come up."""
    token = secrets.token_hex(24)
    port = _free_port()
    env = _server_env(state)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        "--ServerApp.allow_root=True",  # CI and the course's containers run as root
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",
        *LAB_FLAGS,  # what `make lab` passes: no news pop-up, no update check
    ]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink
        )
    info_file = Path(env["JUPYTER_RUNTIME_DIR"]) / f"jpserver-{process.pid}.json"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    server = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if server is None and info_file.is_file():
            try:
                info = json.loads(info_file.read_text(encoding="utf-8"))
            except json.JSONDecodeError:  # being written
                info = None
            if info:
                # The real URL, as the server wrote it; with port_retries=0 it is the port we chose.
                url = info["url"] if info["url"].endswith("/") else info["url"] + "/"
                server = LabServer(url, info["token"], root, process, log)
        if server is not None:
            try:
                server.api("GET", "api/status", timeout=5)
                return server
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.25)
    _stop_server(process)
    tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
    raise RuntimeError(
        f"JupyterLab did not start on 127.0.0.1:{port} within {SERVER_START_TIMEOUT:.0f} s "
        f"(exit code {process.returncode}); last lines of {log}:\n" + "\n".join(tail)
    )


def _stop_server(process: subprocess.Popen, server: LabServer | None = None) -> None:
    """Stop the server by its own process: ask it to shut down, then SIGTERM, then SIGKILL."""
    if process.poll() is None and server is not None:
        try:
            server.api("POST", "api/shutdown", timeout=5)  # also shuts its kernels down
            process.wait(timeout=20)
        except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
            pass
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture(scope="session")
def lab_server(browser, artifacts_dir, report):
    """A JupyterLab server serving an empty temporary folder; stopped at the end of the session."""
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        _missing(
            "jupyterlab is not installed (pip install -c requirements/constraints.txt -e '.[lab]')"
        )
    with tempfile.TemporaryDirectory(prefix="coursekit-lab-") as tmp:
        root, state = Path(tmp) / "notebooks", Path(tmp) / "state"
        root.mkdir()
        log = artifacts_dir / "jupyter-server.log"
        log.unlink(missing_ok=True)
        server = None
        for attempt in range(3):  # a free port can be taken between choosing and binding it
            try:
                server = _start_server(root, state, log)
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        report(f"JupyterLab server: {server.url} (pid {server.process.pid}), log {log}")
        try:
            yield server
        finally:
            _stop_server(server.process, server)
            shutil.rmtree(tmp, ignore_errors=True)
