"""The staff review queue and the appeals, in the admin. Every action calls a service
(reviews/services.py), which reviews through pools' `submission_review` and records the staff
action; nothing here changes a row itself."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdmin
from core.exceptions import ApplicationError

from .models import Appeal, HeldSubmission
from .selectors import appeal_rates, held_submissions
from .services import appeal_decide, appeals_dismiss, held_review


class DecisionForm(forms.Form):
    quality_score = forms.CharField(
        required=False, max_length=10, help_text="0 to 1 (e.g. 0.75). Leave empty to keep the score."
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class ScoreForm(forms.Form):
    quality_score = forms.CharField(max_length=10, help_text="0 to 1 (e.g. 0.75).")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=500, required=False)


def _error_text(error: Exception) -> str:
    return error.message if isinstance(error, ApplicationError) else " ".join(error.messages)


def _percent(score) -> str:
    return "-" if score is None else f"{score * 100:.0f}%"


class ActionPage:
    def _form_page(self, request, queryset, *, title, action, form, intro):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "opts": self.model._meta,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "form": form,
            "queryset": queryset,
        }
        return TemplateResponse(request, "admin/reviews/decision.html", context)


@admin.register(HeldSubmission)
# Read-only: the change view shows the evidence; decisions go through the actions only (on the
# change list, and as buttons on the detail page: change_form.html posts to them).
class HeldSubmissionAdmin(ActionPage, ReadOnlyAdmin):
    list_display = ["id", "factory", "farmer", "score", "reasons", "appeal_status", "submitted_at"]
    list_select_related = ["factory", "farmer"]
    list_filter = ["factory__token"]
    search_fields = ["farmer__username", "factory__title"]
    actions = ["approve", "refuse", "set_score"]
    fields = [
        "factory",
        "farmer",
        "status",
        "score",
        "score_confidence",
        "graded_by",
        "reasons",
        "breakdown",
        "grader_reasons",
        "evidence",
        "appeal_note",
        "demonstration_json",
    ]
    readonly_fields = fields
    change_form_template = "admin/reviews/heldsubmission/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "row_actions": [("approve", "Approve"), ("refuse", "Refuse"), ("set_score", "Set a score…")],
        }
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def get_queryset(self, request):
        return held_submissions().select_related("factory", "farmer")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="score")
    def score(self, obj):
        return _percent(obj.quality_score)

    @admin.display(description="why held")
    def reasons(self, obj):
        return "; ".join(obj.review_reasons or []) or "-"

    @admin.display(description="appeal")
    def appeal_status(self, obj):
        appeal = getattr(obj, "appeal", None)
        return appeal.get_status_display() if appeal else "-"

    @admin.display(description="score breakdown")
    def breakdown(self, obj):
        rows = [(name, value) for name, value in sorted((obj.score_breakdown or {}).items())]
        return format_html_join("", "<div><code>{}</code>: {}</div>", rows) or "-"

    @admin.display(description="grader's reasons")
    def grader_reasons(self, obj):
        return format_html_join("", "<li>{}</li>", ((reason,) for reason in obj.score_reasons or [])) or "-"

    @admin.display(description="evidence (attachments)")
    def evidence(self, obj):
        links = [
            (
                reverse(
                    "pools:factory-attachment",
                    kwargs={"pk": obj.factory_id, "submission_id": obj.pk, "attachment_id": attachment.pk},
                ),
                attachment.name,
                "uploaded" if attachment.uploaded_at else "not uploaded",
            )
            for attachment in obj.attachments.all()
        ]
        return format_html_join("", '<div><a href="{}">{}</a> ({})</div>', links) or "none declared"

    @admin.display(description="farmer's appeal")
    def appeal_note(self, obj):
        appeal = getattr(obj, "appeal", None)
        return appeal.note if appeal else "-"

    @admin.display(description="demonstration")
    def demonstration_json(self, obj):
        text = json.dumps(obj.demonstration, indent=2, ensure_ascii=False)
        if len(text) > 20000:
            text = text[:20000] + "\n…"
        return format_html("<pre style='max-height:30em;overflow:auto'>{}</pre>", text)

    def _review(self, request, queryset, *, decision, score=None, reason=""):
        try:
            done = held_review(
                submission_ids=list(queryset.values_list("pk", flat=True)),
                reviewer=request.user,
                decision=decision,
                quality_score=score,
                reason=reason,
            )
        except (ApplicationError, ValidationError) as error:
            messages.error(request, _error_text(error))
            return
        messages.success(request, f"{done} held submission(s) reviewed ({decision}).")

    @admin.action(description="Approve: keep the grader's score and release")
    def approve(self, request, queryset):
        self._review(request, queryset, decision="approve")

    @admin.action(description="Refuse: score 0, nothing paid")
    def refuse(self, request, queryset):
        self._review(request, queryset, decision="refuse")

    @admin.action(description="Set a score…")
    def set_score(self, request, queryset):
        form = ScoreForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            self._review(
                request,
                queryset,
                decision="score",
                score=form.cleaned_data["quality_score"],
                reason=form.cleaned_data["reason"],
            )
            return None
        return self._form_page(
            request,
            queryset,
            title="Set the score of held submissions",
            action="set_score",
            form=form,
            intro="Each selected submission gets this score and settles (an audited review each).",
        )


@admin.register(Appeal)
class AppealAdmin(ActionPage, ReadOnlyAdmin):
    list_display = ["id", "submission_link", "farmer", "status", "route", "before", "after", "created_at"]
    list_filter = ["status", "route", "was_held"]
    list_select_related = ["submission", "farmer"]
    search_fields = ["farmer__username", "note"]
    actions = ["decide", "dismiss"]
    readonly_fields = [
        "submission_link",
        "farmer",
        "note",
        "status",
        "route",
        "was_held",
        "before",
        "after",
        "decision_reason",
        "judge_note",
        "decided_by",
        "decided_at",
        "created_at",
    ]
    fields = readonly_fields
    change_list_template = "admin/reviews/appeal/change_list.html"
    change_form_template = "admin/reviews/appeal/change_form.html"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_queryset(self, request):
        from django.db.models import Case, IntegerField, Value, When

        # Pending first, oldest first: the queue in the order it should be worked.
        return (
            super()
            .get_queryset(request)
            .annotate(
                _pending=Case(
                    When(status=Appeal.Status.PENDING, then=Value(0)), default=Value(1), output_field=IntegerField()
                )
            )
            .order_by("_pending", "created_at")
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "row_actions": [("decide", "Decide…"), ("dismiss", "Dismiss…")]}
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    @admin.display(description="submission")
    def submission_link(self, obj):
        url = reverse("admin:pools_submission_change", args=[obj.submission_id])
        return format_html('<a href="{}">#{}</a>', url, obj.submission_id)

    @admin.display(description="score before")
    def before(self, obj):
        return _percent(obj.score_before)

    @admin.display(description="score after")
    def after(self, obj):
        return _percent(obj.score_after)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "rate_tables": [
                ("Factory", appeal_rates(by="factory", limit=20)),
                ("Farmer", appeal_rates(by="farmer", limit=20)),
            ],
        }
        return super().changelist_view(request, extra_context=extra_context)

    @admin.action(description="Decide: set a score (upheld) or keep it (dismissed)…")
    def decide(self, request, queryset):
        form = DecisionForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for appeal in queryset.filter(status=Appeal.Status.PENDING):
                try:
                    appeal_decide(
                        appeal_id=appeal.pk,
                        reviewer=request.user,
                        quality_score=form.cleaned_data["quality_score"] or None,
                        reason=form.cleaned_data["reason"],
                    )
                    done += 1
                except (ApplicationError, ValidationError) as error:
                    messages.error(request, f"Appeal {appeal.pk}: {_error_text(error)}")
            if done:
                messages.success(request, f"{done} appeal(s) decided.")
            return None
        return self._form_page(
            request,
            queryset,
            title="Decide appeals",
            action="decide",
            form=form,
            intro="A score changes the submission (settled through an adjusting transaction); "
            "no score keeps it. The reason is shown to the farmer.",
        )

    @admin.action(description="Dismiss: keep the score…")
    def dismiss(self, request, queryset):
        form = DecisionForm(request.POST if "apply" in request.POST else None)
        form.fields["quality_score"].widget = forms.HiddenInput()
        if "apply" in request.POST and form.is_valid():
            ids = list(queryset.filter(status=Appeal.Status.PENDING).values_list("pk", flat=True))
            done = appeals_dismiss(appeal_ids=ids, reviewer=request.user, reason=form.cleaned_data["reason"])
            messages.success(request, f"{done} appeal(s) dismissed.")
            if done < len(ids):
                messages.warning(request, f"{len(ids) - done} held appeal(s) need a score: use “Decide”.")
            return None
        return self._form_page(
            request,
            queryset,
            title="Dismiss appeals",
            action="dismiss",
            form=form,
            intro="The scores stay as they are.",
        )
