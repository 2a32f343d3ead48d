"""The outside grading service client, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import unquote

import pytest

from pools.grading import GraderResponseInvalid, GraderUnavailable, TaskContext, grade
from pools.grading import http as http_grader
from tests.fake_http import RecordingHandler, RecordingServer, serving
from tests.pools.demonstrations import recording_data

TASK = TaskContext(
    title="Budget 2026 spreadsheet",
    instructions="Create a new Google Sheets spreadsheet named Budget 2026 and add headers Month, Income, Expenses.",
    expected_minutes=3,
)
DEMONSTRATION = {
    "format_version": 1,
    **recording_data(
        [{"t": 0, "action": "click", "target": "Blank spreadsheet"}],
        seconds=60,
        final_state="Budget 2026 created",
        start=datetime(2026, 1, 12, 9, 30, tzinfo=UTC),
    ),
}
API_KEY = "test-grader-key"
TIMEOUT = 0.3  # seconds per attempt; /slow sleeps longer than this
SLOW_SECONDS = 0.8
OK_BODY = {
    "quality_score": "0.83",
    "confidence": 0.9,
    "breakdown": {"accuracy": {"score": 0.91, "weight": 0.5, "reasons": ["headers present"]}, "model": "qa-7"},
    "reasons": ["Spreadsheet created and named correctly."],
}


class GradingHandler(RecordingHandler):
    """A fake grading service whose behaviour is chosen by the request path."""

    def do_POST(self):
        path = unquote(self.path)
        count = self.record(path)
        if path == "/ok":
            self.reply(200, json.dumps(OK_BODY))
        elif path == "/score-only-number":
            self.reply(200, json.dumps({"quality_score": 0.83}))
        elif path == "/score-many-places":
            self.reply(200, json.dumps({"quality_score": "0.99999", "confidence": "0.123456"}))
        elif path == "/slow":
            # Not time.sleep: the tests patch it to record the client's backoff.
            threading.Event().wait(SLOW_SECONDS)
            self.reply(200, json.dumps(OK_BODY))
        elif path == "/flaky":  # two 500s, then an answer
            if count <= 2:
                self.reply(500, "internal error")
            else:
                self.reply(200, json.dumps(OK_BODY))
        elif path == "/always-503":
            self.reply(503, "down for maintenance")
        elif path == "/malformed":
            self.reply(200, "<html>not json</html>")
        elif path == "/truncated":
            self.reply(200, '{"quality_score": "0.8')
        elif path == "/not-an-object":
            self.reply(200, "[0.8]")
        elif path == "/missing-score":
            self.reply(200, json.dumps({"confidence": "0.9"}))
        elif path.startswith("/score/"):
            # The raw JSON text of the score follows the prefix: /score/1.5, /score/NaN, /score/true.
            self.reply(200, '{"quality_score": ' + path.removeprefix("/score/") + "}")
        elif path == "/bad-confidence":
            self.reply(200, json.dumps({"quality_score": "0.8", "confidence": 2}))
        elif path == "/bad-reasons":
            self.reply(200, json.dumps({"quality_score": "0.8", "reasons": "fine"}))
        elif path == "/bad-breakdown":
            self.reply(200, json.dumps({"quality_score": "0.8", "breakdown": [1, 2]}))
        elif path == "/unauthorized":
            self.reply(401, json.dumps({"detail": "bad key"}))
        else:
            self.reply(404, "no such behaviour")


@pytest.fixture(scope="module")
def service():
    with serving(GradingHandler) as server:
        yield server


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    """Real backoff is 0.2 s * 2**n; tests keep the schedule but not the wait. Records each pause."""
    pauses: list[float] = []
    monkeypatch.setattr(http_grader, "BACKOFF_BASE_SECONDS", 0.01)
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(http_grader.time, "sleep", sleep)
    return pauses


@pytest.fixture(autouse=True)
def reset_counts(service):
    service.requests.clear()


def call(service: RecordingServer, path: str, *, retries: int = 2, timeout: float = TIMEOUT):
    return http_grader.grade(
        DEMONSTRATION, task=TASK, url=service.url(path), api_key=API_KEY, timeout=timeout, retries=retries
    )


# ---- a good answer ---------------------------------------------------------------------------------


def test_a_good_answer_becomes_a_grade(service):
    result = call(service, "/ok")
    assert result.grader == "http"
    assert result.score == Decimal("0.8300")
    assert result.confidence == Decimal("0.9000")
    assert result.reasons == ["Spreadsheet created and named correctly."]
    assert service.requests["/ok"] == 1


def test_the_request_carries_the_demonstration_the_task_and_the_key(service):
    call(service, "/ok")
    assert service.last_body == {
        "demonstration": DEMONSTRATION,
        "task": {"title": TASK.title, "instructions": TASK.instructions, "expected_minutes": 3},
    }
    assert service.last_headers["authorization"] == f"Bearer {API_KEY}"
    assert service.last_headers["content-type"] == "application/json"


def test_breakdown_numbers_are_stored_as_strings(service):
    result = call(service, "/ok")
    assert result.breakdown == {
        "accuracy": {"score": "0.91", "weight": "0.5", "reasons": ["headers present"]},
        "model": "qa-7",
    }


def test_a_json_number_score_is_read_exactly_and_confidence_defaults_to_one(service):
    result = call(service, "/score-only-number")
    # Decimal(0.83) would be 0.82999999999999996003...: rounded down, 0.8299.
    assert result.score == Decimal("0.8300")
    assert result.confidence == Decimal("1.0000")
    assert result.breakdown == {}
    assert result.reasons == []


def test_scores_with_more_places_are_rounded_down(service):
    result = call(service, "/score-many-places")
    assert result.score == Decimal("0.9999")
    assert result.confidence == Decimal("0.1234")


@pytest.mark.parametrize(("raw", "expected"), [("0", "0.0000"), ("1", "1.0000"), ('"1.0"', "1.0000")])
def test_the_bounds_of_the_unit_interval_are_accepted(service, raw, expected):
    assert call(service, f"/score/{raw}").score == Decimal(expected)


# ---- transient failures: retried -----------------------------------------------------------------


def test_a_server_error_is_retried_until_it_answers(service, fast_backoff):
    result = call(service, "/flaky", retries=2)
    assert result.score == Decimal("0.8300")
    assert service.requests["/flaky"] == 3
    assert fast_backoff == [0.01, 0.02]  # BACKOFF_BASE_SECONDS * 2**n


def test_server_errors_past_the_retries_make_the_grader_unavailable(service):
    with pytest.raises(GraderUnavailable, match="HTTP 503") as caught:
        call(service, "/always-503", retries=2)
    assert not isinstance(caught.value, GraderResponseInvalid)
    assert "3 attempts" in str(caught.value)
    assert service.requests["/always-503"] == 3


def test_a_slow_service_times_out_on_every_attempt(service):
    started = time.monotonic()
    with pytest.raises(GraderUnavailable, match="timed out") as caught:
        call(service, "/slow", retries=1)
    assert not isinstance(caught.value, GraderResponseInvalid)
    assert service.requests["/slow"] == 2
    # Two attempts of TIMEOUT each, not two of SLOW_SECONDS.
    assert time.monotonic() - started < 2 * SLOW_SECONDS


def test_a_refused_connection_is_retried_then_unavailable(fast_backoff):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(GraderUnavailable, match="connection failed") as caught:
        http_grader.grade(
            DEMONSTRATION, task=TASK, url=f"http://127.0.0.1:{port}/", api_key=API_KEY, timeout=TIMEOUT, retries=2
        )
    assert not isinstance(caught.value, GraderResponseInvalid)
    assert len(fast_backoff) == 2  # three attempts, two pauses


def test_no_url_configured_is_unavailable():
    with pytest.raises(GraderUnavailable, match="FORGE_GRADER_HTTP_URL"):
        http_grader.grade(DEMONSTRATION, task=TASK, url="", api_key=API_KEY, timeout=TIMEOUT, retries=0)


# ---- invalid answers: not retried ------------------------------------------------------------------


def test_a_client_error_is_invalid_and_not_retried(service, fast_backoff):
    with pytest.raises(GraderResponseInvalid, match="HTTP 401"):
        call(service, "/unauthorized", retries=3)
    assert service.requests["/unauthorized"] == 1
    assert fast_backoff == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/malformed", "non-JSON"),
        ("/truncated", "non-JSON"),
        ("/not-an-object", "not an object"),
        ("/missing-score", "no quality_score"),
        ("/score/1.5", "outside [0, 1]"),
        ("/score/-0.01", "outside [0, 1]"),
        ('/score/"1.00001"', "outside [0, 1]"),
        ("/score/NaN", "not finite"),
        ("/score/Infinity", "not finite"),
        ('/score/"NaN"', "outside [0, 1]"),
        ('/score/"high"', "not a number"),
        ("/score/true", "not a number"),
        ("/score/null", "not a number"),
        ("/score/[0.5]", "not a number"),
        ("/bad-confidence", "confidence"),
        ("/bad-reasons", "reasons"),
        ("/bad-breakdown", "breakdown"),
    ],
)
def test_malformed_answers_are_invalid_and_not_retried(service, path, message):
    with pytest.raises(GraderResponseInvalid, match=re.escape(message)):
        call(service, path, retries=2)
    assert service.requests[path] == 1


# ---- dispatch ------------------------------------------------------------------------------------


def test_the_configured_http_grader_is_used(service, settings):
    settings.FORGE_GRADER = "http"
    settings.FORGE_GRADER_HTTP_URL = service.url("/ok")
    settings.FORGE_GRADER_HTTP_KEY = API_KEY
    settings.FORGE_GRADER_HTTP_TIMEOUT = TIMEOUT
    settings.FORGE_GRADER_HTTP_RETRIES = 0
    result = grade(DEMONSTRATION, task=TASK)
    assert result.grader == "http"
    assert result.score == Decimal("0.8300")
    assert service.last_headers["authorization"] == f"Bearer {API_KEY}"


def test_the_configured_retries_are_used(service, settings):
    settings.FORGE_GRADER = "http"
    settings.FORGE_GRADER_HTTP_URL = service.url("/always-503")
    settings.FORGE_GRADER_HTTP_KEY = API_KEY
    settings.FORGE_GRADER_HTTP_RETRIES = 1
    with pytest.raises(GraderUnavailable):
        grade(DEMONSTRATION, task=TASK)
    assert service.requests["/always-503"] == 2


def test_without_an_api_key_no_authorization_header_is_sent(service):
    result = http_grader.grade(DEMONSTRATION, task=TASK, url=service.url("/ok"), api_key="", timeout=TIMEOUT, retries=0)
    assert result.score == Decimal("0.8300")
    assert "authorization" not in service.last_headers
