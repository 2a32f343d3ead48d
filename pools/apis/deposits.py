"""Deposits into a factory's pool, and their confirmation (api-contract.md "Deposits")."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import (
    AmountStringField,
    IsCreator,
    amount_str,
)
from core.exceptions import Forbidden

from ..access import access_factory
from ..models import Deposit
from ..services.deposits import deposit_confirm, deposit_create, factory_fund_from_balance


class DepositOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    factory = serializers.IntegerField(source="factory_id")
    token = serializers.CharField(source="token.symbol")
    amount = serializers.SerializerMethodField()
    tx_ref = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_amount(self, deposit) -> str:
        return amount_str(deposit.amount, deposit.token)


class DepositCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsCreator]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DepositCreateInput"  # one schema component per endpoint

        amount = AmountStringField(max_length=64)
        tx_ref = serializers.CharField(max_length=128)

    @extend_schema(request=InputSerializer, responses={201: DepositOutputSerializer})
    def post(self, request, pk: int):
        factory = access_factory(request.user, pk, need="owner")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deposit = deposit_create(factory=factory, actor=request.user, **data.validated_data)
        return Response(DepositOutputSerializer(deposit).data, status=status.HTTP_201_CREATED)


class DepositConfirmApi(APIView):
    """Staff, or the payment-confirmation service (a staff service account)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=DepositOutputSerializer)
    def post(self, request, pk: int):
        if not request.user.is_staff:
            raise Forbidden("Only staff or the payment service can confirm deposits.")
        deposit = get_object_or_404(Deposit.objects.select_related("token"), pk=pk)
        deposit = deposit_confirm(deposit=deposit, actor=request.user)
        return Response(DepositOutputSerializer(deposit).data)


class FactoryFundFromBalanceApi(APIView):
    """The owner funds the factory from their own balance (a closed factory's refund, say);
    `request_id` is the idempotency key (a repeat returns the first deposit)."""

    permission_classes = [IsAuthenticated, IsCreator]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FundFromBalanceInput"

        amount = AmountStringField(max_length=64)
        request_id = serializers.CharField(max_length=64)

    @extend_schema(request=InputSerializer, responses={201: DepositOutputSerializer})
    def post(self, request, pk: int):
        factory = access_factory(request.user, pk, need="owner")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deposit = factory_fund_from_balance(factory=factory, actor=request.user, **data.validated_data)
        return Response(DepositOutputSerializer(deposit).data, status=status.HTTP_201_CREATED)
