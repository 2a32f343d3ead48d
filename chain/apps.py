from django.apps import AppConfig


class ChainConfig(AppConfig):
    name = "chain"
    verbose_name = "Chain"

    def ready(self):
        # Payouts enabled without a usable hot-wallet key: refuse to start (docs/chain.md "Keys").
        from .signer import evm_hot_wallet_check, solana_hot_wallet_check

        evm_hot_wallet_check()
        solana_hot_wallet_check()
