"""A real LNbits for the tests: its own virtual environment (.venv-lnbits from requirements/lnbits.txt, which
`make install` builds; built here only when missing), FakeWallet as the funding source, a fresh data folder each
run, loopback only, and nothing switched on that reaches the internet. LNbits never goes into the project's own
environment, and never writes into the repository (its data folder defaults to ./data of its working directory).

`python -m tests.sources.lnbits_server` builds the environment (what `make install` runs)."""

import fcntl
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import REPO, free_port

REQUIREMENTS = REPO / "requirements" / "lnbits.txt"
LNBITS_VERSION = re.search(r"^lnbits==(\S+)", REQUIREMENTS.read_text(), re.MULTILINE)[1]
SUPPORTED_PYTHONS = ((3, 10), (3, 11), (3, 12))
VENV_DIR = REPO / ".venv-lnbits"
# A copy of the requirements it was built from, written last: a build that stopped half-way, or older
# requirements, are rebuilt. Make's target for the environment is this file too.
INSTALLED_REQUIREMENTS = VENV_DIR / "requirements.txt"
INSTALL_LOG = VENV_DIR.with_name(".venv-lnbits-install.log")
INSTALL_TIMEOUT_S = 900
PROBE_TIMEOUT_S = 120
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15
LOG_TAIL_CHARS = 3000
# The vars a developer's shell may hold that LNbits would read (it reads HOST, PORT, DEBUG, SUPER_USER, ... too),
# so the server gets only these from ours.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")

Progress = Callable[[str], None]


class LnbitsUnavailable(Exception):
    """LNbits could not be installed or started here; the message says why and shows the log's tail."""


@dataclass(frozen=True)
class LnbitsWallet:
    id: str
    name: str
    adminkey: str
    inkey: str


def _tail(path: Path) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return f"\n--- last lines of {path} ---\n{text[-LOG_TAIL_CHARS:]}"


