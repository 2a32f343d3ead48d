"""API for tokens, factories, deposits, claims and submissions (api-contract.md)."""

from __future__ import annotations

from collections.abc import Callable

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import (
    AmountStringField,
    FailOpenScopedRateThrottle,
    GraderOnlyWhereAllowed,
    IsCreator,
    IsFarmer,
    IsStaffOrGrader,
    amount_str,
)
from core.exceptions import Forbidden, NotFound
from ledger.models import Token

from .access import access_factory, access_submission
from .models import FACTORY_TERM_BOUNDS, Deposit, Factory, Submission
from .selectors import (
    factory_list_for_user,
    factory_queryset,
    pool_summary,
    submission_list_for_user,
    submission_queryset,
)
from .services.claims import claim_create
from .services.deposits import deposit_confirm, deposit_create
from .services.factories import factory_close, factory_create, factory_pause, factory_rate_change, factory_resume
from .services.submissions import submission_create, submission_review


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
    created_at = serializers.DateTimeField()

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


def _factory_for(request, pk: int) -> Factory:
    return access_factory(request.user, pk, need="view")


def _owned_factory(request, pk: int) -> Factory:
    """For the owner's actions: 404 when it does not exist, 403 when it is someone else's
    (checked before the body is validated, so a stranger learns nothing from field errors)."""
    return access_factory(request.user, pk, need="owner")


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
        success_checks = serializers.JSONField(
            required=False,
            allow_null=True,
            help_text="A list of checks ({kind, value | values, required, match_case}; docs/quality-agent.md). "
            "Omitted, null or []: the agent proposes them from the instructions when a farmer claims.",
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
        return Response(FactoryDetailSerializer(_factory_for(request, pk)).data)


class FactoryRateApi(APIView):
    permission_classes = [IsAuthenticated, IsCreator]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FactoryRateInput"  # one schema component per endpoint

        reward = AmountStringField(max_length=64)

    @extend_schema(request=InputSerializer, responses=FactoryDetailSerializer)
    def post(self, request, pk: int):
        factory = _owned_factory(request, pk)
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
        factory = _owned_factory(request, pk)
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
        factory = _owned_factory(request, pk)
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


class ClaimOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    factory = serializers.IntegerField(source="factory_id")
    reward = serializers.SerializerMethodField()
    token = serializers.CharField(source="factory.token.symbol")
    status = serializers.CharField()
    expires_at = serializers.DateTimeField()

    def get_reward(self, claim) -> str:
        return amount_str(claim.reward, claim.factory.token)


class ClaimCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsFarmer]
    throttle_classes = [FailOpenScopedRateThrottle]
    throttle_scope = "claims"

    @extend_schema(request=None, responses={201: ClaimOutputSerializer})
    def post(self, request, pk: int):
        # Not filtered by visibility: a paused, full or closed factory answers 409, not 404.
        factory = access_factory(request.user, pk, need="claim")
        claim = claim_create(factory=factory, farmer=request.user)
        return Response(ClaimOutputSerializer(claim).data, status=status.HTTP_201_CREATED)


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

        demonstration = serializers.JSONField()

    @extend_schema(request=InputSerializer, responses={201: SubmissionOutputSerializer})
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

    from .demonstrations import demonstration_size_ok

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


# ---- Attachments (api-contract.md "Datasets"; the dataset endpoints are datasets/apis.py) ----


class DatasetAttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    uploaded = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    def get_uploaded(self, attachment) -> bool:
        return attachment.uploaded_at is not None

    def get_download_url(self, attachment) -> str | None:
        if attachment.uploaded_at is None:
            return None
        from django.urls import reverse

        path = reverse(
            "api:submission-attachment", kwargs={"pk": attachment.submission_id, "attachment_id": attachment.pk}
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


def attachment_file_response(attachment):
    from django.http import FileResponse
    from django.utils.text import get_valid_filename

    if attachment.uploaded_at is None or not attachment.file:
        raise NotFound("This attachment has not been uploaded.")
    return FileResponse(
        attachment.file.storage.open(attachment.file.name, "rb"),
        as_attachment=True,
        filename=get_valid_filename(attachment.name.rsplit("/", 1)[-1]) or "attachment",
        content_type=attachment.content_type,
    )


class SubmissionAttachmentApi(APIView):
    """PUT: the submitting farmer uploads a declared attachment (the raw body with the declared
    Content-Type, or multipart with one file). GET: download it (the farmer, the factory's
    owner, staff; others 404)."""

    @extend_schema(
        request={"application/octet-stream": bytes, "multipart/form-data": {"type": "object"}},
        responses=DatasetAttachmentSerializer,
    )
    def put(self, request, pk: int, attachment_id: int):
        from django.core.exceptions import ValidationError

        from .services.attachments import attachment_for_uploader, attachment_max_bytes, attachment_upload

        attachment = attachment_for_uploader(submission_id=pk, attachment_id=attachment_id, user=request.user)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = attachment_max_bytes()
        if request.content_type.startswith("multipart/form-data"):
            # Room for the multipart envelope; the file's own size is checked exactly below.
            if length > limit + 64 * 1024:
                raise ValidationError({"size": [f"The request is over the {limit}-byte limit."]})
            files = list(request.FILES.values())
            if len(files) != 1:
                raise ValidationError({"file": ["Send exactly one file."]})
            upload = files[0]
            attachment = attachment_upload(
                attachment=attachment, chunks=upload.chunks(), content_type=upload.content_type, length=upload.size
            )
        else:
            if length <= 0:
                raise ValidationError({"size": ["Send the file as the request body, with a Content-Length."]})
            stream = request.stream
            attachment = attachment_upload(
                attachment=attachment,
                chunks=iter(lambda: stream.read(1024 * 1024), b""),
                content_type=request.content_type,
                length=length,
            )
        return Response(DatasetAttachmentSerializer(attachment, context={"request": request}).data)

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, pk: int, attachment_id: int):
        from .models import Attachment

        attachment = (
            Attachment.objects.select_related("submission__factory")
            .filter(pk=attachment_id, submission__pk=pk)  # __pk: an id past 64 bits matches nothing
            .first()
        )
        user = request.user
        if attachment is None or not (
            user.is_staff
            or attachment.submission.farmer_id == user.pk
            or attachment.submission.factory.creator_id == user.pk
        ):
            raise NotFound("No such attachment.")
        return attachment_file_response(attachment)
