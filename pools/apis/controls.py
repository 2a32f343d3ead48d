"""A creator's controls (api-contract.md "Creator controls"): allow and block lists, flags
on paid demonstrations (decided by staff), bonuses."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import AmountStringField, IsCreator, IsStaff, amount_str

from ..access import access_submission
from ..selectors import farmer_list_of
from ..services.controls import (
    NOTE_MAX,
    REASON_MAX,
    bonus_give,
    farmer_list_remove,
    farmer_list_set,
    flag_decide,
    flag_open,
)


class FarmerListEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField(source="farmer.username")
    kind = serializers.CharField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class FarmerListApi(APIView):
    permission_classes = [IsAuthenticated, IsCreator]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FarmerListInput"

        username = serializers.CharField(max_length=150)
        kind = serializers.ChoiceField(choices=["allow", "block"])
        note = serializers.CharField(max_length=NOTE_MAX, required=False, allow_blank=True)

    @extend_schema(responses=FarmerListEntrySerializer(many=True))
    def get(self, request):
        return Response(FarmerListEntrySerializer(farmer_list_of(request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: FarmerListEntrySerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = farmer_list_set(creator=request.user, **data.validated_data)
        return Response(FarmerListEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class FarmerListEntryApi(APIView):
    permission_classes = [IsAuthenticated, IsCreator]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk: int):
        farmer_list_remove(creator=request.user, entry_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FlagSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    submission = serializers.IntegerField(source="submission_id")
    reason = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField()


class SubmissionFlagApi(APIView):
    """The factory's creator flags a paid demonstration for staff review (409 outside the
    window, when not paid, or already flagged with another reason)."""

    permission_classes = [IsAuthenticated, IsCreator]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SubmissionFlagInput"

        reason = serializers.CharField(max_length=REASON_MAX)

    @extend_schema(request=InputSerializer, responses={201: FlagSerializer})
    def post(self, request, pk: int):
        access_submission(request.user, pk)  # the 404 every other submission endpoint gives
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        flag = flag_open(submission_id=pk, creator=request.user, **data.validated_data)
        return Response(FlagSerializer(flag).data, status=status.HTTP_201_CREATED)


class FlagDecisionApi(APIView):
    """Staff uphold (the payment is reversed) or dismiss a flag."""

    permission_classes = [IsAuthenticated, IsStaff]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FlagDecisionInput"

        upheld = serializers.BooleanField()
        reason = serializers.CharField(max_length=REASON_MAX)

    @extend_schema(request=InputSerializer, responses=FlagSerializer)
    def post(self, request, pk: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        flag = flag_decide(flag_id=pk, reviewer=request.user, **data.validated_data)
        return Response(FlagSerializer(flag).data)


class BonusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    submission = serializers.IntegerField(source="submission_id")
    token = serializers.CharField(source="factory.token.symbol")
    amount = serializers.SerializerMethodField()
    platform_fee = serializers.SerializerMethodField()
    farmer_amount = serializers.SerializerMethodField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_amount(self, bonus) -> str:
        return amount_str(bonus.amount, bonus.factory.token)

    def get_platform_fee(self, bonus) -> str:
        return amount_str(bonus.platform_fee, bonus.factory.token)

    def get_farmer_amount(self, bonus) -> str:
        return amount_str(bonus.farmer_amount, bonus.factory.token)


class SubmissionBonusApi(APIView):
    """The factory's creator pays the farmer of a paid demonstration a bonus from the pool (one
    per submission; the same request again answers the same bonus)."""

    permission_classes = [IsAuthenticated, IsCreator]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SubmissionBonusInput"

        amount = AmountStringField(max_length=64)
        note = serializers.CharField(max_length=200, required=False, allow_blank=True)

    @extend_schema(request=InputSerializer, responses={201: BonusSerializer})
    def post(self, request, pk: int):
        access_submission(request.user, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        bonus = bonus_give(submission_id=pk, creator=request.user, **data.validated_data)
        return Response(BonusSerializer(bonus).data, status=status.HTTP_201_CREATED)
