"""Recordings built once per test session (a few seconds of drawing and encoding), and the
Tesseract requirement: tests that read screen text skip, saying why, where it is not installed
(CI installs it: .ci/run)."""

from __future__ import annotations

import pytest

from evidence.ocr import ocr_available
from tests.evidence.recordings import build_recording

requires_tesseract = pytest.mark.skipif(
    not ocr_available(),
    reason="needs Tesseract: apt-get install tesseract-ocr tesseract-ocr-eng (CI does, see .ci/run)",
)


@pytest.fixture(scope="session")
def recordings(tmp_path_factory):
    """{kind: path of its archive} for the genuine, wrong_document and frozen recordings."""
    directory = tmp_path_factory.mktemp("recordings")
    return {kind: build_recording(directory, kind) for kind in ("genuine", "wrong_document", "frozen")}
