"""The notification centre and webhook endpoints in the API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IsCreator
from core.exceptions import NotFound

from .models import Kind, Notification, WebhookDelivery, WebhookEndpoint
from .selectors import (
    notifications_of,
    preferences_of,
    unread_count,
    webhook_deliveries_of,
    webhook_endpoint_of,
    webhook_endpoints_of,
)
from .services import (
    WEBHOOK_EVENT_TYPES,
    notification_preferences_set,
    notifications_mark_read,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_test_send,
)


class NotificationOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "subject", "body", "url", "payload", "created_at", "read_at"]


class NotificationListApi(ListAPIView):
    """The caller's notifications, newest first; `X-Unread-Count` says how many are unread."""

    serializer_class = NotificationOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        return notifications_of(self.request.user)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        response["X-Unread-Count"] = str(unread_count(request.user))
        return response


class NotificationReadApi(APIView):
    """Mark the given ids (or all, without `ids`) of the caller's notifications read."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "NotificationReadInput"

        ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)

    @extend_schema(request=InputSerializer, responses={200: None})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        marked = notifications_mark_read(user=request.user, ids=data.validated_data.get("ids"))
        return Response({"marked": marked, "unread": unread_count(request.user)})


class PreferenceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices)
    in_app = serializers.BooleanField()
    email = serializers.BooleanField()


class NotificationPreferencesApi(APIView):
    """GET every kind with the caller's choice; PUT a list of choices (other kinds unchanged)."""

    @extend_schema(responses=PreferenceSerializer(many=True))
    def get(self, request):
        return Response(PreferenceSerializer(preferences_of(request.user), many=True).data)

    @extend_schema(request=PreferenceSerializer(many=True), responses=PreferenceSerializer(many=True))
    def put(self, request):
        data = PreferenceSerializer(data=request.data, many=True)
        data.is_valid(raise_exception=True)
        notification_preferences_set(
            user=request.user, choices={row["kind"]: (row["in_app"], row["email"]) for row in data.validated_data}
        )
        return Response(PreferenceSerializer(preferences_of(request.user), many=True).data)


class WebhookEndpointOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "event_types", "is_active", "secret", "created_at"]


class WebhookDeliveryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "message_id",
            "event_type",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "created_at",
            "delivered_at",
        ]


class WebhookEndpointListCreateApi(APIView):
    permission_classes = [IsAuthenticated, IsCreator]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "WebhookEndpointInput"

        url = serializers.CharField(max_length=500)
        description = serializers.CharField(max_length=200, required=False, allow_blank=True)
        event_types = serializers.ListField(
            child=serializers.ChoiceField(choices=WEBHOOK_EVENT_TYPES), required=False, max_length=50
        )

    @extend_schema(responses=WebhookEndpointOutputSerializer(many=True))
    def get(self, request):
        return Response(WebhookEndpointOutputSerializer(webhook_endpoints_of(request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: WebhookEndpointOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(owner=request.user, **data.validated_data)
        return Response(WebhookEndpointOutputSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookEndpointApi(APIView):
    permission_classes = [IsAuthenticated, IsCreator]

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        webhook_endpoint_delete(owner=request.user, endpoint_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestApi(APIView):
    """Send a test event now (the "send test event" button)."""

    permission_classes = [IsAuthenticated, IsCreator]

    @extend_schema(request=None, responses={202: WebhookDeliveryOutputSerializer})
    def post(self, request, pk: int):
        delivery = webhook_test_send(owner=request.user, endpoint_id=pk)
        delivery.refresh_from_db()
        return Response(WebhookDeliveryOutputSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListApi(ListAPIView):
    permission_classes = [IsAuthenticated, IsCreator]
    serializer_class = WebhookDeliveryOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        endpoint = webhook_endpoint_of(self.request.user, self.kwargs["pk"])
        if endpoint is None:
            raise NotFound("No such webhook endpoint.")
        return webhook_deliveries_of(endpoint)
