"""The notification centre (every signed-in person), notification preferences, and the
webhook endpoints of creators (with the delivery log and a "send test event" button). Each
view parses a form and calls one service of notifications/."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core.exceptions import ApplicationError, NotFound
from core.pages import role_required
from notifications.models import Kind
from notifications.selectors import (
    notifications_of,
    preferences_of,
    webhook_deliveries_of,
    webhook_endpoint_of,
    webhook_endpoints_of,
)
from notifications.services import (
    WEBHOOK_ONLY_EVENTS,
    WEBHOOK_TEST_EVENT,
    notification_open,
    notification_preferences_set,
    notifications_mark_read,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_test_send,
)

PAGE_SIZE = 25
creator_required = role_required("creator")


class MarkReadForm(forms.Form):
    id = forms.IntegerField(required=False, min_value=1)


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(label="Endpoint URL", max_length=500, assume_scheme="https")
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events",
        choices=[
            *Kind.choices,
            *WEBHOOK_ONLY_EVENTS.items(),
            (WEBHOOK_TEST_EVENT, "Test events"),
        ],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every event.",
    )


@login_required
def notification_list(request):
    page = Paginator(notifications_of(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "accounts/notifications.html", {"page": page})


@login_required
@require_POST
def notification_read(request):
    """Mark one (`id`) or all of the caller's notifications read; another user's id changes
    nothing (the service filters by owner)."""
    form = MarkReadForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That is not a notification.")
        page = Paginator(notifications_of(request.user), PAGE_SIZE).get_page(1)
        return render(request, "accounts/notifications.html", {"page": page}, status=400)
    notification_id = form.cleaned_data["id"]
    notifications_mark_read(user=request.user, ids=[notification_id] if notification_id else None)
    return redirect("accounts:notifications")


@login_required
@require_POST
def notification_open_view(request, notification_id: int):
    """Open one of the caller's notifications (its subject in the centre is this form's button):
    marked read, then on to its `url`. Only a same-site url is followed (a path, or this host
    over the request's scheme): anything else, or none, comes back to the centre, never an open
    redirect. POST, so a link elsewhere cannot mark anything read."""
    notification = notification_open(user=request.user, notification_id=notification_id)
    url = notification.url
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(url)
    return redirect("accounts:notifications")


@login_required
def notification_preferences(request):
    preferences = preferences_of(request.user)
    if request.method == "POST":
        choices = {
            preference.kind: (
                request.POST.get(f"{preference.kind}:in_app") == "on",
                request.POST.get(f"{preference.kind}:email") == "on",
            )
            for preference in preferences
        }
        notification_preferences_set(user=request.user, choices=choices)
        messages.success(request, "Your notification preferences are saved.")
        return redirect("accounts:notification-preferences")
    return render(request, "accounts/notification_preferences.html", {"preferences": preferences})


@creator_required
def webhooks(request):
    form = WebhookEndpointForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                endpoint = webhook_endpoint_create(
                    owner=request.user,
                    url=data["url"],
                    description=data["description"],
                    event_types=data["event_types"],
                )
            except ApplicationError as error:
                form.add_error("url" if "URL" in error.message or "https" in error.message else None, error.message)
            else:
                messages.success(request, f"Endpoint added. Its signing secret is shown below ({endpoint.url}).")
                return redirect("accounts:webhooks")
        status = 400
    context = {"form": form, "endpoints": webhook_endpoints_of(request.user)}
    return render(request, "accounts/webhooks.html", context, status=status)


@creator_required
@require_POST
def webhook_delete(request, endpoint_id: int):
    webhook_endpoint_delete(owner=request.user, endpoint_id=endpoint_id)
    messages.success(request, "Endpoint removed.")
    return redirect("accounts:webhooks")


@creator_required
@require_POST
def webhook_test(request, endpoint_id: int):
    delivery = webhook_test_send(owner=request.user, endpoint_id=endpoint_id)
    messages.success(request, f"Test event {delivery.message_id} queued; see its delivery below.")
    return redirect("accounts:webhook-deliveries", endpoint_id=endpoint_id)


@creator_required
def webhook_deliveries(request, endpoint_id: int):
    endpoint = webhook_endpoint_of(request.user, endpoint_id)
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    page = Paginator(webhook_deliveries_of(endpoint), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "accounts/webhook_deliveries.html", {"endpoint": endpoint, "page": page})
