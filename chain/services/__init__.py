"""Writes of the chain app: wallets (wallets.py) and on-chain deposits (deposits.py)."""

from .wallets import wallet_link, wallet_nonce_issue, wallet_unlink

__all__ = ["wallet_link", "wallet_nonce_issue", "wallet_unlink"]
