"""The JSON-RPC half of the Solana source adapter (RpcSource), against a local HTTP server that
answers with the shapes a Solana node returns (getSignaturesForAddress, getTransaction with
"json" encoding and a v0 message with loaded addresses, getSignatureStatuses). A complement to
test_solana_deposits.py, which runs the same watcher on a real runtime (LiteSVM)."""

from __future__ import annotations

import json
import struct

import pytest
from solders.keypair import Keypair

from chain.models import ChainTransfer
from chain.services.solana import (
    TOKEN_PROGRAM,
    RpcSource,
    SourceError,
    b58decode,
    solana_deposit_intent_create,
    solana_watch,
    transfers_in,
    tx_from_rpc_json,
)
from ledger.models import Token
from pools.models import Deposit
from tests.factories import CreatorFactory
from tests.fake_http import RecordingHandler, serving
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    number, out = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        out = ALPHABET[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def key() -> str:
    return str(Keypair().pubkey())


class Node:
    """Recorded answers by method; `status` is what getSignatureStatuses says."""

    def __init__(self):
        self.payer, self.treasury, self.mint, self.reference = key(), key(), key(), None
        self.source_ata, self.treasury_ata = key(), key()
        self.signature = b58encode(bytes(range(1, 65)))
        self.status = "confirmed"
        self.broken = False
        self.requests = []

    def transaction(self, units: int) -> dict:
        # Static keys: payer (signer), the two token accounts; the rest come from a lookup
        # table (v0): mint and reference read-only, token program.
        keys = [self.payer, self.source_ata, self.treasury_ata, TOKEN_PROGRAM]
        loaded = {"writable": [], "readonly": [self.mint, self.reference]}
        data = b58encode(bytes([12]) + struct.pack("<Q", units) + bytes([6]))
        balance = {
            "accountIndex": 2,
            "mint": self.mint,
            "owner": self.treasury,
            "programId": TOKEN_PROGRAM,
            "uiTokenAmount": {"amount": str(units), "decimals": 6, "uiAmount": units / 1e6, "uiAmountString": "x"},
        }
        return {
            "blockTime": 1796000000,
            "slot": 345678901,
            "version": 0,
            "meta": {
                "err": None,
                "fee": 5000,
                "innerInstructions": [],
                "loadedAddresses": loaded,
                "logMessages": [],
                "preTokenBalances": [],
                "postTokenBalances": [balance],
                "status": {"Ok": None},
            },
            "transaction": {
                "signatures": [self.signature],
                "message": {
                    "accountKeys": keys,
                    "header": {
                        "numRequiredSignatures": 1,
                        "numReadonlySignedAccounts": 0,
                        "numReadonlyUnsignedAccounts": 1,
                    },
                    "recentBlockhash": key(),
                    "instructions": [
                        {"programIdIndex": 3, "accounts": [1, 4, 2, 0, 5], "data": data, "stackHeight": None}
                    ],
                    "addressTableLookups": [{"accountKey": key(), "writableIndexes": [], "readonlyIndexes": [0, 1]}],
                },
            },
        }

    def answer(self, body: dict):
        self.requests.append(body)
        if self.broken:
            return {"jsonrpc": "2.0", "id": body["id"], "error": {"code": -32005, "message": "Node is behind"}}
        method, params = body["method"], body["params"]
        if method == "getSignaturesForAddress":
            mine = params[0] in (self.treasury_ata, self.reference) and params[1].get("until") != self.signature
            rows = [
                {
                    "signature": self.signature,
                    "slot": 345678901,
                    "err": None,
                    "memo": None,
                    "blockTime": 1796000000,
                    "confirmationStatus": self.status,
                }
            ]
            result = rows if mine else []
        elif method == "getTransaction":
            result = self.transaction(25_500_000) if params[0] == self.signature else None
        elif method == "getSignatureStatuses":
            result = {
                "context": {"slot": 345679000},
                "value": [
                    {
                        "slot": 345678901,
                        "confirmations": None,
                        "err": None,
                        "status": {"Ok": None},
                        "confirmationStatus": self.status,
                    }
                    if sig == self.signature
                    else None
                    for sig in params[0]
                ],
            }
        else:
            return {"jsonrpc": "2.0", "id": body["id"], "error": {"code": -32601, "message": "Method not found"}}
        return {"jsonrpc": "2.0", "id": body["id"], "result": result}


@pytest.fixture
def node(settings):
    node = Node()

    class Handler(RecordingHandler):
        def do_POST(self):
            self.record(self.path)
            self.reply(200, json.dumps(node.answer(self.server.last_body)))

    with serving(Handler) as server:
        node.url = server.url("/")
        settings.FORGE_SOLANA_TREASURY_ADDRESS = node.treasury
        settings.FORGE_SOLANA_MINTS = {"USDC": node.mint}
        settings.FORGE_DEPOSITS_AUTOCONFIRM = False
        yield node


def test_b58decode_round_trip():
    for data in (b"", b"\0\0abc", bytes(range(256)), struct.pack("<Q", 2**64 - 1)):
        assert b58decode(b58encode(data)) == data


def test_rpc_transaction_shape_parsed_with_loaded_addresses(node):
    node.reference = key()
    tx = tx_from_rpc_json(node.signature, node.transaction(7))
    [transfer] = transfers_in(tx)
    assert transfer.mint == node.mint and transfer.amount == 7 and transfer.decimals == 6
    assert transfer.recipient == node.treasury and transfer.sender == node.payer
    assert transfer.extra_accounts == (node.reference,)
    assert transfer.destination == node.treasury_ata
    assert tx.token_deltas == {node.treasury_ata: 7}  # the account held nothing before


def test_rpc_token_balances_give_what_arrived_not_what_was_sent(node):
    """A transfer-fee mint: 7 sent, 2 withheld; the treasury's account went from 100 to 105."""
    node.reference = key()
    shape = node.transaction(7)
    [post] = shape["meta"]["postTokenBalances"]
    pre = {**post, "uiTokenAmount": {**post["uiTokenAmount"], "amount": "100"}}
    shape["meta"]["preTokenBalances"] = [pre]
    shape["meta"]["postTokenBalances"] = [{**post, "uiTokenAmount": {**post["uiTokenAmount"], "amount": "105"}}]
    tx = tx_from_rpc_json(node.signature, shape)
    assert [t.amount for t in transfers_in(tx)] == [7] and tx.token_deltas == {node.treasury_ata: 5}


def test_rpc_token_balances_give_a_plain_transfers_decimals(node):
    """A plain Transfer (3) names neither mint nor decimals: both come from the destination's
    token balance (`mint`, `uiTokenAmount.decimals`), here a 9-decimal mint."""
    node.reference = key()
    shape = node.transaction(7)
    [ix] = shape["transaction"]["message"]["instructions"]
    ix["accounts"], ix["data"] = [1, 2, 0, 5], b58encode(bytes([3]) + struct.pack("<Q", 7))
    [balance] = shape["meta"]["postTokenBalances"]
    balance["uiTokenAmount"]["decimals"] = 9
    [transfer] = transfers_in(tx_from_rpc_json(node.signature, shape))
    assert (transfer.mint, transfer.amount, transfer.decimals) == (node.mint, 7, 9)
    assert transfer.extra_accounts == (node.reference,) and transfer.recipient == node.treasury


def test_watcher_over_json_rpc_credits_once_when_finalized(node):
    creator = CreatorFactory()
    factory = funded_factory(creator, token="USDC", reward="0.01", deposit=None)
    intent = solana_deposit_intent_create(factory=factory, actor=creator, amount="25.5")
    node.reference = intent.reference
    source = RpcSource(node.url)

    solana_watch(source=source)
    assert ChainTransfer.objects.get(tx_hash=node.signature).status == "pending"
    assert not Deposit.objects.filter(factory=factory).exists()
    sent = {r["method"] for r in node.requests}
    assert {"getSignaturesForAddress", "getTransaction", "getSignatureStatuses"} <= sent
    assert all(
        r["params"][1]["commitment"] == "confirmed" for r in node.requests if r["method"] == "getSignaturesForAddress"
    )

    node.status = "finalized"
    assert solana_watch(source=source).credited == 1
    assert solana_watch(source=source).credited == 0
    deposit = Deposit.objects.get(factory=factory)
    assert deposit.amount == 25_500_000 and deposit.tx_ref == f"{node.signature}:0"
    assert Token.objects.get(symbol="USDC").decimals == 6
    assert_audit_clean()


def test_rpc_error_stops_the_run_and_changes_nothing(node):
    node.broken = True
    with pytest.raises(SourceError, match="Node is behind"):
        solana_watch(source=RpcSource(node.url))
    assert not ChainTransfer.objects.exists()


def test_a_status_with_a_null_confirmation_status_is_a_landed_transaction_not_an_absent_one(node):
    node.status = None  # the RPC documents confirmationStatus as nullable
    other = b58encode(bytes(range(2, 66)))
    assert RpcSource(node.url).statuses([node.signature, other]) == {node.signature: "processed", other: None}
