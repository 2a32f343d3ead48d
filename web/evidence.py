"""The keyframe thumbnails of a submission's screen recording (issue 17): the frame each
evidence check used, shown on the farmer's submission page and the creator's demonstration
page. Only who may see the submission may see its frames (pools.access.access_submission: its
farmer, the factory's creator, staff); anyone else gets the same 404 as for the submission."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from evidence.selectors import evidence_thumbnail
from pools.access import access_submission


@require_GET
def keyframe_thumbnail(request, submission_id: int, index: int):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    submission = access_submission(request.user, submission_id)
    frame = evidence_thumbnail(submission.pk, index)
    if frame is None:
        raise Http404("No such keyframe.")
    response = FileResponse(frame.thumbnail.storage.open(frame.thumbnail.name, "rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=86400"  # a stored keyframe never changes
    return response
