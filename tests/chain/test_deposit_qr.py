"""A QR code for the deposit details on the fund page (issue 18 point 5): an EIP-681 payment
request with the network, the treasury, the token contract and the exact amount, drawn as
inline SVG on the server; read back here by a real decoder (zxing-cpp)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client

from chain.models import ChainAsset
from chain.qr import eip681_uri, qr_svg
from chain.services.deposits import deposit_intent_create
from ledger.models import Token
from tests.chain.test_deposit_intents import TREASURY
from tests.factories import CreatorFactory, sign_in_wallet
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def decode(uri: str) -> str:
    """Render `uri` as segno draws it (PNG this time) and read it back with zxing-cpp."""
    import io

    import segno
    import zxingcpp
    from PIL import Image

    out = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(out, kind="png", scale=4, border=4)
    # QR codes only: zxing-cpp's other readers find false ITF barcodes inside some QR patterns
    # (a factory number of 100, 109 or 141 in the URI, say).
    [result] = zxingcpp.read_barcodes(Image.open(io.BytesIO(out.getvalue())), formats=zxingcpp.BarcodeFormat.QRCode)
    return result.text


def test_eip681_uris_carry_the_exact_amount_for_ether_and_erc20():
    assert eip681_uri(chain_id=1, treasury=TREASURY.lower(), contract=None, units=25 * 10**16) == (
        f"ethereum:{TREASURY}@1?value=250000000000000000"
    )
    assert eip681_uri(chain_id=8453, treasury=TREASURY, contract=CONTRACT.lower(), units=1_500_001) == (
        f"ethereum:{CONTRACT}@8453/transfer?address={TREASURY}&uint256=1500001"
    )
    with pytest.raises(ValueError):
        eip681_uri(chain_id=1, treasury=TREASURY, contract=None, units=0)


@pytest.fixture
def evm_site(settings):
    settings.FORGE_EVM_TREASURY_ADDRESS = TREASURY.lower()
    settings.FORGE_EVM_CHAIN_ID = 31337


def fund_page(creator, factory) -> str:
    client = Client()
    client.force_login(creator)
    return client.get(f"/creator/factories/{factory.pk}/fund/").content.decode()


@pytest.mark.parametrize("erc20", [False, True])
def test_the_fund_page_shows_an_open_deposit_as_a_qr_code_a_wallet_can_read(evm_site, erc20):
    creator = CreatorFactory()
    if erc20:
        token = Token.objects.create(symbol="TUSD", name="Test USD", decimals=6, chain="evm", enabled=True)
        ChainAsset.objects.create(token=token, contract_address=CONTRACT)
    factory = funded_factory(creator, token="TUSD" if erc20 else "ETH", reward="0.01", deposit=None)
    wallet, _ = sign_in_wallet(creator, chain="evm")
    intent = deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="1.5")

    page = fund_page(creator, factory)
    expected = (
        f"ethereum:{CONTRACT}@31337/transfer?address={TREASURY}&uint256=1500000"
        if erc20
        else f"ethereum:{TREASURY}@31337?value=1500000000000000000"
    )
    block = page[page.index(f'id="deposit-qr-{intent.pk}"') :]
    uri = unescape(re.search(r'href="(ethereum:[^"]+)"', block).group(1))
    assert uri == expected
    svg = re.search(r"<svg.*?</svg>", block, re.S).group(0)
    assert svg == qr_svg(uri, title="Payment request for this deposit")  # the code drawn is this URI's
    assert decode(uri) == expected  # and a reader gets the exact payment request back
    assert "<script" not in block and "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_a_credited_or_cancelled_deposit_has_no_qr_code(evm_site):
    from chain.services.deposits import deposit_intent_cancel

    creator = CreatorFactory()
    factory = funded_factory(creator, token="ETH", reward="0.01", deposit=None)
    wallet, _ = sign_in_wallet(creator, chain="evm")
    intent = deposit_intent_create(factory=factory, actor=creator, wallet_id=wallet.pk, amount="1.5")
    deposit_intent_cancel(actor=creator, intent_id=intent.pk)
    assert f'id="deposit-qr-{intent.pk}"' not in fund_page(creator, factory)


@pytest.mark.chain
def test_an_open_solana_pay_request_has_a_qr_code_of_its_url(settings):
    from chain.services.solana import solana_deposit_intent_create, solana_pay_url

    treasury = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"
    settings.FORGE_SOLANA_TREASURY_ADDRESS = treasury
    settings.FORGE_SOLANA_MINTS = {"USDC": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"}
    creator = CreatorFactory()
    factory = funded_factory(creator, token="USDC", reward="0.01", deposit=None)
    intent = solana_deposit_intent_create(factory=factory, actor=creator, amount="7.25")

    page = fund_page(creator, factory)
    block = page[page.index(f'id="deposit-qr-{intent.pk}"') :]
    uri = unescape(re.search(r'href="(solana:[^"]+)"', block).group(1))
    assert uri == solana_pay_url(intent) and "amount=7.25" in uri and intent.reference in uri
    assert re.search(r"<svg.*?</svg>", block, re.S).group(0) == qr_svg(uri, title="Payment request for this deposit")
    assert decode(uri) == uri
