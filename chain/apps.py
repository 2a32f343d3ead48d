from django.apps import AppConfig


class ChainConfig(AppConfig):
    name = "chain"
    verbose_name = "Chain"

    def ready(self):
        # Payouts enabled with a run lease shorter than the payout tasks' time limit, or without a
        # usable hot-wallet key: refuse to start (docs/chain.md "One run at a time", "Keys").
        from .services.runs import payout_lease_check
        from .signer import evm_hot_wallet_check, solana_hot_wallet_check

        payout_lease_check()
        evm_hot_wallet_check()
        solana_hot_wallet_check()
