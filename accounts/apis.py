"""Account endpoints: token, balances, token rotation (registering and /me/ span apps: web.apis)."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import AmountStringField, FailOpenScopedRateThrottle, amount_str
from core.exceptions import ApplicationError

from .links import signin_seen, signin_signal_record
from .models import SignInSignal
from .selectors import user_balances, withdrawals_of
from .services import api_token_for, api_token_revoke, api_token_rotate, withdrawal_request


class TokenApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [FailOpenScopedRateThrottle]
    throttle_scope = "token"

    @extend_schema_serializer(component_name="Credentials")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, write_only=True)

    @extend_schema(
        request=InputSerializer, responses={200: inline_serializer("TokenOut", {"token": serializers.CharField()})}
    )
    def post(self, request):
        from django.contrib.auth import authenticate
        from django.contrib.auth.signals import user_logged_in

        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
        if user is None and getattr(request, "axes_locked_out", False):
            # django-axes locked this username for this address after AXES_FAILURE_LIMIT failed
            # logins (the API and the login page count together); say so, as the page does.
            from axes.helpers import get_cool_off

            cool_off = get_cool_off(request)
            raise Throttled(
                wait=cool_off.total_seconds() if cool_off else None,
                detail="Too many failed logins for this account from this address. Try again later.",
            )
        if user is None or not user.is_active:
            raise ApplicationError("Unable to log in with these credentials.")
        # A sign-in like the login page's: django-axes resets the failure count
        # (AXES_RESET_ON_SUCCESS) and last_login is kept.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        signin_signal_record(user=user, kind=SignInSignal.Kind.TOKEN, **signin_seen(request))
        return Response({"token": api_token_for(user)})


class TokenRotateApi(APIView):
    @extend_schema(request=None, responses={200: inline_serializer("TokenRotated", {"token": serializers.CharField()})})
    def post(self, request):
        return Response({"token": api_token_rotate(user=request.user)})


class TokenRevokeApi(APIView):
    """Delete the caller's API token: it stops working at once (sign in again for a new one)."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        api_token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BalancesApi(APIView):
    @extend_schema_serializer(component_name="Balance")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        available = serializers.CharField()
        staked = serializers.CharField()
        unstaking = serializers.CharField()
        pending_withdrawal = serializers.CharField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        rows = [
            {
                "token": row["token"].symbol,
                **{
                    key: amount_str(row[key], row["token"])
                    for key in ("available", "staked", "unstaking", "pending_withdrawal")
                },
            }
            for row in user_balances(request.user)
        ]
        return Response(self.OutputSerializer(rows, many=True).data)


class WithdrawalOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    token = serializers.CharField(source="token.symbol")
    amount = serializers.SerializerMethodField()
    address = serializers.CharField()
    status = serializers.CharField()
    chain_ref = serializers.CharField()
    reject_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)

    def get_amount(self, withdrawal) -> str:
        return amount_str(withdrawal.amount, withdrawal.token)


class WithdrawalListCreateApi(APIView):
    """The caller's withdrawals (farmers, ambassadors and creators alike), newest first, and a
    new one to a wallet they linked by signature (docs/chain.md: approval limits, payouts)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "WithdrawalCreateInput"

        token = serializers.CharField(max_length=16)
        amount = AmountStringField(max_length=64)
        address = serializers.CharField(max_length=128)

    @extend_schema(responses=WithdrawalOutputSerializer(many=True))
    def get(self, request):
        rows = withdrawals_of(request.user)[:100]
        return Response(WithdrawalOutputSerializer(rows, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: WithdrawalOutputSerializer})
    def post(self, request):
        from django.core.exceptions import ValidationError

        from ledger.models import Token

        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = Token.objects.filter(symbol=data.validated_data["token"]).first()
        if token is None:
            raise ValidationError({"token": ["Unknown token."]})
        withdrawal = withdrawal_request(
            user=request.user, token=token, amount=data.validated_data["amount"], address=data.validated_data["address"]
        )
        return Response(WithdrawalOutputSerializer(withdrawal).data, status=status.HTTP_201_CREATED)
