"""Payment requests as QR codes: the EIP-681 URI of an announced EVM deposit (a wallet that
scans it fills in the network, the recipient, the token and the exact amount, which is the
deposit's reference), drawn as inline SVG on the server with `segno` (no script, no CDN)."""

from __future__ import annotations

import io

from . import signin
from .models import ChainKind


def eip681_uri(*, chain_id: int, treasury: str, contract: str | None, units: int) -> str:
    """`ethereum:<treasury>@<chain id>?value=<wei>` for ether, or
    `ethereum:<contract>@<chain id>/transfer?address=<treasury>&uint256=<units>` for an ERC-20.
    Amounts are exact integers in base units (EIP-681 allows scientific notation; none is used)."""
    if units <= 0:
        raise ValueError("a payment request needs a positive amount")
    treasury = signin.address_normalise(ChainKind.EVM, treasury)
    if contract:
        contract = signin.address_normalise(ChainKind.EVM, contract)
        return f"ethereum:{contract}@{int(chain_id)}/transfer?address={treasury}&uint256={int(units)}"
    return f"ethereum:{treasury}@{int(chain_id)}?value={int(units)}"


def qr_svg(text: str, *, title: str = "") -> str:
    """`text` as an inline SVG QR code (error correction M, a 4-module quiet zone)."""
    import segno

    code = segno.make(text, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=4, border=4, xmldecl=False, svgns=True, title=title or None, svgclass="qr")
    return out.getvalue().decode().strip()
