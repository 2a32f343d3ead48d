"""The public proof API: published hours (anyone), one hour with all its receipts (anyone: to
recompute the root and the totals per pool), and a farmer's own receipt file with its Merkle path."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import GraderOnlyWhereAllowed
from core.exceptions import NotFound
from core.pagination import Pagination

from .keys import receipt_public_key
from .selectors import batch_receipts, batch_statement, batches_published, receipt_document


class ReceiptHourListApi(APIView):
    """Published hours, newest first (paginated), and the key that signs them."""

    permission_classes = [AllowAny, GraderOnlyWhereAllowed]
    allow_grader = True  # public data

    @extend_schema(operation_id="v1_receipts_hours_list", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(batches_published(), request, view=self)
        response = paginator.get_paginated_response([{"id": batch.pk, **batch_statement(batch)} for batch in page])
        response.data["public_key"] = receipt_public_key()
        return response


class ReceiptHourApi(APIView):
    """One published hour: its signed statement and every receipt in leaf order."""

    permission_classes = [AllowAny, GraderOnlyWhereAllowed]
    allow_grader = True

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk: int):
        batch = get_object_or_404(batches_published(), pk=pk)
        return Response({"id": batch.pk, **batch_statement(batch), "receipts": batch_receipts(batch)})


class ReceiptApi(APIView):
    """The caller's own receipt of a submission, with its Merkle path and hour: the file that
    `scripts/receipt_verify.py` checks offline. Another user's submission is a 404."""

    permission_classes = [IsAuthenticated, GraderOnlyWhereAllowed]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, submission_id: int):
        document = receipt_document(user=request.user, submission_id=submission_id)
        if document is None:
            raise NotFound("No receipt of yours for this submission (yet).")
        return Response(document)
