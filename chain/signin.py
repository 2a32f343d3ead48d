"""Sign-In with Ethereum (EIP-4361) and Sign-In with Solana messages: build, parse, verify.

Pure functions, no database. Both standards sign the same text shape:

    <domain> wants you to sign in with your <Ethereum|Solana> account:
    <address>

    <statement>

    URI: <uri>
    Version: 1
    Chain ID: <chain id>
    Nonce: <nonce>
    Issued At: <ISO 8601>
    Expiration Time: <ISO 8601>

EVM: the `siwe` package parses the message (its ABNF grammar) and `eth-account` recovers the
EIP-191 `personal_sign` signer. Solana: the Wallet Standard's `signIn` feature builds this text
(the Phantom "Sign In With Solana" specification); the signature is ed25519 over its UTF-8
bytes, checked with `solders`. Every failure raises `SignInError` with a message for the user.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import datetime

from solders.pubkey import Pubkey
from solders.signature import Signature

EVM = "evm"
SOLANA = "solana"
CHAIN_WORDS = {EVM: "Ethereum", SOLANA: "Solana"}
MESSAGE_MAX_CHARS = 4096
SIGNATURE_MAX_CHARS = 200


class SignInError(Exception):
    """A message or signature that does not prove what it claims; `field` names the input."""

    def __init__(self, message: str, *, field: str = "signature"):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class SignInMessage:
    domain: str
    address: str
    statement: str
    uri: str
    version: str
    chain_id: str
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None
    not_before: datetime | None
    text: str


def address_normalise(chain: str, address: str) -> str:
    """The one spelling of an address: EIP-55 checksum for EVM, base58 of a 32-byte key for
    Solana. Raises `SignInError` (field `address`) for anything else."""
    address = (address or "").strip()
    if chain == EVM:
        # eth-utils takes most of a second to import: loaded when an EVM address is first seen.
        from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

        if not is_hex_address(address) or not address.startswith("0x"):
            raise SignInError("An EVM address is 0x followed by 40 hex digits.", field="address")
        # An address in mixed case must already be checksummed: a typo in one letter is caught.
        if address != address.lower() and address[2:] != address[2:].upper() and not is_checksum_address(address):
            raise SignInError("This EVM address has a wrong checksum (EIP-55): check every letter.", field="address")
        return to_checksum_address(address)
    if chain == SOLANA:
        if not re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{32,44}", address):
            raise SignInError("A Solana address is a base58 public key (32 to 44 characters).", field="address")
        try:
            key = Pubkey.from_string(address)
        except ValueError:
            raise SignInError("A Solana address is a base58 public key of 32 bytes.", field="address") from None
        return str(key)
    raise SignInError('Choose the chain "evm" or "solana".', field="chain")


def message_build(
    *,
    chain: str,
    domain: str,
    address: str,
    statement: str,
    uri: str,
    chain_id: str,
    nonce: str,
    issued_at: str,
    expiration_time: str,
) -> str:
    """The exact text a wallet signs (the same for both standards but for the chain's word)."""
    return (
        f"{domain} wants you to sign in with your {CHAIN_WORDS[chain]} account:\n{address}\n\n{statement}\n\n"
        f"URI: {uri}\nVersion: 1\nChain ID: {chain_id}\nNonce: {nonce}\nIssued At: {issued_at}\n"
        f"Expiration Time: {expiration_time}"
    )


_FIELDS = {
    "URI": "uri",
    "Version": "version",
    "Chain ID": "chain_id",
    "Nonce": "nonce",
    "Issued At": "issued_at",
    "Expiration Time": "expiration_time",
    "Not Before": "not_before",
    "Request ID": "request_id",
}


def _iso(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SignInError(f"The message's {name} is not an ISO 8601 time.", field="message") from None
    if moment.tzinfo is None:
        raise SignInError(f"The message's {name} has no time zone.", field="message")
    return moment


def message_parse(chain: str, text: str) -> SignInMessage:
    """Read a signed message in the shape above; anything else is a `SignInError`."""
    if not isinstance(text, str) or not text or len(text) > MESSAGE_MAX_CHARS:
        raise SignInError(f"The signed message is required (at most {MESSAGE_MAX_CHARS} characters).", field="message")
    lines = text.split("\n")
    header = re.fullmatch(
        rf"(?:[a-z][a-z0-9+.-]*://)?([^\s/?#]+) wants you to sign in with your {CHAIN_WORDS[chain]} account:", lines[0]
    )
    if header is None or len(lines) < 4:
        raise SignInError(f"This is not a Sign-In with {CHAIN_WORDS[chain]} message.", field="message")
    address = lines[1]
    rest = lines[2:]
    # An optional statement sits between two blank lines; then the fields, one per line.
    statement = ""
    if rest[0] != "":
        raise SignInError("The message has no blank line after the address.", field="message")
    rest = rest[1:]
    if rest and not rest[0].startswith("URI: ") and len(rest) > 1 and rest[1] == "":
        statement, rest = rest[0], rest[2:]
    elif rest and rest[0] == "":
        rest = rest[1:]
    fields: dict[str, str] = {}
    for line in rest:
        if line == "Resources:" or line.startswith("- "):
            continue  # resources are allowed and carry nothing we check
        name, sep, value = line.partition(": ")
        if not sep or name not in _FIELDS or _FIELDS[name] in fields:
            raise SignInError(f"The message has an unexpected line: {line[:60]!r}.", field="message")
        fields[_FIELDS[name]] = value
    for required in ("uri", "version", "chain_id", "nonce", "issued_at"):
        if required not in fields:
            raise SignInError(f"The message has no {required.replace('_', ' ')}.", field="message")
    return SignInMessage(
        domain=header.group(1),
        address=address,
        statement=statement,
        uri=fields["uri"],
        version=fields["version"],
        chain_id=fields["chain_id"],
        nonce=fields["nonce"],
        issued_at=_iso(fields["issued_at"], "issued-at time"),
        expiration_time=_iso(fields.get("expiration_time"), "expiration time"),
        not_before=_iso(fields.get("not_before"), "not-before time"),
        text=text,
    )


def _parse_evm(text: str) -> SignInMessage:
    """Our reader first (cheap, bounded), then the `siwe` package's EIP-4361 model, which also
    checks the EIP-55 address and the URI. Its regular-expression parser, not its ABNF one:
    the ABNF parser took 10 s on a 5,000-character message, an easy way to tie up a worker."""
    with warnings.catch_warnings():  # its grammar module redefines RFC 5234's core rules (same text)
        warnings.simplefilter("ignore")
        from siwe import SiweMessage  # imports web3: loaded only when an EVM wallet signs in

    parsed = message_parse(EVM, text)
    try:
        SiweMessage.from_message(text, abnf=False)
    except Exception:  # siwe raises ValueError and pydantic's ValidationError
        raise SignInError("This is not a valid Sign-In with Ethereum (EIP-4361) message.", field="message") from None
    return parsed


def signature_verify(chain: str, message: SignInMessage, signature: str) -> str:
    """Check that `signature` over the message was made by the message's address; return the
    normalised address. Raises `SignInError`."""
    signature = (signature or "").strip() if isinstance(signature, str) else ""
    if not signature or len(signature) > SIGNATURE_MAX_CHARS:
        raise SignInError("The signature is required.")
    address = address_normalise(chain, message.address)
    if chain == EVM:
        from eth_account import Account  # about 1 s to import: only when an EVM wallet signs in
        from eth_account.messages import encode_defunct

        hex_part = signature[2:] if signature.startswith("0x") else signature
        if not re.fullmatch(r"[0-9a-fA-F]{130}", hex_part):
            raise SignInError("An Ethereum signature is 65 bytes in hex (0x followed by 130 hex digits).")
        try:
            signer = Account.recover_message(encode_defunct(text=message.text), signature=bytes.fromhex(hex_part))
        except Exception:  # eth-keys raises BadSignature / ValidationError for an invalid (v, r, s)
            raise SignInError("The signature is malformed: no Ethereum account made it.") from None
        if signer != address:
            raise SignInError("The signature was not made by the wallet named in the message.")
        return address
    try:
        parsed = Signature.from_string(signature)
    except ValueError:
        raise SignInError("A Solana signature is 64 bytes in base58.") from None
    if not parsed.verify(Pubkey.from_string(address), message.text.encode("utf-8")):
        raise SignInError("The signature was not made by the wallet named in the message.")
    return address


def parse(chain: str, text: str) -> SignInMessage:
    if chain == EVM:
        return _parse_evm(text)
    if chain == SOLANA:
        return message_parse(SOLANA, text)
    raise SignInError('Choose the chain "evm" or "solana".', field="chain")
