"""Reads about payouts: the hot wallet's balance per token (with the low-balance alert staff see
on the admin index) and the network fee shown before a withdrawal is requested. Both ask the
node (FORGE_EVM_RPC_URL) and are cached for a minute; a node that does not answer is reported,
never raised."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache

from core.money import format_amount, parse_amount

from .models import ChainAsset, ChainKind, EvmPayout

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60
# What the fee line assumes for an ERC-20 transfer (the payout run uses the node's estimate).
ERC20_TRANSFER_GAS = 65_000
NATIVE_GAS = 21_000


def payouts_enabled() -> bool:
    return bool(settings.FORGE_EVM_PAYOUTS_ENABLED and settings.FORGE_EVM_RPC_URL)


def solana_payouts_enabled() -> bool:
    return bool(settings.FORGE_SOLANA_PAYOUTS_ENABLED and settings.FORGE_SOLANA_RPC_URL)


def hot_wallet_status(*, w3=None, use_cache: bool = True) -> dict:
    """{"enabled", "address", "rows": [{symbol, balance (text), low, threshold}], "error",
    "in_flight", "waiting_approval"} for the admin index."""
    from accounts.models import Withdrawal

    status = {
        "enabled": payouts_enabled(),
        "address": "",
        "rows": [],
        "error": "",
        "in_flight": EvmPayout.objects.filter(status__in=EvmPayout.LIVE).count(),
        "waiting_approval": Withdrawal.objects.filter(status=Withdrawal.Status.APPROVAL).count(),
    }
    if not status["enabled"]:
        return status
    cached = cache.get("chain:hot-wallet-balances") if use_cache and w3 is None else None
    if cached is None:
        try:
            cached = _balances(w3)
        except Exception as error:  # the node is down or refuses: say so, never a 500
            logger.warning("hot wallet balance unavailable: %s", error)
            return status | {"error": f"The node did not answer: {str(error)[:200]}"}
        if w3 is None:
            cache.set("chain:hot-wallet-balances", cached, CACHE_SECONDS)
    return status | cached


def _balances(w3) -> dict:
    from .services.deposits import evm_client
    from .services.payouts import token_balance
    from .signer import evm_hot_wallet

    w3 = w3 or evm_client()
    address = evm_hot_wallet().address
    rows = []
    assets = ChainAsset.objects.filter(token__chain=ChainKind.EVM).select_related("token").order_by("token__symbol")
    for asset in assets:
        token = asset.token
        units = (
            token_balance(w3, asset.contract_address, address)
            if asset.contract_address
            else int(w3.eth.get_balance(address))
        )
        threshold_text = settings.FORGE_EVM_HOT_WALLET_LOW.get(token.symbol)
        threshold = None if threshold_text in (None, "") else parse_amount(str(threshold_text), decimals=token.decimals)
        rows.append(
            {
                "symbol": token.symbol,
                "balance": format_amount(units, decimals=token.decimals, trim=True),
                "threshold": None
                if threshold is None
                else format_amount(threshold, decimals=token.decimals, trim=True),
                "low": threshold is not None and units < threshold,
            }
        )
    return {"address": address, "rows": rows}


def withdrawal_fee_estimate(token, *, w3=None) -> str | None:
    """The network fee of paying one withdrawal of `token` at today's gas price, in ether
    ("0.000042"), or None (not paid by the system, or the node does not answer)."""
    if not payouts_enabled() or token.chain != ChainKind.EVM:
        return None
    asset = ChainAsset.objects.filter(token=token).first()
    if asset is None:
        return None
    key = "chain:gas-price"
    gas_price = cache.get(key) if w3 is None else None
    if gas_price is None:
        try:
            from .services.deposits import evm_client

            gas_price = int((w3 or evm_client()).eth.gas_price)
        except Exception as error:
            logger.warning("gas price unavailable: %s", error)
            return None
        if w3 is None:
            cache.set(key, gas_price, CACHE_SECONDS)
    gas = ERC20_TRANSFER_GAS if asset.contract_address else NATIVE_GAS
    return format(Decimal(gas * gas_price) / Decimal(10**18), "f").rstrip("0").rstrip(".") or "0"


def solana_hot_wallet_status(*, source=None) -> dict:
    """{"enabled", "address", "rows", "error", "in_flight"} of the Solana hot wallet for the
    admin index: SOL and each mint of FORGE_SOLANA_MINTS, low under FORGE_SOLANA_HOT_WALLET_LOW.
    Read through the RPC when shown (a node that does not answer is reported, never raised)."""
    from .models import SolanaPayout

    status = {
        "enabled": solana_payouts_enabled() or source is not None,
        "address": "",
        "rows": [],
        "error": "",
        "in_flight": SolanaPayout.objects.filter(status__in=SolanaPayout.LIVE).count(),
    }
    if not status["enabled"]:
        return status
    from ledger.models import Token

    from .services.solana import NATIVE, solana_mints
    from .services.solana_payouts import PayoutRpc
    from .signer import solana_hot_wallet

    source = source or PayoutRpc()
    status["address"] = address = solana_hot_wallet().address
    tokens = {token.symbol: token for token in Token.objects.filter(chain=ChainKind.SOLANA)}
    try:
        for symbol, mint in sorted(solana_mints().items()):
            token = tokens.get(symbol)
            if token is None:
                continue
            program = "" if mint == NATIVE else (source.mint_info(mint) or ("",))[0]
            units = source.balance(address, mint, program) if mint == NATIVE or program else 0
            threshold_text = settings.FORGE_SOLANA_HOT_WALLET_LOW.get(symbol)
            threshold = (
                None if threshold_text in (None, "") else parse_amount(str(threshold_text), decimals=token.decimals)
            )
            status["rows"].append(
                {
                    "symbol": symbol,
                    "balance": format_amount(units, decimals=token.decimals, trim=True),
                    "threshold": None
                    if threshold is None
                    else format_amount(threshold, decimals=token.decimals, trim=True),
                    "low": threshold is not None and units < threshold,
                }
            )
    except Exception as error:  # the node is down or refuses: say so, never a 500
        logger.warning("Solana hot wallet balance unavailable: %s", error)
        return status | {"rows": [], "error": f"The Solana node did not answer: {str(error)[:200]}"}
    return status
