"""The model judge (FORGE_GRADER=judge) against a real OpenAI-compatible HTTP server on 127.0.0.1.

The deterministic checks always bind, disagreement holds for review, and transport failures
and bad answers are handled as the `http` grader handles them.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from PIL import Image

from pools.grading import GraderResponseInvalid, GraderUnavailable, TaskContext, grade, judge, rules
from pools.grading.base import JPEG_MAGIC, MAX_KEYFRAME_BYTES, MAX_KEYFRAME_IMAGES, KeyframeImage
from tests.fake_http import RecordingHandler, serving
from tests.pools.demonstrations import recording_data

TASK = TaskContext(
    title="Rename the report",
    instructions='Open the shared drive and rename the file "draft-7.docx" to "Q3 Report.docx".',
    expected_minutes=2,
)
GOOD = recording_data(
    [
        {"t": 1.5, "action": "navigate", "url": "https://drive.example.com/shared"},
        {"t": 6.2, "action": "click", "target": 'file "draft-7.docx"'},
        {"t": 9.8, "action": "key", "key": "F2"},
        {"t": 14.1, "action": "type", "target": "Name", "text": "Q3 Report.docx"},
        {"t": 15.7, "action": "key", "key": "Enter"},
    ],
    seconds=40,
    final_state="Shared drive: Q3 Report.docx (renamed)",
    start=datetime(2026, 4, 2, 10, 0, tzinfo=UTC),
)
WRONG_NAME = {**GOOD, "steps": [*GOOD["steps"][:3], {**GOOD["steps"][3], "text": "Q4 Report.docx"}, GOOD["steps"][4]]}
WRONG_NAME["final_state"] = "Shared drive: Q4 Report.docx (renamed)"
TIMEOUT = 0.3
SLOW_SECONDS = 0.8


def completion(content) -> dict:
    return {
        "id": "c1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }


def answer(done: bool, score: float, confidence: float = 0.9) -> str:
    return json.dumps(
        {"task_done": done, "quality_score": score, "confidence": confidence, "reasons": ["looked at it"]}
    )


ROUTES = {
    "/done/chat/completions": (200, completion(answer(True, 0.95))),
    "/not-done/chat/completions": (200, completion(answer(False, 0.1))),
    "/lukewarm/chat/completions": (200, completion(answer(True, 0.55))),
    "/not-json/chat/completions": (200, completion("the task looks done to me")),
    "/schema/chat/completions": (200, completion(json.dumps({"quality_score": 0.9}))),
    "/range/chat/completions": (200, completion(answer(True, 1.7))),
    "/not-completion/chat/completions": (200, {"result": "ok"}),
    "/denied/chat/completions": (401, {"error": "bad key"}),
}


class Handler(RecordingHandler):
    def do_POST(self):
        count = self.record(self.path)
        if self.path == "/flaky/chat/completions":
            status, body = (503, {"error": "busy"}) if count == 1 else (200, completion(answer(True, 0.9)))
        elif self.path == "/slow/chat/completions":
            time.sleep(SLOW_SECONDS)
            status, body = 200, completion(answer(True, 0.9))
        else:
            status, body = ROUTES.get(self.path, (404, {"error": "no route"}))
        self.reply(status, json.dumps(body))


@pytest.fixture(scope="module")
def server():
    with serving(Handler) as fake:
        yield fake


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr("pools.grading.http.BACKOFF_BASE_SECONDS", 0.01)


def judged(server, path: str, demonstration: dict = GOOD, retries: int = 1):
    return judge.grade(
        demonstration, task=TASK, url=server.url(path), api_key="k", model="m", timeout=TIMEOUT, retries=retries
    )


def test_a_judge_that_agrees_with_the_checks_pays(server):
    result = judged(server, "/done")
    assert result.grader == "judge"
    assert result.score == Decimal("0.9500")
    assert result.hold_reasons == ()
    assert result.breakdown["judge"]["binding"] == "judge"
    assert result.breakdown["judge"]["rules_score"] == str(rules.grade(GOOD, task=TASK).score)


def test_a_judge_cannot_pay_what_a_required_check_refuses(server):
    deterministic = rules.grade(WRONG_NAME, task=TASK)
    assert deterministic.breakdown["gate"]["score"] != "1"
    result = judged(server, "/done", WRONG_NAME)
    assert result.score == deterministic.score < Decimal("0.5")
    assert result.breakdown["judge"]["binding"] == "rules"
    assert result.hold_reasons  # the judge would pay: a person looks


def test_a_judge_that_says_not_done_while_the_checks_pass_holds_for_review(server):
    result = judged(server, "/not-done")
    assert result.score < Decimal("0.5")
    assert any("disagree" in reason for reason in result.hold_reasons)


def test_a_large_score_difference_holds_even_when_both_would_pay(server):
    result = judged(server, "/lukewarm")
    assert Decimal("0.5") <= result.score
    assert any("more than" in reason for reason in result.hold_reasons)


def test_the_request_is_a_chat_completion_with_a_json_schema_the_log_and_the_checks(server):
    judged(server, "/done")
    body = server.last_body
    assert server.last_headers["authorization"] == "Bearer k"
    assert body["model"] == "m" and body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == judge.ANSWER_SCHEMA
    user = body["messages"][-1]["content"]
    assert '"success_checks"' in user and "Q3 Report.docx" in user
    assert '"action": "type"' in user


def test_a_base_url_or_the_full_endpoint_both_work():
    assert judge.chat_completions_url("http://h/v1/") == "http://h/v1/chat/completions"
    assert judge.chat_completions_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"


def test_a_5xx_is_retried_then_answered(server):
    assert judged(server, "/flaky", retries=2).score == Decimal("0.9000")
    assert server.requests["/flaky/chat/completions"] == 2


def test_timeouts_are_retried_then_unavailable(server):
    with pytest.raises(GraderUnavailable, match="timed out"):
        judged(server, "/slow", retries=1)
    assert server.requests["/slow/chat/completions"] == 2


@pytest.mark.parametrize("path", ["/not-json", "/schema", "/range", "/not-completion", "/denied"])
def test_bad_answers_are_invalid_at_once(server, path):
    with pytest.raises(GraderResponseInvalid):
        judged(server, path, retries=3)
    assert server.requests[f"{path}/chat/completions"] == 1


def test_no_url_is_unavailable():
    with pytest.raises(GraderUnavailable, match="FORGE_GRADER_JUDGE_URL"):
        judge.grade(GOOD, task=TASK, url="", api_key="", model="m", timeout=1, retries=0)


def test_the_configured_judge_is_used(settings, server):
    settings.FORGE_GRADER = "judge"
    settings.FORGE_GRADER_JUDGE_URL = server.url("/done")
    settings.FORGE_GRADER_JUDGE_TIMEOUT = TIMEOUT
    assert grade(GOOD, task=TASK).grader == "judge"


def test_the_judge_is_told_the_reference_milestones_when_there_are_any():
    plain = judge.request_payload(GOOD, TASK, "m")["messages"][-1]["content"]
    assert "reference_milestones" not in plain
    with_references = TaskContext(
        title=TASK.title,
        instructions=TASK.instructions,
        expected_minutes=TASK.expected_minutes,
        references=[("drive.example.com/shared", "draft-7.docx", "q3 report.docx")],
    )
    content = judge.request_payload(GOOD, with_references, "m")["messages"][-1]["content"]
    terms = json.loads(content.split("\n\nRECORDING:\n")[0].removeprefix("TASK:\n"))
    assert terms["reference_milestones"] == [["drive.example.com/shared", "draft-7.docx", "q3 report.docx"]]


def jpeg(shade: int = 128, size: tuple[int, int] = (32, 18)) -> bytes:
    """A real small grayscale JPEG, as the evidence app stores keyframe thumbnails."""
    buffer = io.BytesIO()
    Image.new("L", size, color=shade).save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


def with_keyframes(*frames: KeyframeImage) -> TaskContext:
    return dataclasses.replace(TASK, keyframes=frames)


def image_parts(body: dict) -> list[str]:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return []
    return [part["image_url"]["url"] for part in content if part["type"] == "image_url"]


def test_the_judge_is_sent_the_keyframes_as_image_parts(server):
    typed, final = jpeg(90), jpeg(200)
    task = with_keyframes(
        KeyframeImage(t="14.300", purpose="after typing 3", jpeg=typed),
        KeyframeImage(t="39.000", purpose="final", jpeg=final),
    )
    result = judge.grade(GOOD, task=task, url=server.url("/done"), api_key="k", model="m", timeout=TIMEOUT, retries=1)
    assert result.score == Decimal("0.9500")
    body = server.last_body
    content = body["messages"][-1]["content"]
    assert content[0]["type"] == "text" and '"success_checks"' in content[0]["text"]  # the log and terms first
    assert "KEYFRAMES: 2" in content[0]["text"]
    urls = image_parts(body)
    assert [base64.b64decode(url.removeprefix("data:image/jpeg;base64,")) for url in urls] == [typed, final]
    assert all(url.startswith("data:image/jpeg;base64,") for url in urls)
    captions = [part["text"] for part in content[1:] if part["type"] == "text"]
    assert captions == ["Keyframe at 14.300 s (after typing 3):", "Keyframe at 39.000 s (final):"]


def test_without_keyframes_the_message_stays_text(server):
    judged(server, "/done")
    assert isinstance(server.last_body["messages"][-1]["content"], str)
    assert image_parts(server.last_body) == []


def test_bad_and_oversized_keyframes_are_skipped_never_an_error(server):
    good = jpeg(60)
    task = with_keyframes(
        KeyframeImage(t="1.000", purpose="after typing 0", jpeg=b"\x89PNG\r\n\x1a\n not a jpeg"),
        KeyframeImage(t="2.000", purpose="after typing 1", jpeg=b""),
        KeyframeImage(t="3.000", purpose="after typing 2", jpeg=JPEG_MAGIC + b"\0" * MAX_KEYFRAME_BYTES),
        KeyframeImage(t="4.000", purpose="final", jpeg=good),
    )
    judge.grade(GOOD, task=task, url=server.url("/done"), api_key="k", model="m", timeout=TIMEOUT, retries=1)
    urls = image_parts(server.last_body)
    assert [base64.b64decode(url.split(",", 1)[1]) for url in urls] == [good]

    only_bad = with_keyframes(KeyframeImage(t="1.000", purpose="final", jpeg=b"GIF89a"))
    judge.grade(GOOD, task=only_bad, url=server.url("/done"), api_key="k", model="m", timeout=TIMEOUT, retries=1)
    assert isinstance(server.last_body["messages"][-1]["content"], str)  # nothing usable: text only


def test_the_number_of_keyframes_is_bounded_and_the_last_ones_kept():
    frames = [KeyframeImage(t=f"{i}.000", purpose=f"after typing {i}", jpeg=jpeg(i * 20)) for i in range(10)]
    payload = judge.request_payload(GOOD, with_keyframes(*frames), "m")
    urls = image_parts(payload)
    assert len(urls) == MAX_KEYFRAME_IMAGES
    assert base64.b64decode(urls[-1].split(",", 1)[1]) == frames[-1].jpeg


def test_keyframes_must_be_keyframe_images():
    with pytest.raises(TypeError, match="KeyframeImage"):
        dataclasses.replace(TASK, keyframes=(b"\xff\xd8\xff",))


def test_the_rules_never_hold_the_images(server, monkeypatch):
    """The rules' caches are keyed by the task: the keyframes stay out of them."""
    seen = []
    real = rules.grade

    def spying(demonstration, *, task):
        seen.append(task.keyframes)
        return real(demonstration, task=task)

    monkeypatch.setattr(rules, "grade", spying)
    task = with_keyframes(KeyframeImage(t="1.000", purpose="final", jpeg=jpeg()))
    judge.grade(GOOD, task=task, url=server.url("/done"), api_key="k", model="m", timeout=TIMEOUT, retries=1)
    assert seen == [None]
    assert len(image_parts(server.last_body)) == 1
