"""Receipts and hourly Merkle roots: the pure part, with no Django and no database, so that
anyone can verify a receipt offline (`scripts/receipt_verify.py`, or `python manage.py
receipt_verify`) and recompute a published hour's root and totals per pool.

Formats (docs/receipts.md):
- canonical bytes of a JSON object: `json.dumps(obj, sort_keys=True, separators=(",", ":"),
  ensure_ascii=True)` in UTF-8; every amount is an integer in base units written as a string;
- a receipt's signature: ed25519 over RECEIPT_DOMAIN + canonical(body), base58 (as Solana
  writes signatures); the public key is base58 too;
- a leaf: sha256(0x00 + canonical(body)); a node: sha256(0x01 + left + right); a level with an
  odd count carries its last node up unchanged (never duplicated); the root of no leaf is
  sha256(b""); hashes are written in lowercase hex;
- an hour's statement `{"hour", "count", "root", "totals"}` is signed like a receipt with
  ROOT_DOMAIN: the key vouches for the root and for the totals per pool.
"""

from __future__ import annotations

import hashlib
import json

RECEIPT_DOMAIN = b"forge-pools settlement receipt v1\n"
ROOT_DOMAIN = b"forge-pools hourly receipts root v1\n"
SHARE_FIELDS = (
    "gross_payout",
    "platform_fee",
    "farmer_reward",
    "farmer_ambassador_commission",
    "factory_ambassador_commission",
    "protocol_fee",
    "refunded_to_pool",
)


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def leaf_hash(body: dict) -> bytes:
    return hashlib.sha256(b"\x00" + canonical(body)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
    return level[0]


def merkle_path(leaves: list[bytes], index: int) -> list[dict]:
    """The siblings from leaf `index` up to the root: [{"side": "left"|"right", "hash": hex}]."""
    if not 0 <= index < len(leaves):
        raise IndexError(index)
    path, level = [], list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append({"side": "left" if sibling < index else "right", "hash": level[sibling].hex()})
        level = [node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
        index //= 2
    return path


def root_from_path(leaf: bytes, path: list[dict]) -> bytes:
    node = leaf
    for step in path:
        sibling = bytes.fromhex(step["hash"])
        if len(sibling) != 32 or step["side"] not in ("left", "right"):
            raise ValueError("malformed Merkle path")
        node = node_hash(sibling, node) if step["side"] == "left" else node_hash(node, sibling)
    return node


def totals_of(bodies: list[dict]) -> dict:
    """Per pool (factory id as a string): its token, how many receipts, settled and rejected,
    and the sum of each share, in base units (strings)."""
    totals: dict[str, dict] = {}
    for body in bodies:
        pool = totals.setdefault(
            str(body["factory"]),
            {"token": body["token"], "receipts": 0, "settled": 0, "rejected": 0, **dict.fromkeys(SHARE_FIELDS, "0")},
        )
        pool["receipts"] += 1
        pool[body["status"]] += 1
        for name in SHARE_FIELDS:
            pool[name] = str(int(pool[name]) + int(body["shares"][name]))
    return totals


def statement(*, hour: str, count: int, root: str, totals: dict) -> dict:
    return {"hour": hour, "count": count, "root": root, "totals": totals}


def verify_signature(public_key: str, domain: bytes, obj, signature: str) -> bool:
    from solders.pubkey import Pubkey
    from solders.signature import Signature

    try:
        return Signature.from_string(signature).verify(Pubkey.from_string(public_key), domain + canonical(obj))
    except (ValueError, TypeError):
        return False


def verify_receipt_document(document: dict, public_key: str) -> list[str]:
    """Check a downloaded receipt file against the platform's public key (given by the
    verifier, not read from the file). Returns the failures; empty means valid."""
    try:
        body, batch = document["receipt"], document["batch"]
        signature, path = document["signature"], document["path"]
    except (KeyError, TypeError):
        return ["not a receipt file: it needs receipt, signature, path and batch"]
    errors = []
    if not verify_signature(public_key, RECEIPT_DOMAIN, body, signature):
        errors.append("the receipt's signature does not verify with this public key (tampered or another key)")
    try:
        root = root_from_path(leaf_hash(body), path).hex()
    except (ValueError, KeyError, TypeError):
        return [*errors, "the Merkle path is malformed"]
    if root != batch.get("root"):
        errors.append(f"the Merkle path leads to {root}, not to the hour's published root {batch.get('root')}")
    signed = statement(
        hour=batch.get("hour"), count=batch.get("count"), root=batch.get("root"), totals=batch.get("totals")
    )
    if not verify_signature(public_key, ROOT_DOMAIN, signed, batch.get("signature", "")):
        errors.append("the hour's statement (root and totals) is not signed by this public key")
    return errors


def verify_batch(batch: dict, receipts: list[dict], public_key: str) -> list[str]:
    """Recompute an hour from its published receipts (in order): every receipt signed, the
    root and the totals per pool equal to the signed statement."""
    errors = []
    for i, item in enumerate(receipts):
        if not verify_signature(public_key, RECEIPT_DOMAIN, item["receipt"], item["signature"]):
            errors.append(f"receipt {i} is not signed by this public key")
    bodies = [item["receipt"] for item in receipts]
    root = merkle_root([leaf_hash(body) for body in bodies]).hex()
    if root != batch["root"] or len(bodies) != batch["count"]:
        errors.append(
            f"the receipts give root {root} over {len(bodies)}, published {batch['root']} over {batch['count']}"
        )
    if totals_of(bodies) != batch["totals"]:
        errors.append("the totals per pool recomputed from the receipts differ from the published ones")
    signed = statement(hour=batch["hour"], count=batch["count"], root=batch["root"], totals=batch["totals"])
    if not verify_signature(public_key, ROOT_DOMAIN, signed, batch.get("signature", "")):
        errors.append("the hour's statement is not signed by this public key")
    return errors
