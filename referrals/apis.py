"""Ambassador endpoints: become one (or read your own), and staff tier changes."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IsStaff
from core.exceptions import NotFound

from .models import Ambassador
from .selectors import ambassador_by_code, ambassador_for_user, tier_rates
from .services import ambassador_create, ambassador_set_tier


@extend_schema_serializer(component_name="Ambassador")
class AmbassadorOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    tier = serializers.IntegerField()
    commission_rate = serializers.DecimalField(max_digits=6, decimal_places=5)
    tier_override = serializers.IntegerField(allow_null=True)
    stake_tier = serializers.IntegerField()
    link = serializers.CharField()


def _out(request, ambassador: Ambassador) -> dict:
    body = {
        "code": ambassador.code,
        "tier": ambassador.tier,
        "commission_rate": tier_rates().get(ambassador.tier),
        "tier_override": ambassador.tier_override,
        "stake_tier": ambassador.stake_tier,
        "link": request.build_absolute_uri(reverse("referrals:link", kwargs={"code": ambassador.code})),
    }
    return AmbassadorOutputSerializer(body).data


class BecomeAmbassadorApi(APIView):
    @extend_schema(responses=AmbassadorOutputSerializer)
    def get(self, request):
        ambassador = ambassador_for_user(request.user)
        if ambassador is None:
            raise NotFound("You are not an ambassador yet: POST here to become one.")
        return Response(_out(request, ambassador))

    @extend_schema(request=None, responses={200: AmbassadorOutputSerializer, 201: AmbassadorOutputSerializer})
    def post(self, request):
        ambassador, created = ambassador_create(user=request.user)
        return Response(_out(request, ambassador), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AmbassadorTierApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema_serializer(component_name="AmbassadorTier")
    class InputSerializer(serializers.Serializer):
        tier = serializers.IntegerField(
            min_value=0, max_value=5, allow_null=True, help_text="The override; null: follow the stake again."
        )

    @extend_schema(request=InputSerializer, responses=AmbassadorOutputSerializer)
    def patch(self, request, code: str):
        ambassador = ambassador_by_code(code)
        if ambassador is None:
            raise NotFound("No ambassador has this code.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ambassador = ambassador_set_tier(ambassador=ambassador, tier=data.validated_data["tier"], actor=request.user)
        return Response(_out(request, ambassador))
