from django.apps import AppConfig


class FarmersConfig(AppConfig):
    name = "farmers"
    verbose_name = "Farmers"
