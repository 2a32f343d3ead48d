"""A dry-run score before submitting (api-contract.md "Dry run"): rate-limited (scope
`dry_run`, failing open when Redis is down), anti-cheat signals withheld, nothing stored."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import FailOpenScopedRateThrottle, IsFarmer

from ..access import access_factory
from ..services.dry_run import demonstration_dry_run
from .submissions import _size_checked_data


class DryRunCheckSerializer(serializers.Serializer):
    check = serializers.CharField()
    required = serializers.BooleanField()
    passed = serializers.BooleanField()
    near_miss = serializers.CharField(allow_null=True)


class DryRunSerializer(serializers.Serializer):
    estimated_score = serializers.DecimalField(max_digits=5, decimal_places=4, source="answer.estimated_score")
    quality_threshold = serializers.DecimalField(max_digits=5, decimal_places=4, source="threshold")
    would_pass_threshold = serializers.BooleanField()
    graded_against = serializers.CharField(source="against", help_text='"claim" (its frozen terms) or "factory".')
    parts = serializers.DictField(child=serializers.DecimalField(max_digits=5, decimal_places=4), source="answer.parts")
    checks = DryRunCheckSerializer(many=True, source="answer.checks")
    reasons = serializers.ListField(child=serializers.CharField(), source="answer.reasons")


class FactoryDryRunApi(APIView):
    permission_classes = [IsAuthenticated, IsFarmer]
    throttle_classes = [FailOpenScopedRateThrottle]
    throttle_scope = "dry_run"

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FactoryDryRunInput"

        demonstration = serializers.JSONField()
        task = serializers.IntegerField(
            required=False,
            allow_null=True,
            help_text="On a factory with several tasks, the task to try (no open claim).",
        )

    @extend_schema(request=InputSerializer, responses=DryRunSerializer)
    def post(self, request, pk: int):
        factory = access_factory(request.user, pk, need="view")  # hidden from them: 404
        data = self.InputSerializer(data=_size_checked_data(request))
        data.is_valid(raise_exception=True)
        dry_run = demonstration_dry_run(
            factory=factory,
            farmer=request.user,
            demonstration=data.validated_data["demonstration"],
            task_id=data.validated_data.get("task"),
        )
        return Response(DryRunSerializer(dry_run).data)
