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
from evidence.archive import max_total_bytes
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


# Python's JSON parser messages, in plain words (the parser's own words name its internals).
JSON_PROBLEMS = {
    "Expecting value": "a value was expected here (text in double quotes, a number, true, false, null, "
    "an object in { } or a list in [ ])",
    "Expecting property name enclosed in double quotes": "a field name in double quotes was expected here, "
    'e.g. "steps" (or there is a comma too many before a closing brace)',
    "Expecting ',' delimiter": "a comma was expected here, between two fields or two list items",
    "Expecting ':' delimiter": 'a colon was expected here, between a field name and its value, e.g. "t": 0',
    "Extra data": "the demonstration should have ended before this point: paste one JSON object, nothing after it",
    "Unterminated string starting at": "a text in double quotes starts here and is never closed",
    "Invalid control character at": "a line break or tab sits inside a text in double quotes; write it as \\n or \\t",
    "Invalid \\escape": "a backslash inside a text starts an unknown escape; write a backslash as \\\\",
}


def json_problem(error: json.JSONDecodeError) -> str:
    """A JSON parse error for people: where (line and column) and what was expected there."""
    problem = next(
        (words for prefix, words in JSON_PROBLEMS.items() if error.msg.startswith(prefix)),
        "the text could not be read as JSON",
    )
    return (
        f"This is not valid JSON: at line {error.lineno}, column {error.colno}, {problem}. "
        "A demonstration is one JSON object with started_at, ended_at and a list of steps, "
        "as your recorder exports it."
    )


class DemonstrationForm(forms.Form):
    """A demonstration: the desktop recorder's archive (.zip, with the farmer's final state), or
    JSON pasted or uploaded as a .json export. `source_field` says which one came."""

    archive = forms.FileField(
        required=False,
        label="Recorder archive (.zip)",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
        help_text="The zip the desktop recorder saved: meta.json, input_log.jsonl and recording.mp4. "
        "Its video is the evidence the quality agent checks.",
    )
    final_state = forms.CharField(
        required=False,
        max_length=10_000,
        label="What the screen shows at the end",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="With a recorder archive: the recorder does not write it, and the quality agent compares it "
        "with the last frames of the video.",
    )

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
        archive = data.get("archive")
        if archive:
            data["source_field"] = "archive"
            if upload or text:
                self.add_error("archive", "Submit the recorder archive or a JSON demonstration, not both.")
            elif not archive.name.lower().endswith(".zip"):
                self.add_error(
                    "archive",
                    "Upload the recorder's .zip archive (it holds meta.json, input_log.jsonl and recording.mp4).",
                )
            elif archive.size > max_total_bytes():
                self.add_error("archive", f"The archive is larger than {max_total_bytes():,} bytes.")
            return data
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
            self.add_error(
                "demonstration",
                "Upload the recorder archive (.zip), or paste the demonstration JSON or upload its .json export.",
            )
            return data
        try:
            data["parsed"] = json.loads(raw)
        except json.JSONDecodeError as error:
            self.add_error(field, json_problem(error))
        except (ValueError, UnicodeDecodeError):
            self.add_error(field, "This file is not UTF-8 text: upload the recorder's .json export as it was saved.")
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

    def __init__(self, *args, tokens: dict | None = None, **kwargs):
        """`tokens` ({symbol: Token}, the enabled ones in id order) saves a page that read them
        already another query (the header's unread count spends it: tests/bench)."""
        super().__init__(*args, **kwargs)
        if tokens is None:
            tokens = {token.symbol: token for token in Token.objects.filter(enabled=True).order_by("id")}
        self.tokens = tokens
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


class AppealForm(forms.Form):
    note = forms.CharField(
        label="Why is the score wrong?",
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": 2000}),
        max_length=2000,
        help_text="What the grader missed: the steps that show the task was done. 2,000 characters at most.",
    )