@contextmanager
def _install_lock() -> Iterator[None]:
    """Two test runs at once must not build the same environment over each other."""
    with VENV_DIR.with_name(".venv-lnbits.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _venv_works() -> bool:
    python = VENV_DIR / "bin" / "python"
    built_from = INSTALLED_REQUIREMENTS.read_text() if INSTALLED_REQUIREMENTS.exists() else ""
    if not python.exists() or built_from != REQUIREMENTS.read_text():
        return False
    probe = "import importlib.metadata as m, lnbits.server; print(m.version('lnbits'))"
    # Importing lnbits.settings writes <data folder>/.lnbits_auth_key, ./data by default: run it in a scratch
    # folder, never in the repository, whose ./data is Daznode's runtime data.
    with tempfile.TemporaryDirectory(prefix="daznode-lnbits-probe-") as scratch:
        env = {key: os.environ[key] for key in INHERITED if key in os.environ}
        try:
            result = subprocess.run(
                [python, "-c", probe],
                cwd=scratch,
                env={**env, "LNBITS_DATA_FOLDER": str(Path(scratch, "data"))},
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
    return result.returncode == 0 and result.stdout.strip() == LNBITS_VERSION


def _base_python() -> str:
    if sys.version_info[:2] in SUPPORTED_PYTHONS:
        return sys.executable
    for major, minor in reversed(SUPPORTED_PYTHONS):
        found = shutil.which(f"python{major}.{minor}")
        if found:
            return found
    raise LnbitsUnavailable(f"LNbits {LNBITS_VERSION} needs Python 3.10 to 3.12 and none is installed")


def _run_logged(command: list[str], log) -> None:
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    try:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise LnbitsUnavailable(f"{command[2]} took over {INSTALL_TIMEOUT_S}s{_tail(INSTALL_LOG)}") from None
    if result.returncode != 0:
        shown = " ".join([Path(command[0]).name, *command[1:4]])
        raise LnbitsUnavailable(f"`{shown}` exited {result.returncode}{_tail(INSTALL_LOG)}")


def _install(progress: Progress) -> None:
    progress(f"LNbits {LNBITS_VERSION}: building {VENV_DIR} (a minute or two; pip's output goes to {INSTALL_LOG})")
    started = time.monotonic()
    shutil.rmtree(VENV_DIR, ignore_errors=True)
    with INSTALL_LOG.open("w") as log:
        _run_logged([_base_python(), "-m", "venv", str(VENV_DIR)], log)
        progress(f"LNbits {LNBITS_VERSION}: pip install -r {REQUIREMENTS.relative_to(REPO)}")
        _run_logged([str(VENV_DIR / "bin" / "python"), "-m", "pip", "install", "-r", str(REQUIREMENTS)], log)
    shutil.copyfile(REQUIREMENTS, INSTALLED_REQUIREMENTS)
    progress(f"LNbits {LNBITS_VERSION}: installed in {time.monotonic() - started:.0f}s")


def ensure_lnbits_venv(progress: Progress) -> Path:
    """The environment `make install` built, built here first if it is missing, broken or out of date."""
    with _install_lock():
        if not _venv_works():
            _install(progress)
            if not _venv_works():
                raise LnbitsUnavailable(f"installed, but `import lnbits` still fails{_tail(INSTALL_LOG)}")
    return VENV_DIR


def _site_packages(venv: Path) -> Path:
    """LNbits serves lnbits/static relative to its working directory, so it runs from where it is installed."""
    for static in venv.glob("lib/python3.*/site-packages/lnbits/static"):
        return static.parent.parent
    raise LnbitsUnavailable(f"no lnbits/static folder under {venv}")


def _server_env(workdir: Path) -> dict[str, str]:
    env = {key: os.environ[key] for key in INHERITED if key in os.environ}
    env.update(
        LNBITS_BACKEND_WALLET_CLASS="FakeWallet",
        LNBITS_DATA_FOLDER=str(workdir / "data"),
        LNBITS_EXTENSIONS_PATH=str(workdir),  # its default writes into site-packages
        ENABLE_LOG_TO_FILE="false",
        # Nothing that fetches from the internet: extension manifests, exchange rates.
        LNBITS_EXTENSIONS_DEACTIVATE_ALL="true",
        LNBITS_EXTENSIONS_MANIFESTS="[]",
        LNBITS_WASM_EXTENSIONS_MANIFESTS="[]",
        LNBITS_PRICE_AGGREGATOR_ENABLED="false",
        LNBITS_EXCHANGE_RATE_PROVIDERS="[]",
        # Every request of the suite comes from one address; LNbits' default is 200 a minute.
        LNBITS_RATE_LIMIT_NO="100000",
        PYTHONUNBUFFERED="1",
    )
    return env


class LnbitsServer:
    """A running LNbits. Its super user (made by the first-install step) tops wallets up, as an operator would."""

    def __init__(self, *, url: str, process: subprocess.Popen, workdir: Path, log_path: Path):
        self.url, self.process, self.workdir, self.log_path = url, process, workdir, log_path
        self.http = httpx.Client(base_url=url, timeout=30)
        self.access_token = ""

    def _check(self, response: httpx.Response, what: str) -> dict:
        if response.status_code >= 400:
            raise LnbitsUnavailable(f"{what}: HTTP {response.status_code} {response.text[:300]}{_tail(self.log_path)}")
        return response.json()

    def claim_super_user(self) -> None:
        """LNbits answers every route with a redirect until its super user has a password."""
        password = secrets.token_urlsafe(16)
        body = {"username": "daznode", "password": password, "password_repeat": password}
        answer = self._check(self.http.put("/api/v1/auth/first_install", json=body), "first install")
        self.access_token = answer["access_token"]

    def create_wallet(self, name: str = "test", *, balance_sat: int = 0) -> LnbitsWallet:
        """A new account with one wallet, topped up by `balance_sat` when given."""
        answer = self._check(self.http.post("/api/v1/account", json={"name": name}), "create account")
        wallet = LnbitsWallet(id=answer["id"], name=answer["name"], adminkey=answer["adminkey"], inkey=answer["inkey"])
        if balance_sat:
            self.top_up(wallet, amount_sat=balance_sat)
        return wallet

    def top_up(self, wallet: LnbitsWallet, *, amount_sat: int) -> None:
        headers = {"Authorization": f"Bearer {self.access_token}"}
        body = {"id": wallet.id, "amount": amount_sat}
        self._check(self.http.put("/users/api/v1/balance", json=body, headers=headers), "top up")

    def answers(self) -> bool:
        try:
            self.http.get("/api/v1/health", timeout=2)
        except httpx.TransportError:
            return False
        return True

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LnbitsUnavailable(f"LNbits exited with code {self.process.returncode}{_tail(self.log_path)}")
            if self.answers():
                return
            time.sleep(0.3)
        raise LnbitsUnavailable(f"LNbits did not answer within {START_TIMEOUT_S}s{_tail(self.log_path)}")

    def stop(self) -> None:
        """LNbits runs its web server in a child process, so the whole process group it was started in goes."""
        self.http.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the child, if it outlived its parent
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_lnbits(venv: Path, *, progress: Progress) -> LnbitsServer:
    workdir = Path(tempfile.mkdtemp(prefix="daznode-lnbits-"))
    port = free_port()
    log_path = workdir / "lnbits.log"
    progress(f"LNbits {LNBITS_VERSION}: starting on 127.0.0.1:{port} (log: {log_path})")
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(venv / "bin" / "lnbits"), "--host", "127.0.0.1", "--port", str(port)],
            cwd=_site_packages(venv),
            env=_server_env(workdir),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that stop() reaches the child it forks
        )
    server = LnbitsServer(url=f"http://127.0.0.1:{port}", process=process, workdir=workdir, log_path=log_path)
    try:
        server.wait_until_up()
        server.claim_super_user()
    except BaseException:
        server.stop()
        raise
    return server


if __name__ == "__main__":
    try:
        ensure_lnbits_venv(print)
    except LnbitsUnavailable as exc:
        sys.exit(f"LNbits {LNBITS_VERSION} could not be set up: {exc}")
