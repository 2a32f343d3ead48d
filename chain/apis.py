"""Wallet endpoints: list the caller's wallets, ask for a sign-in nonce, link a wallet by its
signed message, unlink one. Every signed-in user (not the grading service) may use them, on
their own wallets only."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from .models import ChainKind, Wallet
from .selectors import wallets_of
from .services import wallet_link, wallet_nonce_issue, wallet_unlink


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
        chain = serializers.ChoiceField(choices=ChainKind.values)
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
        chain = serializers.ChoiceField(choices=ChainKind.values)
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
