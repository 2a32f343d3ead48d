"""Forms for the account pages. They parse input; `accounts.services` decides."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from .models import User


class SignupForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        help_text="3 to 150 letters, digits and @ . + - _",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none", "autofocus": True}),
    )
    email = forms.EmailField(
        required=False,
        help_text="Optional: only for password resets.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        help_text="At least 8 characters; not only digits, not a common password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    role = forms.ChoiceField(
        label="I want to",
        choices=[
            (User.Role.CREATOR, "Create factories and fund them (factory creator)"),
            (User.Role.FARMER, "Record demonstrations and earn (farmer)"),
        ],
        widget=forms.RadioSelect,
    )
    referral_code = forms.CharField(
        label="Referral code",
        required=False,
        max_length=32,
        help_text="Optional: the code of the ambassador who invited you.",
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "autocomplete": "off"}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password2") and cleaned["password1"] != cleaned["password2"]:
            self.add_error("password2", "The two passwords differ.")
        return cleaned


class LoginForm(AuthenticationForm):
    """Django's login form with autocomplete hints for password managers."""

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autocapitalize": "none"})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})
