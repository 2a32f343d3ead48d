"""A real EVM JSON-RPC node for tests that need one shared between processes: Hardhat Network
from the npm registry (installed into tests/chain/.hardhat/ on first use, at the exact version
below; `make hardhat` does the same ahead of time), listening on loopback only. Hardhat, not
Ganache: Ganache 7.9 accepts a second transaction with an already used nonce and executes
both, which no real node does and which the payout tests must see refused.

`GateProxy` stands between a process under test and the node: it forwards every JSON-RPC
request, and can hold the next `eth_sendRawTransaction` *before* forwarding it (the process
has signed and stored, not broadcast) or *after* the node accepted it (broadcast, not yet
recorded), so a test can SIGKILL that process at exactly that point, with no hook in the
code under test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HARDHAT_VERSION = "2.26.3"
HERE = Path(__file__).parent
HARDHAT_DIR = HERE / ".hardhat"
CHAIN_ID = 1337
CONFIG_JS = f"""// Written by tests/chain/node.py: the accounts come from the environment.
module.exports = {{
  networks: {{
    hardhat: {{
      chainId: {CHAIN_ID},
      accounts: JSON.parse(process.env.FORGE_TEST_ACCOUNTS || "[]"),
      mining: {{ auto: true }},
    }},
  }},
}};
"""


def hardhat_install() -> Path:
    package = HARDHAT_DIR / "node_modules" / "hardhat" / "package.json"
    if not package.exists() or json.loads(package.read_text())["version"] != HARDHAT_VERSION:
        HARDHAT_DIR.mkdir(exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(HARDHAT_DIR), f"hardhat@{HARDHAT_VERSION}"],
            check=True,
            capture_output=True,
            timeout=900,
        )
    config = HARDHAT_DIR / "hardhat.config.js"
    if not config.exists() or config.read_text() != CONFIG_JS:
        config.write_text(CONFIG_JS)
    return HARDHAT_DIR / "node_modules" / ".bin" / "hardhat"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rpc(url: str, method: str, params=None, timeout: float = 30):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return answer["result"]


class EvmNode:
    """One Hardhat node process; `accounts` are (private key hex, balance in wei), unlocked."""

    def __init__(self, accounts: list[tuple[str, int]]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.accounts = accounts
        self.process: subprocess.Popen | None = None

    def start(self) -> EvmNode:
        binary = hardhat_install()
        accounts = [{"privateKey": key, "balance": str(balance)} for key, balance in self.accounts]
        env = {
            **os.environ,
            "FORGE_TEST_ACCOUNTS": json.dumps(accounts),
            "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
            "CI": "true",
        }
        command = [str(binary), "node", "--hostname", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            command, cwd=HARDHAT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hardhat node exited: {self.process.stderr.read().decode()[:2000]}")
            try:
                rpc(self.url, "eth_blockNumber", timeout=2)
                return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("the hardhat node did not answer within 90 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            rpc(self.url, "evm_mine")

    def automine(self, on: bool) -> None:
        rpc(self.url, "evm_setAutomine", [on])


class GateProxy:
    """Forwards JSON-RPC to `upstream`; `hold("before" | "after")` arms a hold on the next
    eth_sendRawTransaction, `arrived` is set when it is held, `release()` lets it go (the
    answer goes nowhere if its caller was killed meanwhile)."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.mode: str | None = None
        self.arrived = threading.Event()
        self._released = threading.Event()
        self.held_raw: str | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    message = json.loads(body)
                except ValueError:
                    message = None
                mode = None
                if isinstance(message, dict) and message.get("method") == "eth_sendRawTransaction" and proxy.mode:
                    mode, proxy.mode = proxy.mode, None
                    proxy.held_raw = message["params"][0]
                if mode == "before":
                    proxy.arrived.set()
                    proxy._released.wait(120)
                    return  # never forwarded: the caller is dead by now
                request = urllib.request.Request(
                    proxy.upstream, data=body, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=60) as response:
                    answer = response.read()
                if mode == "after":
                    proxy.arrived.set()
                    proxy._released.wait(120)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> GateProxy:
        self.thread.start()
        return self

    def hold(self, mode: str) -> None:
        assert mode in ("before", "after")
        self.arrived.clear()
        self._released.clear()
        self.mode = mode

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
