"""The creator's dashboard: their factories (pools) with the unread alerts (datasets), so it
spans two apps and lives above both."""

from __future__ import annotations

from django.shortcuts import render

from datasets.selectors import alerts_unread
from pools.selectors import factory_list_for_creator, pool_summary_annotated
from pools.views import _page, creator_required


@creator_required
def dashboard(request):
    page_obj = _page(request, factory_list_for_creator(request.user))
    rows = [(factory, pool_summary_annotated(factory)) for factory in page_obj]
    alerts = list(alerts_unread(request.user))
    return render(request, "pools/dashboard.html", {"page_obj": page_obj, "rows": rows, "alerts": alerts})
