from django.urls import path

from . import views

app_name = "receipts"

urlpatterns = [
    path("proofs/", views.hours, name="hours"),
    path("proofs/<int:pk>/", views.hour, name="hour"),
    path("proofs/receipts/<int:submission_id>.json", views.download, name="download"),
]
