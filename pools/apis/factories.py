"""Tokens and factories: list, create, read, change the rate, pause, resume, close (api-contract.md "Factories")."""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import (
    AmountStringField,
    GraderOnlyWhereAllowed,
    IsCreator,
    amount_str,
)
from core.exceptions import Forbidden
from ledger.models import Token

from ..access import access_factory
from ..models import FACTORY_TERM_BOUNDS, Factory
from ..selectors import (
    factory_list_for_user,
    factory_queryset,
    pool_summary,
)
from ..services.factories import factory_close, factory_create, factory_pause, factory_rate_change, factory_resume


class TokenListApi(APIView):
    permission_classes = [AllowAny, GraderOnlyWhereAllowed]

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Token
            fields = ["symbol", "name", "decimals", "chain"]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        return Response(self.OutputSerializer(Token.objects.filter(enabled=True), many=True).data)


class FactoryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    instructions = serializers.CharField()
    category = serializers.CharField()
    token = serializers.CharField(source="token.symbol")
    reward = serializers.SerializerMethodField()
    status = serializers.CharField()
    target_count = serializers.IntegerField(allow_null=True)
    accepted_count = serializers.IntegerField()
    slots_left = serializers.IntegerField(allow_null=True)
    expected_minutes = serializers.IntegerField()
    claim_timeout_minutes = serializers.IntegerField()
    per_farmer_limit = serializers.IntegerField(allow_null=True)
    min_reputation = serializers.DecimalField(max_digits=5, decimal_places=2)
    success_checks = serializers.JSONField(
        allow_null=True, help_text="The creator's success checks (docs/quality-agent.md); null: proposed per claim."
    )
    requires_recording = serializers.BooleanField(
        help_text="Evidence policy: demonstrations must be a recorder archive with its screen video "
        "(POST /claims/{id}/recording/); a JSON-only submission is refused with 400."
    )
    reference_count = serializers.SerializerMethodField(help_text="How many reference demonstrations it has.")
    created_at = serializers.DateTimeField()

    def get_reference_count(self, factory) -> int:
        return len(factory.reference_demonstrations or [])

    def get_reward(self, factory) -> str:
        return amount_str(factory.reward, factory.token)


class PoolSerializer(serializers.Serializer):
    deposited = serializers.CharField()
    available = serializers.CharField()
    reserved = serializers.CharField()
    paid_out = serializers.CharField()
    refunded = serializers.CharField()


class RateChangeSerializer(serializers.Serializer):
    old_reward = serializers.CharField(allow_null=True)
    new_reward = serializers.CharField()
    changed_at = serializers.DateTimeField()


class FactoryDetailSerializer(FactoryOutputSerializer):
    pool = serializers.SerializerMethodField()
    closed_at = serializers.DateTimeField(allow_null=True)
    rate_history = serializers.SerializerMethodField()

    @extend_schema_field(RateChangeSerializer(many=True))
    def get_rate_history(self, factory) -> list[dict]:
        """Every reward the factory has offered, newest first (the first has no old_reward)."""
        return [
            {
                "old_reward": amount_str(change.old_reward, factory.token),
                "new_reward": amount_str(change.new_reward, factory.token),
                "changed_at": change.created_at,
            }
            for change in factory.rate_changes.all()
        ]

    @extend_schema_field(PoolSerializer)
    def get_pool(self, factory) -> dict:
        summary = pool_summary(factory)
        return {
            name: amount_str(getattr(summary, name), factory.token)
            for name in ("deposited", "available", "reserved", "paid_out", "refunded")
        }


def _bounded_integer(name: str, **kwargs) -> serializers.IntegerField:
    """An integer term. Its bounds (pools.models.FACTORY_TERM_BOUNDS) are enforced by the
    service, as for the pages, so that every field's error comes back in one answer (a bound
    here would hide the reward's error); the schema states them."""
    low, high = FACTORY_TERM_BOUNDS[name]
    return serializers.IntegerField(required=False, help_text=f"{low:,} to {high:,}.", **kwargs)


