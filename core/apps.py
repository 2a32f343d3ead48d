from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Helpers that import no app of ours (money, errors, db helpers, the task queue). An
    installed app only so that its template tags (`{% load forge_tags %}`) are found."""

    name = "core"
    verbose_name = "Core helpers"
