"""Public pages of the proof of payouts: the published hours, one hour, and a farmer's download."""

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from .keys import receipt_public_key
from .selectors import batch_receipts, batches_published, receipt_document, receipts_of


@require_GET
def hours(request):
    return render(
        request,
        "receipts/hours.html",
        {
            "batches": batches_published()[:168],
            "public_key": receipt_public_key(),
            "mine": receipts_of(request.user)[:50] if request.user.is_authenticated else None,
        },
    )


@require_GET
def hour(request, pk: int):
    batch = get_object_or_404(batches_published(), pk=pk)
    return render(request, "receipts/hour.html", {"batch": batch, "receipts": batch_receipts(batch)})


@login_required
@require_GET
def download(request, submission_id: int):
    document = receipt_document(user=request.user, submission_id=submission_id)
    if document is None:
        raise Http404("No receipt of yours for this submission.")
    response = HttpResponse(json.dumps(document, indent=2, sort_keys=True), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="receipt-{submission_id}.json"'
    return response