class FactoryListCreateApi(ListAPIView):
    serializer_class = FactoryOutputSerializer

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FactoryCreateInput"  # one schema component per endpoint

        title = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
        instructions = serializers.CharField(max_length=20_000)
        category = serializers.CharField(required=False, allow_blank=True, max_length=64)
        tags = serializers.CharField(required=False, allow_blank=True, max_length=255)
        token = serializers.CharField(max_length=16)
        reward = AmountStringField(max_length=64)
        target_count = _bounded_integer("target_count", allow_null=True)
        expected_minutes = _bounded_integer("expected_minutes")
        claim_timeout_minutes = _bounded_integer("claim_timeout_minutes")
        per_farmer_limit = _bounded_integer("per_farmer_limit", allow_null=True)
        min_reputation = serializers.DecimalField(
            required=False, max_digits=5, decimal_places=2, min_value=0, max_value=100
        )
        reference_demonstrations = serializers.JSONField(
            required=False,
            allow_null=True,
            help_text="Up to 5 recordings of the task done well (each a demonstration, docs/demonstration-format.md): "
            "the agent scores how far a farmer's steps follow their milestones, in order (docs/quality-agent.md).",
        )
        success_checks = serializers.JSONField(
            required=False,
            allow_null=True,
            help_text="A list of checks ({kind, value | values, required, match_case}; docs/quality-agent.md). "
            "Omitted, null or []: the agent proposes them from the instructions when a farmer claims.",
        )
        requires_recording = serializers.BooleanField(
            required=False,
            help_text="Require a screen recording (the desktop recorder's archive) with every demonstration. "
            "Default false.",
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Factory.objects.none()
        return factory_list_for_user(self.request.user).order_by("-created_at", "-id")

    @extend_schema(request=InputSerializer, responses={201: FactoryDetailSerializer})
    def post(self, request):
        if not IsCreator().has_permission(request, self):
            raise Forbidden("Only factory creators can create factories.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        factory = factory_create(creator=request.user, **data.validated_data)
        factory = factory_queryset().get(pk=factory.pk)
        return Response(FactoryDetailSerializer(factory).data, status=status.HTTP_201_CREATED)


class FactoryDetailApi(APIView):
    @extend_schema(responses=FactoryDetailSerializer)
    def get(self, request, pk: int):
        return Response(FactoryDetailSerializer(access_factory(request.user, pk, need="view")).data)


class FactoryRateApi(APIView):
    permission_classes = [IsAuthenticated, IsCreator]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FactoryRateInput"  # one schema component per endpoint

        reward = AmountStringField(max_length=64)

    @extend_schema(request=InputSerializer, responses=FactoryDetailSerializer)
    def post(self, request, pk: int):
        factory = access_factory(request.user, pk, need="owner")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        factory_rate_change(factory=factory, reward=data.validated_data["reward"], actor=request.user)
        return Response(FactoryDetailSerializer(factory_queryset().get(pk=pk)).data)


class _FactoryTransitionApi(APIView):
    """POST with no body: the owner moves the factory to another status (409 when its current
    status does not allow it; repeating the same move is a no-op)."""

    permission_classes = [IsAuthenticated, IsCreator]
    service: Callable[..., Factory]  # a factory service taking (factory=, actor=)

    @extend_schema(request=None, responses=FactoryDetailSerializer)
    def post(self, request, pk: int):
        factory = access_factory(request.user, pk, need="owner")
        self.service(factory=factory, actor=request.user)
        return Response(FactoryDetailSerializer(factory_queryset().get(pk=pk)).data)


class FactoryPauseApi(_FactoryTransitionApi):
    """Active -> paused: hidden from farmers, no new claims; open claims may still submit."""

    service = staticmethod(factory_pause)


class FactoryResumeApi(_FactoryTransitionApi):
    """Paused -> active."""

    service = staticmethod(factory_resume)


class FactoryCloseApi(_FactoryTransitionApi):
    """Draft, active or paused -> closed, for good: what the pool holds goes back to the creator,
    now for the available part and as each in-flight claim expires or settles for the rest."""

    service = staticmethod(factory_close)
