"""Submissions: create, read, list, review (api-contract.md "Submissions")."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import (
    FailOpenScopedRateThrottle,
    IsFarmer,
    IsStaffOrGrader,
    amount_str,
)

from ..access import access_submission
from ..demonstrations import EXAMPLE_DEMONSTRATION
from ..models import Submission
from ..selectors import (
    submission_list_for_user,
    submission_queryset,
)
from ..services.submissions import submission_create, submission_review
from .demonstration_schema import DemonstrationField


class SubmissionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    factory = serializers.IntegerField(source="factory_id")
    claim = serializers.IntegerField(source="claim_id")
    status = serializers.CharField()
    token = serializers.CharField(source="factory.token.symbol")
    quality_score = serializers.DecimalField(max_digits=5, decimal_places=4, allow_null=True)
    score_confidence = serializers.DecimalField(max_digits=5, decimal_places=4, allow_null=True)
    score_breakdown = serializers.JSONField()
    score_reasons = serializers.JSONField()
    needs_review = serializers.BooleanField()
    review_reasons = serializers.JSONField()
    evidence_status = serializers.CharField(
        help_text='The screen recording\'s examination: "" (no recording), "pending" (being checked; '
        'not scored before it is in), "examined", or "failed" (never examined: held for staff review).'
    )
    reward = serializers.SerializerMethodField()
    gross_payout = serializers.SerializerMethodField()
    platform_fee = serializers.SerializerMethodField()
    farmer_reward = serializers.SerializerMethodField()
    refunded_to_pool = serializers.SerializerMethodField()
    submitted_at = serializers.DateTimeField()
    settled_at = serializers.DateTimeField(allow_null=True)

    def _money(self, submission, name) -> str | None:
        return amount_str(getattr(submission, name), submission.factory.token)

    def get_reward(self, submission) -> str:
        return amount_str(submission.claim.reward, submission.factory.token)

    def get_gross_payout(self, submission) -> str | None:
        return self._money(submission, "gross_payout")

    def get_platform_fee(self, submission) -> str | None:
        return self._money(submission, "platform_fee")

    def get_farmer_reward(self, submission) -> str | None:
        return self._money(submission, "farmer_reward")

    def get_refunded_to_pool(self, submission) -> str | None:
        return self._money(submission, "refunded_to_pool")


# Bound once: building a serializer deep-copies its 18 fields, several times the cost of
# filling them. to_representation keeps no state, so one instance serves every request.
_submission_output = SubmissionOutputSerializer()


class SubmissionCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsFarmer]
    throttle_classes = [FailOpenScopedRateThrottle]
    throttle_scope = "submissions"

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SubmissionCreateInput"  # one schema component per endpoint

        demonstration = DemonstrationField(help_text="docs/demonstration-format.md; the farmer page /farm/format/.")

    @extend_schema(
        request=InputSerializer,
        responses={201: SubmissionOutputSerializer},
        examples=[
            OpenApiExample(
                "A spreadsheet named Budget 2026",
                value={"demonstration": EXAMPLE_DEMONSTRATION},
                request_only=True,
            )
        ],
    )
    def post(self, request, pk: int):
        data = self.InputSerializer(data=_size_checked_data(request))
        data.is_valid(raise_exception=True)
        # The service returns the row as written, with its claim and token: no need to read it back.
        submission = submission_create(
            claim_id=pk, farmer=request.user, demonstration=data.validated_data["demonstration"]
        )
        return Response(_submission_output.to_representation(submission), status=status.HTTP_201_CREATED)


def _size_checked_data(request):
    """The parsed body, after refusing an oversize one with a 400 naming the limit (Django's
    own DATA_UPLOAD_MAX_MEMORY_SIZE refusal would otherwise be an HTML page, not JSON)."""
    from django.conf import settings
    from django.core.exceptions import RequestDataTooBig, ValidationError

    from ..demonstrations import demonstration_size_ok

    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    # The body is read through a stream capped at CONTENT_LENGTH (and DRF reads no body without
    # one), so checking the declared length bounds what is parsed.
    demonstration_size_ok(declared)
    try:
        return request.data
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raise ValidationError({"demonstration": [f"The request body is over the {limit}-byte limit."]}) from None


def _submission_for(request, pk: int) -> Submission:
    return access_submission(request.user, pk)


class SubmissionDetailApi(APIView):
    allow_grader = True  # the grading service reads what it reviews

    @extend_schema(responses=SubmissionOutputSerializer)
    def get(self, request, pk: int):
        return Response(SubmissionOutputSerializer(_submission_for(request, pk)).data)


class SubmissionReviewApi(APIView):
    permission_classes = [IsAuthenticated, IsStaffOrGrader]
    allow_grader = True

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SubmissionReviewInput"  # one schema component per endpoint

        quality_score = serializers.CharField(max_length=16)
        reason = serializers.CharField(required=False, allow_blank=True, max_length=500)

    @extend_schema(request=InputSerializer, responses=SubmissionOutputSerializer)
    def post(self, request, pk: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submission_review(submission_id=pk, reviewer=request.user, **data.validated_data)
        return Response(SubmissionOutputSerializer(submission_queryset().get(pk=pk)).data)


class SubmissionListApi(ListAPIView):
    """The caller's own submissions (farmer) or their factories' (creator)."""

    serializer_class = SubmissionOutputSerializer

    @extend_schema(parameters=[OpenApiParameter("factory", int, required=False)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Submission.objects.none()
        queryset = submission_list_for_user(self.request.user)
        factory = self.request.query_params.get("factory")
        if factory and factory.isdigit():
            queryset = queryset.filter(factory__pk=int(factory))  # __pk: an id past 64 bits matches nothing
        return queryset
