"""Account pages: sign up, log in and out, password change, and the account page with
balances and the API token. Each view parses a form and calls one service."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from accounts.forms import LoginForm, SignupForm
from accounts.links import signin_seen, signin_signal_record
from accounts.models import SignInSignal
from accounts.selectors import user_balances
from accounts.services import api_token_revoke, api_token_rotate
from core.pages import home_url_for, show_service_error
from farmers.selectors import reputation_of
from referrals.middleware import SESSION_KEY as REFERRAL_SESSION_KEY

from .signup import user_signup


def signup(request):
    if request.user.is_authenticated:
        return redirect(home_url_for(request.user))
    form = SignupForm(
        request.POST or None,
        initial={"referral_code": request.session.get(REFERRAL_SESSION_KEY, ""), "role": request.GET.get("role")},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = user_signup(
                username=data["username"],
                password=data["password1"],
                role=data["role"],
                referral_code=data["referral_code"].strip() or None,
                email=data["email"],
            )
        except ValidationError as error:
            show_service_error(request, error, form, field_map={"password": "password1"})
        else:
            signin_signal_record(user=user, kind=SignInSignal.Kind.REGISTRATION, **signin_seen(request))
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session.pop(REFERRAL_SESSION_KEY, None)
            messages.success(request, f"Welcome to Forge Pools, {user.username}. Your account is ready.")
            return redirect(home_url_for(user))
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Django's login. After repeated failures django-axes locks the username for this
    address and renders registration/locked_out.html (settings.AXES_LOCKOUT_TEMPLATE)."""

    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return home_url_for(self.request.user)

    def form_valid(self, form):
        response = super().form_valid(form)
        signin_signal_record(user=form.get_user(), kind=SignInSignal.Kind.LOGIN, **signin_seen(self.request))
        messages.success(self.request, f"Welcome back, {form.get_user().username}.")
        return response


class LogoutView(auth_views.LogoutView):
    """Log out by POST only (a link could be followed by a crawler or prefetch)."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are logged out.")
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:account")

    def form_valid(self, form):
        response = super().form_valid(form)
        # A password change re-authenticates the session (its hash changes): a sign-in signal.
        signin_signal_record(user=form.user, kind=SignInSignal.Kind.LOGIN, **signin_seen(self.request))
        messages.success(self.request, "Your password was changed.")
        return response


def _api_token_key(user) -> str | None:
    try:
        return user.auth_token.key
    except ObjectDoesNotExist:
        return None


@login_required
def account(request):
    user = request.user
    return render(
        request,
        "accounts/account.html",
        {
            "balances": user_balances(user),
            "reputation": reputation_of(user) if user.is_farmer else None,
            "api_token": _api_token_key(user),
        },
    )


@login_required
@require_POST
def token_rotate(request):
    had_token = _api_token_key(request.user) is not None
    api_token_rotate(user=request.user)
    if had_token:
        messages.success(request, "A new API token was created. The old token stopped working.")
    else:
        messages.success(request, "Your API token was created.")
    return redirect("accounts:account")


@login_required
@require_POST
def token_revoke(request):
    api_token_revoke(user=request.user)
    messages.success(request, "Your API token was revoked. Programs using it can no longer sign in.")
    return redirect("accounts:account")
