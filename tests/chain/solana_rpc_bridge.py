"""A Solana JSON-RPC endpoint over the LiteSVM cluster (tests/chain/solana_svm.py), for a payout
run in *another process*: the production `PayoutRpc` speaks HTTP to it, and every answer comes
from the real runtime in the test's process (blockhash, block height, balances, mints, signature
statuses, transactions; `sendTransaction` executes the bytes).

`hold(moment)` plays the instant of a crash: the first `sendTransaction` is kept ("before": the
bytes never reach the runtime; "after": the runtime executes them) and never answered, so the
test can SIGKILL the process at exactly that point.
"""

from __future__ import annotations

import base64
import json
import threading

from solders.pubkey import Pubkey

from tests.fake_http import RecordingHandler, serving

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    number, out = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        out = ALPHABET[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


class RpcBridge:
    def __init__(self, cluster):
        self.cluster = cluster
        self.moment: str | None = None
        self.arrived = threading.Event()
        self.released = threading.Event()
        self.held_raw: bytes | None = None
        self.lock = threading.Lock()  # one call into the runtime at a time

    def hold(self, moment: str) -> None:
        self.moment = moment

    def answer(self, body: dict) -> dict | None:
        method, params = body["method"], body.get("params", [])
        if method == "sendTransaction" and self.moment and not self.arrived.is_set():
            raw = base64.b64decode(params[0])
            self.held_raw = raw
            if self.moment == "after":
                with self.lock:
                    self.cluster.send_transaction(raw)
            self.arrived.set()
            self.released.wait()
            return None  # never answered: the process is killed meanwhile
        with self.lock:
            result = getattr(self, method)(*params)
        return {"jsonrpc": "2.0", "id": body["id"], "result": result}

    # ---- the methods PayoutRpc calls --------------------------------------------------------

    def getBlockHeight(self, config=None):
        return self.cluster.block_height()

    def getLatestBlockhash(self, config=None):
        blockhash, last_valid = self.cluster.latest_blockhash()
        return {"context": {"slot": 0}, "value": {"blockhash": blockhash, "lastValidBlockHeight": last_valid}}

    def sendTransaction(self, data: str, config=None):
        return self.cluster.send_transaction(base64.b64decode(data))

    def getBalance(self, address: str, config=None):
        return {"context": {"slot": 0}, "value": self.cluster.balance(address, "")}

    def getAccountInfo(self, address: str, config=None):
        from solders.token.state import TokenAccount

        account = self.cluster.svm.get_account(Pubkey.from_string(address))
        if account is None:
            return {"context": {"slot": 0}, "value": None}
        data = bytes(account.data)
        if len(data) >= 165:
            state = TokenAccount.from_bytes(data[:165])
            info = {"mint": str(state.mint), "owner": str(state.owner), "tokenAmount": {"amount": str(state.amount)}}
        else:
            info = {"decimals": data[44]}
        return {
            "context": {"slot": 0},
            "value": {"owner": str(account.owner), "data": {"parsed": {"info": info}}, "lamports": account.lamports},
        }

    def getSignatureStatuses(self, signatures: list[str], config=None):
        found = {sig: (slot, failed) for sig, slot, failed, _ in self.cluster.history}
        statuses = self.cluster.statuses(signatures)
        value = [
            None
            if statuses[sig] is None
            else {
                "slot": found[sig][0],
                "confirmationStatus": statuses[sig],
                "err": {"InstructionError": [0, "Custom"]} if found[sig][1] else None,
            }
            for sig in signatures
        ]
        return {"context": {"slot": 0}, "value": value}

    def getTransaction(self, signature: str, config=None):
        for sig, slot, failed, tx in self.cluster.history:
            if sig == signature:
                message = tx.message
                return {
                    "slot": slot,
                    "meta": {"err": {"InstructionError": [0, "Custom"]} if failed else None},
                    "transaction": {
                        "signatures": [sig],
                        "message": {
                            "accountKeys": [str(key) for key in message.account_keys],
                            "instructions": [
                                {
                                    "programIdIndex": ix.program_id_index,
                                    "accounts": list(bytes(ix.accounts)),
                                    "data": b58encode(bytes(ix.data)),
                                }
                                for ix in message.instructions
                            ],
                        },
                    },
                }
        return None


def bridge_serving(bridge: RpcBridge):
    """A context manager: the bridge on 127.0.0.1, yielding its URL."""

    class Handler(RecordingHandler):
        def do_POST(self):
            self.record(self.path)
            answer = bridge.answer(self.server.last_body)
            if answer is not None:
                self.reply(200, json.dumps(answer))

    return serving(Handler)
