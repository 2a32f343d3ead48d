"""The landing page, API schema and docs render, with no outside assets."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_landing_page_shows_the_configured_economics(client):
    response = client.get("/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "10%" in text  # the platform fee from EconomicsConfig
    assert "50%" in text  # the quality threshold


def test_api_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/factories/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    external = re.findall(rb'(?:src|href)="(https?://[^"]+)"', docs.content)
    assert external == []


def test_pages_link_no_outside_assets(client):
    html = client.get("/").content
    assert re.findall(rb'(?:src|href)="(https?://[^"]+)"', html) == []
