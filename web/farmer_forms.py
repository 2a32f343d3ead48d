"""Forms for the farmer pages: browse filters, a demonstration, a withdrawal request.

Forms only parse input and carry errors to the template; the rules live in the services
(amounts and addresses are checked here with the same helpers the services use, so that
every field's error shows at once, next to its field).
"""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.services import wallet_address_validate
from core.money import parse_amount
from ledger.models import Token
from pools.farmer_selectors import BROWSE_ACCESS, BROWSE_SORTS


class BrowseForm(forms.Form):
    """GET filters of the browse page. Invalid values are reported and ignored."""

    token = forms.ChoiceField(required=False)
    min_reward = forms.CharField(
        required=False,
        max_length=40,
        strip=False,
        label="Minimum reward",
        help_text="In the chosen token, e.g. 0.5",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "0.5"}),
    )
    category = forms.ChoiceField(required=False)
    access = forms.ChoiceField(choices=list(BROWSE_ACCESS.items()), required=False, label="Access")
    sort = forms.ChoiceField(choices=list(BROWSE_SORTS.items()), required=False, label="Sort by")

    def __init__(self, *args, categories: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.tokens = {token.symbol: token for token in Token.objects.filter(enabled=True).order_by("id")}
        self.fields["token"].choices = [("", "Any token"), *((symbol, symbol) for symbol in self.tokens)]
        self.fields["category"].choices = [("", "Any category"), *((name, name) for name in categories)]

    def clean(self):
        data = super().clean()
        data["token"] = self.tokens.get(data.get("token") or "")
        text = data.get("min_reward") or ""
        data["min_reward"] = None
        if text.strip():
            if data["token"] is None:
                self.add_error("min_reward", "Choose a token to filter by reward: rewards in different tokens differ.")
            else:
                try:
                    data["min_reward"] = parse_amount(
                        text, decimals=data["token"].decimals, field="min_reward", allow_zero=True
                    )
                except ValidationError as error:
                    self.add_error("min_reward", error.message_dict["min_reward"])
        data["access"] = data.get("access") or "all"
        data["sort"] = data.get("sort") or "newest"
        return data

    def filters(self) -> dict:
        """Keyword arguments for `factories_for_browse` (valid fields only)."""
        data = getattr(self, "cleaned_data", {})
        return {
            "token": data.get("token"),
            "min_reward": data.get("min_reward"),
            "category": data.get("category") or "",
            "access": data.get("access") or "all",
            "sort": data.get("sort") or "newest",
        }


class DemonstrationForm(forms.Form):
    """A demonstration as JSON, pasted or uploaded as a recorder's .json export."""

    demonstration = forms.CharField(
        required=False,
        label="Demonstration (JSON)",
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "autocomplete": "off"}),
        help_text="Paste the JSON your recorder produced, or upload its export below.",
    )
    recording = forms.FileField(
        required=False,
        label="Or upload a recording export (.json)",
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
    )

    def clean(self):
        data = super().clean()
        upload = data.get("recording")
        text = (data.get("demonstration") or "").strip()
        if upload:
            if not upload.name.lower().endswith(".json"):
                self.add_error("recording", "Upload the recorder's .json export.")
                return data
            if upload.size > settings.FORGE_DEMONSTRATION_MAX_BYTES:
                self.add_error(
                    "recording", f"The file is larger than {settings.FORGE_DEMONSTRATION_MAX_BYTES:,} bytes."
                )
                return data
            raw, field = upload.read(), "recording"
        elif text:
            raw, field = text, "demonstration"
            if len(text.encode()) > settings.FORGE_DEMONSTRATION_MAX_BYTES:
                self.add_error(
                    field, f"The demonstration is larger than {settings.FORGE_DEMONSTRATION_MAX_BYTES:,} bytes."
                )
                return data
        else:
            self.add_error("demonstration", "Paste the demonstration JSON or upload its .json export.")
            return data
        try:
            data["parsed"] = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            self.add_error(field, f"This is not valid JSON: {error}.")
        except RecursionError:
            self.add_error(field, "This JSON is nested far too deeply to be a demonstration.")
        data["source_field"] = field
        return data


class WithdrawalForm(forms.Form):
    token = forms.ChoiceField(label="Token")
    amount = forms.CharField(
        max_length=40, strip=False, widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
    )
    address = forms.CharField(
        max_length=128,
        label="Wallet address",
        help_text=(
            "A wallet you linked by signature (Your account → Wallets): Solana for CLONES, USDC and SOL; "
            "Ethereum for ETH."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tokens = {token.symbol: token for token in Token.objects.filter(enabled=True).order_by("id")}
        self.fields["token"].choices = [(symbol, symbol) for symbol in self.tokens]

    def clean(self):
        data = super().clean()
        token = self.tokens.get(data.get("token") or "")
        data["token"] = token
        if token is None:
            return data
        for field, check in (
            ("amount", lambda value: parse_amount(value, decimals=token.decimals)),
            ("address", lambda value: wallet_address_validate(token, value)),
        ):
            if field in data:
                try:
                    check(data[field])
                except ValidationError as error:
                    self.add_error(field, error.message_dict.get(field, error.messages))
        return data
