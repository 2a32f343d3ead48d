"""How the evidence commands turn a refusal into one readable CommandError."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from core.exceptions import ApplicationError


def refusal(error: Exception) -> CommandError:
    if isinstance(error, ApplicationError):
        return CommandError(error.message)
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            lines = [f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()]
        else:
            lines = list(error.messages)
        return CommandError("\n".join(lines))
    return CommandError(str(error))
