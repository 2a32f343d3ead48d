"""Claims: a farmer reserves one reward (api-contract.md "Claims")."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import (
    FailOpenScopedRateThrottle,
    IsFarmer,
    amount_str,
)

from ..access import access_factory
from ..services.claims import claim_create


class ClaimOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    factory = serializers.IntegerField(source="factory_id")
    reward = serializers.SerializerMethodField()
    token = serializers.CharField(source="factory.token.symbol")
    task = serializers.IntegerField(source="task_id", allow_null=True)
    status = serializers.CharField()
    expires_at = serializers.DateTimeField()

    def get_reward(self, claim) -> str:
        return amount_str(claim.reward, claim.factory.token)


class ClaimCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsFarmer]
    throttle_classes = [FailOpenScopedRateThrottle]
    throttle_scope = "claims"

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ClaimCreateInput"

        task = serializers.IntegerField(
            required=False, allow_null=True, help_text="The task claimed, on a factory with several (required there)."
        )

    @extend_schema(request=InputSerializer, responses={201: ClaimOutputSerializer})
    def post(self, request, pk: int):
        # Not filtered by visibility: a paused, full or closed factory answers 409, not 404.
        factory = access_factory(request.user, pk, need="claim")
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        claim = claim_create(factory=factory, farmer=request.user, task_id=data.validated_data.get("task"))
        return Response(ClaimOutputSerializer(claim).data, status=status.HTTP_201_CREATED)
