"""Staff endpoints over the ledger: the audit and the treasury."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IsStaff
from core.money import format_amount

from .audit import ledger_audit
from .models import Account


class AuditApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        responses=inline_serializer(
            "LedgerAudit",
            {
                "ok": serializers.BooleanField(),
                "tokens": serializers.DictField(),
                "mismatches": serializers.ListField(),
            },
        )
    )
    def get(self, request):
        return Response(ledger_audit().as_dict())


class TreasuryApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        responses=inline_serializer(
            "TreasuryRow", {"token": serializers.CharField(), "balance": serializers.CharField()}, many=True
        )
    )
    def get(self, request):
        accounts = Account.objects.filter(kind=Account.Kind.TREASURY).select_related("token").order_by("token_id")
        return Response(
            [
                {"token": a.token.symbol, "balance": format_amount(a.balance, decimals=a.token.decimals)}
                for a in accounts
            ]
        )
