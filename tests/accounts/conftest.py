import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_throttles():
    # Registration is throttled per client address in the (process-wide) cache.
    cache.clear()
    yield
    cache.clear()
