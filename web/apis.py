"""API endpoints that span apps: registering (an account, a farmer profile, a referral) and
/me/ (the account with its reputation and referral codes). The rest of the API lives in each
app's apis.py; forge/api_urls.py maps every URL of the contract."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.links import signin_seen, signin_signal_record
from accounts.models import SignInSignal
from accounts.services import api_token_for
from core.api import FailOpenScopedRateThrottle
from farmers.selectors import reputation_of
from referrals.selectors import ambassador_for_user

from .signup import user_signup


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
        user = user_signup(**data.validated_data)
        signin_signal_record(user=user, kind=SignInSignal.Kind.REGISTRATION, **signin_seen(request))
        body = {"id": user.pk, "username": user.username, "role": user.role, "token": api_token_for(user)}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


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
