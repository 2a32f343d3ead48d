"""Forms for the creator's pages. They parse input into the types the services take; the
services (pools.services.*) enforce the rules and their errors are shown next to the fields."""

from django import forms

from .grading.checks import checks_propose, checks_to_json
from .models import FACTORY_TERM_BOUNDS, Factory


def _bounds(name: str) -> dict:
    """The browser's hint (min/max) from the one definition; the service enforces it and its
    message shows next to the field with every other field's error."""
    low, high = FACTORY_TERM_BOUNDS[name]
    return {"min": low, "max": high}


def _range(name: str) -> str:
    low, high = FACTORY_TERM_BOUNDS[name]
    return f"{low:,} to {high:,}"


AMOUNT_ATTRS = {"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false"}


class FactoryDetailsForm(forms.Form):
    """The fields a creator can edit at any time before closing."""

    title = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional: what the data is for. Farmers see it.",
    )
    instructions = forms.CharField(
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="The task farmers perform and record, step by step.",
    )
    category = forms.CharField(required=False, max_length=64, help_text="For example: spreadsheets, browsing, design.")
    tags = forms.CharField(required=False, max_length=255, help_text="Comma-separated.")
    target_count = forms.IntegerField(
        required=False,
        label="Target count",
        help_text=f"Accepted demonstrations wanted: {_range('target_count')}. Leave empty for an open target.",
        widget=forms.NumberInput(attrs=_bounds("target_count")),
    )
    expected_minutes = forms.IntegerField(
        label="Expected minutes per task",
        initial=10,
        help_text=f"{_range('expected_minutes')}.",
        widget=forms.NumberInput(attrs=_bounds("expected_minutes")),
    )
    claim_timeout_minutes = forms.IntegerField(
        label="Claim timeout (minutes)",
        help_text="How long a farmer holds a claimed task before its reward returns to the pool: "
        f"{_range('claim_timeout_minutes')}.",
        widget=forms.NumberInput(attrs=_bounds("claim_timeout_minutes")),
    )
    per_farmer_limit = forms.IntegerField(
        required=False,
        label="Limit per farmer",
        help_text=f"Most demonstrations one farmer may submit ({_range('per_farmer_limit')}). "
        "Leave empty for no limit.",
        widget=forms.NumberInput(attrs=_bounds("per_farmer_limit")),
    )
    min_reputation = forms.DecimalField(
        label="Minimum reputation",
        initial=0,
        max_digits=5,
        decimal_places=2,
        help_text="0 to 100. Above 0 makes a premium factory for proven farmers only.",
        widget=forms.NumberInput(attrs={"min": 0, "max": 100, "step": "0.01"}),
    )

    success_checks = forms.JSONField(
        required=False,
        label="Success checks (JSON)",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="What the finished work must show, as a JSON list: "
        '[{"kind": "typed", "value": "Budget 2026", "required": true}]. Kinds: shows, not_shows, typed, '
        "acted_on, visited, app, milestones (with values), submitted. A required check that fails pays "
        "nothing. Leave empty to have the agent propose them from the instructions when a farmer claims.",
    )

    requires_recording = forms.BooleanField(
        required=False,
        label="Require a screen recording",
        help_text="Farmers must upload the desktop recorder's archive (its video is the evidence the agent "
        "checks); a demonstration typed as JSON is refused. Applies to claims made after you save.",
    )
    reference_demonstrations = forms.JSONField(
        required=False,
        label="Reference demonstrations (JSON)",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="Optional: a JSON list of up to 5 recordings of the task done well, each in the demonstration "
        "format. The agent scores how far a farmer's steps reach their milestones (what was typed, clicked by "
        "name, visited), in order. Edits apply to new claims.",
    )

    @classmethod
    def initial_for(cls, factory: Factory) -> dict:
        initial = {name: getattr(factory, name) for name in cls.base_fields}
        if not factory.success_checks:  # what the agent would propose now, for the creator to confirm
            initial["success_checks"] = checks_to_json(checks_propose(factory.title, factory.instructions))
        return initial


class FactoryCreateForm(FactoryDetailsForm):
    token = forms.ChoiceField(help_text="The token the pool holds and pays in.")
    reward = forms.CharField(
        label="Reward per demonstration",
        max_length=64,
        strip=False,  # the amount grammar (core.money) decides about spaces
        help_text="A decimal amount of the token, e.g. 0.2. A demonstration earns it times its quality score.",
        widget=forms.TextInput(attrs=AMOUNT_ATTRS),
    )

    field_order = ["title", "description", "instructions", "category", "tags", "token", "reward"]

    def __init__(self, *args, tokens=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["token"].choices = [
            (token.symbol, f"{token.symbol} · {token.name} ({token.decimals} decimals)") for token in tokens
        ]


class FundForm(forms.Form):
    amount = forms.CharField(max_length=64, strip=False, widget=forms.TextInput(attrs=AMOUNT_ATTRS))
    tx_ref = forms.CharField(
        label="Transaction reference",
        max_length=128,
        help_text="The signature of your on-chain transfer to the pool. Each one is credited once.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, token=None, **kwargs):
        super().__init__(*args, **kwargs)
        if token is not None:
            self.fields["amount"].label = f"Amount ({token.symbol})"
            self.fields["amount"].help_text = f"Up to {token.decimals} decimal places."


class RateForm(forms.Form):
    reward = forms.CharField(
        label="New reward per demonstration",
        max_length=64,
        strip=False,
        widget=forms.TextInput(attrs=AMOUNT_ATTRS),
        help_text="Applies to new claims only: farmers who already claimed keep the reward they reserved.",
    )
