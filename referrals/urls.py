from django.urls import re_path

from . import views

app_name = "referrals"

urlpatterns = [
    re_path(r"^r/(?P<code>[A-Za-z0-9]{1,32})/?$", views.referral_link, name="link"),
]
