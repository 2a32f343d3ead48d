"""Connecting a wallet in Chromium, with a test wallet injected by the test: an EIP-1193
provider (`window.ethereum`) and a Wallet Standard wallet with `solana:signIn`, both signing
with real keys held in Python (eth_account, solders) through a Playwright binding. The page's
own script (static/js/wallets.js) does the rest: nonce, signature, link."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from playwright.sync_api import expect
from solders.keypair import Keypair

from chain.models import Wallet
from tests.factories import FarmerFactory

from .conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

INJECTED_WALLETS = """
(() => {
  window.ethereum = {
    request: async ({ method, params }) => {
      if (method === "eth_requestAccounts") return [window.__evmAddress.toLowerCase()];
      if (method === "personal_sign") return await window.forgeTestEvmSign(params[0], params[1]);
      throw new Error("unsupported " + method);
    },
  };
  const wallet = {
    version: "1.0.0", name: "Forge Test Wallet", icon: "data:image/svg+xml,<svg/>", chains: ["solana:mainnet"],
    accounts: [],
    features: {
      "solana:signIn": {
        version: "1.0.0",
        signIn: async (...inputs) => Promise.all(inputs.map(async (input) => {
          const address = window.__solanaAddress;
          const text = `${input.domain} wants you to sign in with your Solana account:\\n${address}\\n\\n` +
            `${input.statement}\\n\\nURI: ${input.uri}\\nVersion: ${input.version}\\nChain ID: ${input.chainId}\\n` +
            `Nonce: ${input.nonce}\\nIssued At: ${input.issuedAt}\\nExpiration Time: ${input.expirationTime}`;
          const signature = await window.forgeTestSolanaSign(text);
          return { account: { address }, signedMessage: new TextEncoder().encode(text),
                   signature: new Uint8Array(signature) };
        })),
      },
    },
  };
  const register = (api) => api.register(wallet);
  window.addEventListener("wallet-standard:app-ready", (event) => register(event.detail));
  window.dispatchEvent(new CustomEvent("wallet-standard:register-wallet", { detail: register }));
})();
"""


def test_a_user_connects_an_ethereum_and_a_solana_wallet_in_the_browser(new_page, live_server, settings):
    settings.FORGE_SITE_URL = live_server.url  # the domain wallets sign for is the one the browser sees
    user = FarmerFactory()
    evm_key, solana_key = Account.create(), Keypair()
    signed = []

    def evm_sign(message_hex: str, address: str) -> str:
        assert address.lower() == evm_key.address.lower()
        text = bytes.fromhex(message_hex.removeprefix("0x")).decode()
        signed.append(text)
        return "0x" + evm_key.sign_message(encode_defunct(text=text)).signature.hex().removeprefix("0x")

    def solana_sign(text: str) -> list[int]:
        signed.append(text)
        return list(bytes(solana_key.sign_message(text.encode())))

    page = new_page()
    page.expose_function("forgeTestEvmSign", evm_sign)
    page.expose_function("forgeTestSolanaSign", solana_sign)
    page.add_init_script(
        f"window.__evmAddress = '{evm_key.address}'; window.__solanaAddress = '{solana_key.pubkey()}';"
        + INJECTED_WALLETS
    )
    log_in(page, user.username)
    page.goto("/accounts/")
    page.get_by_role("link", name="Your wallets").click()
    expect(page.get_by_role("heading", name="Your wallets")).to_be_visible()

    page.get_by_role("button", name="Connect an Ethereum wallet").click()
    expect(page.locator("code", has_text=evm_key.address)).to_be_visible()
    page.get_by_role("button", name="Connect a Solana wallet").click()
    expect(page.locator("code", has_text=str(solana_key.pubkey()))).to_be_visible()

    assert set(Wallet.objects.filter(user=user).values_list("chain", "address")) == {
        ("evm", evm_key.address),
        ("solana", str(solana_key.pubkey())),
    }
    host = live_server.url.split("://")[1]
    assert signed[0].startswith(f"{host} wants you to sign in with your Ethereum account:\n{evm_key.address}")
    assert signed[1].startswith(f"{host} wants you to sign in with your Solana account:")
