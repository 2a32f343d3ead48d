"""The OpenAPI schema outside clients depend on builds with no warning: a warning (two
operations with one id, a view drf-spectacular cannot read) is a defect in the published
contract, and `check --deploy` in a release fails on it."""

from __future__ import annotations

import io

from django.core.management import call_command


def test_the_schema_builds_valid_with_no_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stderr=io.StringIO())
    assert "operationId: v1_receipts_hours_list" in out.read_text()
