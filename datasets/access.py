"""Who may reach an export: the datasets app's access helper, used by its API and its pages
alike (the rule for the factory and its dataset is pools.access `access_factory`)."""

from __future__ import annotations

from core.exceptions import NotFound

from .models import Export


def access_export(user, export_id: int, *, factory_id: int | None = None) -> Export:
    """An export its factory's creator (or staff) may see, else NotFound (no hint it exists);
    `factory_id`: it must be that factory's (a page's URL names both)."""
    export = Export.objects.select_related("factory").filter(pk=export_id).first()
    if (
        export is None
        or (factory_id is not None and export.factory_id != factory_id)
        or not (getattr(user, "is_staff", False) or export.factory.creator_id == user.pk)
    ):
        raise NotFound("No such export.")
    return export
