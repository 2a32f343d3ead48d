"""Account endpoints: register, token, me, balances, token rotation."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from farmers.selectors import reputation_of
from forge.api import FailOpenScopedRateThrottle, amount_str
from forge.exceptions import ApplicationError
from referrals.selectors import ambassador_for_user

from .selectors import user_balances
from .services import api_token_for, api_token_revoke, api_token_rotate, user_register


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [FailOpenScopedRateThrottle]
    throttle_scope = "register"

    @extend_schema_serializer(component_name="Registration")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, write_only=True)
        role = serializers.ChoiceField(choices=["creator", "farmer"])
        referral_code = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)
        email = serializers.EmailField(required=False, allow_blank=True)

    @extend_schema_serializer(component_name="Registered")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        role = serializers.CharField()
        token = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_register(**data.validated_data)
        body = {"id": user.pk, "username": user.username, "role": user.role, "token": api_token_for(user)}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


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


class MeApi(APIView):
    @extend_schema_serializer(component_name="Me")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        role = serializers.CharField()
        is_staff = serializers.BooleanField()
        reputation = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)
        referred_by = serializers.CharField(allow_null=True)
        ambassador_code = serializers.CharField(allow_null=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        user = request.user
        referral = getattr(user, "referral", None)
        ambassador = ambassador_for_user(user)
        body = {
            "id": user.pk,
            "username": user.username,
            "role": user.role,
            "is_staff": user.is_staff,
            "reputation": reputation_of(user) if user.role == "farmer" else None,
            "referred_by": referral.ambassador.code if referral else None,
            "ambassador_code": ambassador.code if ambassador else None,
        }
        return Response(self.OutputSerializer(body).data)


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
