"""The ledger in the admin: read-only. Corrections are reversing transactions, posted by
services, never edits. Tokens are added and changed through `ledger.tokens` (audited)."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import Account, Entry, Token, Transaction
from .tokens import TOKEN_FIELDS, token_create, token_update


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    list_display = ["symbol", "name", "decimals", "chain", "enabled"]
    list_filter = ["enabled", "chain"]

    def get_readonly_fields(self, request, obj=None):
        # Decimals define what every stored amount means: fixed once money exists.
        return ["symbol", "decimals"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        # Through the services, which record the change in the staff audit trail.
        data = form.cleaned_data
        if change:
            token_update(token=obj, actor=request.user, name=data["name"], chain=data["chain"], enabled=data["enabled"])
        else:
            created = token_create(actor=request.user, **{name: data[name] for name in TOKEN_FIELDS})
            obj.pk = created.pk

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "holder", "kind", "token", "balance_display"]
    list_filter = ["kind", "token"]
    search_fields = ["holder"]
    list_select_related = ["token"]

    @admin.display(description="Balance")
    def balance_display(self, obj):
        return str(obj.token.money(obj.balance))


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ["account", "amount_display"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Amount")
    def amount_display(self, obj):
        return str(obj.token.money(obj.amount))


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "idempotency_key", "kind", "memo", "actor", "created_at"]
    list_filter = ["kind"]
    search_fields = ["idempotency_key", "memo"]
    date_hierarchy = "created_at"
    inlines = [EntryInline]
