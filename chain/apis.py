"""Chain endpoints. Wallets: list the caller's wallets, ask for a sign-in nonce, link a wallet
by its signed message, unlink one (every signed-in user but the grading service, on their own
wallets only). On-chain deposits: a factory's owner announces a deposit and follows it."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.api import AmountStringField, IsCreator, amount_str
from core.exceptions import NotFound
from pools.selectors import factory_for_creator

from .models import ChainKind, Wallet
from .selectors import deposit_intents_of, evm_payment_details, intent_progress, solana_payment_details, wallets_of
from .services import wallet_link, wallet_nonce_issue, wallet_unlink
from .services.deposits import deposit_intent_create
from .services.solana import solana_deposit_intent_create, solana_pay_url


@extend_schema_serializer(component_name="Wallet")
class WalletSerializer(serializers.ModelSerializer):
    usable = serializers.SerializerMethodField()

    class Meta:
        model = Wallet
        fields = ["id", "chain", "address", "verified_at", "usable_from", "usable"]

    def get_usable(self, wallet) -> bool:
        """True when withdrawals may go to this wallet (its cooldown is over)."""
        return wallet.usable_from <= timezone.now()


class WalletListLinkApi(ListAPIView):
    """GET: the caller's linked wallets. POST: link the wallet that signed `message` (a Sign-In
    with Ethereum / Solana message carrying a nonce from `wallets/nonce/`) → 201, or 200 when
    that wallet is already linked to the caller."""

    serializer_class = WalletSerializer
    throttle_scope = "wallets"

    def get_throttles(self):
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Wallet.objects.none()
        return wallets_of(self.request.user)

    @extend_schema_serializer(component_name="WalletLink")
    class InputSerializer(serializers.Serializer):
        chain = serializers.ChoiceField(choices=ChainKind.choices)
        message = serializers.CharField(max_length=4096, trim_whitespace=False)
        signature = serializers.CharField(max_length=200)

    @extend_schema(request=InputSerializer, responses={201: WalletSerializer, 200: WalletSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wallet, created = wallet_link(user=request.user, **data.validated_data)
        return Response(
            WalletSerializer(wallet).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class WalletNonceApi(APIView):
    """A one-use nonce (valid FORGE_WALLET_NONCE_TTL_SECONDS) and the fields of the message to
    sign; with `address`, the exact message too."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "wallets"

    @extend_schema_serializer(component_name="WalletNonceRequest")
    class InputSerializer(serializers.Serializer):
        chain = serializers.ChoiceField(choices=ChainKind.choices)
        address = serializers.CharField(max_length=64, required=False, allow_blank=True)

    @extend_schema_serializer(component_name="WalletNonce")
    class OutputSerializer(serializers.Serializer):
        chain = serializers.CharField()
        domain = serializers.CharField()
        statement = serializers.CharField()
        uri = serializers.CharField()
        version = serializers.CharField()
        chain_id = serializers.CharField()
        nonce = serializers.CharField()
        issued_at = serializers.CharField()
        expiration_time = serializers.CharField()
        message = serializers.CharField(required=False)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = wallet_nonce_issue(user=request.user, **data.validated_data)
        return Response(self.OutputSerializer(fields).data, status=status.HTTP_201_CREATED)


class WalletUnlinkApi(APIView):
    """Unlink one of the caller's wallets (another user's wallet is a 404)."""

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk: int):
        wallet_unlink(user=request.user, wallet_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DepositIntentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    token = serializers.CharField(source="token.symbol")
    amount = serializers.SerializerMethodField()
    wallet = serializers.CharField(source="wallet.address", allow_null=True)  # EVM only
    status = serializers.CharField()
    progress = serializers.SerializerMethodField()
    pay_to = serializers.SerializerMethodField()
    solana_pay = serializers.SerializerMethodField()

    def get_amount(self, intent) -> str:
        return amount_str(intent.amount, intent.token)

    @extend_schema_field(
        inline_serializer(
            "DepositIntentProgress",
            {
                "state": serializers.CharField(),
                "confirmations": serializers.IntegerField(allow_null=True),
                "required": serializers.IntegerField(required=False),
                "tx_hash": serializers.CharField(required=False),
            },
        )
    )
    def get_progress(self, intent) -> dict:
        return intent_progress(intent)

    @extend_schema_field(
        inline_serializer(
            "EvmPaymentDetails",
            {
                "network": serializers.CharField(),
                "chain_id": serializers.IntegerField(),
                "treasury": serializers.CharField(),
                "contract": serializers.CharField(allow_null=True),
                "confirmations": serializers.IntegerField(),
                "watching": serializers.BooleanField(),
            },
            allow_null=True,
        )
    )
    def get_pay_to(self, intent) -> dict | None:
        return evm_payment_details(intent.token) if intent.reference is None else None

    @extend_schema_field(
        inline_serializer(
            "SolanaPayRequest",
            {
                "url": serializers.CharField(),
                "reference": serializers.CharField(),
                "treasury": serializers.CharField(),
                "mint": serializers.CharField(allow_null=True),
                "cluster": serializers.CharField(),
                "commitment": serializers.CharField(),
                "watching": serializers.BooleanField(),
            },
            allow_null=True,
        )
    )
    def get_solana_pay(self, intent) -> dict | None:
        details = solana_payment_details(intent.token) if intent.reference else None
        if details is None:
            return None
        return {"url": solana_pay_url(intent), "reference": intent.reference, **details}


class DepositIntentListCreateApi(APIView):
    """A factory's on-chain deposits (owner only; another creator's factory is a 404). POST
    `{wallet, amount}` announces one on EVM: send exactly `amount` of the factory's token from
    that linked wallet to `pay_to.treasury`; the watcher credits it after
    `pay_to.confirmations`. For a Solana token, POST `{amount}`: the answer's `solana_pay.url` is
    a Solana Pay request with a unique reference, credited once finalized."""

    permission_classes = [IsAuthenticated, IsCreator]

    @extend_schema_serializer(component_name="DepositIntentCreate")
    class InputSerializer(serializers.Serializer):
        wallet = serializers.IntegerField(min_value=1, max_value=2**62, required=False)
        amount = AmountStringField(max_length=64)

    def _factory(self, request, pk: int):
        factory = factory_for_creator(request.user, pk)
        if factory is None:
            raise NotFound("No such factory.")
        return factory

    @extend_schema(responses=DepositIntentSerializer(many=True))
    def get(self, request, pk: int):
        factory = self._factory(request, pk)
        return Response(DepositIntentSerializer(deposit_intents_of(factory), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: DepositIntentSerializer})
    def post(self, request, pk: int):
        factory = self._factory(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if factory.token.chain == ChainKind.SOLANA:
            intent = solana_deposit_intent_create(
                factory=factory, actor=request.user, amount=data.validated_data["amount"]
            )
        else:
            intent = deposit_intent_create(
                factory=factory,
                actor=request.user,
                wallet_id=data.validated_data.get("wallet"),
                amount=data.validated_data["amount"],
            )
        return Response(DepositIntentSerializer(intent).data, status=status.HTTP_201_CREATED)
