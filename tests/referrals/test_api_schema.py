"""The OpenAPI schema publishes the referral parts of the contract under their own names."""

import pytest

pytestmark = pytest.mark.django_db


def test_the_schema_describes_registration_with_a_referral_code_and_the_ambassador_endpoints(api):
    response = api.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    components = schema["components"]["schemas"]
    assert "referral_code" in components["RegistrationRequest"]["properties"]
    assert components["PatchedAmbassadorTierRequest"]["properties"]["tier"]["maximum"] == 5
    assert {"code", "tier", "commission_rate"} <= set(components["Ambassador"]["properties"])
    assert "post" in schema["paths"]["/api/v1/me/ambassador/"]
    assert "patch" in schema["paths"]["/api/v1/ambassadors/{code}/"]
