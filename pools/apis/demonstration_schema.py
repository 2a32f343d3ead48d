"""The demonstration object in the OpenAPI schema, field by field (docs/demonstration-format.md).

Documentation only: these serializers are never used to validate. The API keeps taking the
demonstration as plain JSON and `pools.demonstrations.demonstration_validate` stays the one
validator (unknown keys are kept, every problem is reported by its field path), so the schema
states the limits that validator enforces, from its own constants.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..demonstrations import (
    ACTIONS,
    ALLOWED_ATTACHMENT_CONTENT_TYPES,
    MAX_ATTACHMENT_NAME_CHARS,
    MAX_ATTACHMENTS,
    MAX_COORDINATE,
    MAX_KEY_CHARS,
    MAX_LONG_TEXT_CHARS,
    MAX_SCROLL_DELTA,
    MAX_STEP_TEXT_CHARS,
    MAX_STEPS,
    MAX_TASK_LABEL_CHARS,
)


class DemonstrationStepSchema(serializers.Serializer):
    class Meta:
        ref_name = "DemonstrationStep"

    t = serializers.FloatField(
        min_value=0,
        help_text="Seconds since started_at; never smaller than the previous step's, at most the duration + 1 s.",
    )
    action = serializers.ChoiceField(choices=ACTIONS, help_text="What was done.")
    target = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_STEP_TEXT_CHARS,
        help_text="What was acted on: a button label, a cell, a field, a URL.",
    )
    text = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_STEP_TEXT_CHARS,
        help_text="What was typed (or a note for wait).",
    )
    url = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_STEP_TEXT_CHARS, help_text="For navigate: the address."
    )
    key = serializers.CharField(
        required=False, max_length=MAX_KEY_CHARS, help_text="For key: the key or chord, e.g. Enter, Meta+A."
    )
    x = serializers.IntegerField(required=False, min_value=0, max_value=MAX_COORDINATE, help_text="Pointer x, pixels.")
    y = serializers.IntegerField(required=False, min_value=0, max_value=MAX_COORDINATE, help_text="Pointer y, pixels.")
    dx = serializers.FloatField(
        required=False,
        min_value=-MAX_SCROLL_DELTA,
        max_value=MAX_SCROLL_DELTA,
        help_text="For scroll: negative is left.",
    )
    dy = serializers.FloatField(
        required=False, min_value=-MAX_SCROLL_DELTA, max_value=MAX_SCROLL_DELTA, help_text="For scroll: negative is up."
    )


class DemonstrationScreenSchema(serializers.Serializer):
    class Meta:
        ref_name = "DemonstrationScreen"

    width = serializers.IntegerField(min_value=1, max_value=MAX_COORDINATE)
    height = serializers.IntegerField(min_value=1, max_value=MAX_COORDINATE)


class DemonstrationTaskSchema(serializers.Serializer):
    class Meta:
        ref_name = "DemonstrationTask"

    app = serializers.CharField(required=False, max_length=MAX_TASK_LABEL_CHARS, help_text="e.g. Google Chrome 131.")
    os = serializers.CharField(required=False, max_length=MAX_TASK_LABEL_CHARS, help_text="e.g. macOS 15.1.")
    screen = DemonstrationScreenSchema(required=False)


class DemonstrationAttachmentSchema(serializers.Serializer):
    class Meta:
        ref_name = "DemonstrationAttachment"

    name = serializers.CharField(
        max_length=MAX_ATTACHMENT_NAME_CHARS, help_text="Unique within the demonstration, e.g. screen.webm."
    )
    content_type = serializers.ChoiceField(choices=sorted(ALLOWED_ATTACHMENT_CONTENT_TYPES))
    size = serializers.IntegerField(min_value=1, help_text="Bytes; at most FORGE_ATTACHMENT_MAX_BYTES (200 MiB).")
    sha256 = serializers.RegexField(r"^[0-9a-f]{64}$", help_text="The file's SHA-256, 64 lowercase hex digits.")


class DemonstrationSchema(serializers.Serializer):
    """One recording of the task: when it started and ended, each step, and the final screen.
    Unknown fields (at the top and in steps) are kept as sent. Desktop recorder archives are
    converted into this object (POST /claims/{id}/recording/)."""

    class Meta:
        ref_name = "Demonstration"

    format_version = serializers.ChoiceField(choices=[1], required=False, help_text="Defaults to 1.")
    started_at = serializers.DateTimeField(help_text="ISO 8601 with a timezone, e.g. 2026-01-12T09:30:00Z.")
    ended_at = serializers.DateTimeField(help_text="Not before started_at, at most 24 h after it.")
    steps = serializers.ListField(
        child=DemonstrationStepSchema(), min_length=1, max_length=MAX_STEPS, help_text="In time order."
    )
    final_state = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_LONG_TEXT_CHARS,
        help_text="What the screen shows at the end (the quality agent reads it).",
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=MAX_LONG_TEXT_CHARS)
    task = DemonstrationTaskSchema(required=False, help_text="Where it was recorded.")
    attachments = serializers.ListField(
        child=DemonstrationAttachmentSchema(),
        required=False,
        max_length=MAX_ATTACHMENTS,
        help_text="Files recorded with it, uploaded separately (PUT /submissions/{id}/attachments/{id}/).",
    )


@extend_schema_field(DemonstrationSchema)
class DemonstrationField(serializers.JSONField):
    """Plain JSON in (validated by demonstration_validate), the Demonstration object in the schema."""
