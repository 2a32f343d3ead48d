"""Evidence checks: a demonstration's claims held against the frames of its screen recording.

Pure functions, no database, no decoding: `evidence_plan` says which video times to look at (and
which of them to read with OCR, where); the caller (evidence/services.py) decodes those frames and
reads their text; `evidence_report` turns keyframes + text into the evidence section of a grade.

Each check has a name, a result (`pass`, `fail`, `skipped`), a weight, a reason a farmer can read
and the keyframe(s) it used (`{"index", "t", "dhash"}`). docs/recorder-archive.md#evidence-checks
describes them; in short:

| check | passes when | a failure means |
|---|---|---|
| `video_changes` | some frames differ: the video is not one still picture | suspicious (hold) |
| `duration_matches` | the video lasts about as long as the recorded events | suspicious (hold) |
| `events_match_video` | clicks and typing are followed by some screen change | suspicious (hold) |
| `final_state` | most words of the claimed final state are on the last frames | the claim is unsupported |
| `success_checks` | every success phrase of the task is on the last frames | the claim is unsupported |
| `typed_text` | most typed text is on screen after it was typed | the claim is unsupported |
| `clicks` | most clicks change the screen near the pointer | (weighs on confidence only) |

The evidence confidence is the weight of passed checks over the weight of all checks, skipped
ones included (a check that could not run is evidence missing), rounded down to 4 places.
All numbers in the section are strings, as in the rest of a grade's breakdown.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

import numpy as np

from .ocr import text_contains, text_normalise

EVIDENCE_VERSION = 1

# Times relative to a step (seconds of video time = seconds since meta.json's timestamp). The
# recorder writes the timestamp, then starts FFmpeg, so the video may start up to about a second
# late: a frame at video time v shows the screen at v + (that delay). "Before" is taken early
# enough, and "after" late enough, to stay on the right side of the step either way.
BEFORE_SECONDS = 1.0
AFTER_CLICK_SECONDS = 1.5
AFTER_TYPING_SECONDS = 1.5
UNIFORM_SAMPLES = 60
MAX_CLICK_CHECKS = 200
MAX_TYPE_CHECKS = 20
MIN_TYPED_CHARS = 3

# A thumbnail pixel "changed" when its gray level moves by more than this (video noise is smaller).
PIXEL_DELTA = 24
# Share of pixels that must change: anywhere on the screen, and in the box around a click.
CHANGE_ANYWHERE = 0.0003
CHANGE_NEAR = 0.002
NEAR_FRACTION = 0.1  # the box around a click: ±10% of the screen's width and height
# The pointer itself is drawn in the recording: a box this large (in video pixels, from the
# hotspot) is masked at the click so that the arrow arriving there is not "a change".
POINTER_BOX = (-6, -6, 36, 44)
# Crop read around the last click for typed text: fractions of the screen, from the click.
TYPED_CROP = (-0.15, -0.06, 0.45, 0.06)

FINAL_STATE_MIN_SHARE = 0.6
TYPED_MIN_SHARE = 0.7
CLICKS_MIN_SHARE = 0.5
MISMATCH_SHARE = 0.6
MIN_CLICKS_FOR_MISMATCH = 3
DURATION_TOLERANCE_SECONDS = 5.0
DURATION_TOLERANCE_SHARE = 0.2

WEIGHTS = {
    "video_changes": Decimal("0.2"),
    "duration_matches": Decimal("0.1"),
    "events_match_video": Decimal("0.1"),
    "final_state": Decimal("0.2"),
    "success_checks": Decimal("0.2"),
    "typed_text": Decimal("0.15"),
    "clicks": Decimal("0.15"),
}
SUSPICIOUS_CHECKS = frozenset({"video_changes", "duration_matches", "events_match_video"})
# A failed check that holds the demonstration for review: the suspicious ones, and the reuse of
# another recording's frames (evidence/services.py `frames_reused`, which needs the database).
HOLD_CHECKS = SUSPICIOUS_CHECKS | {"frames_reused"}
CLAIM_CHECKS = frozenset({"final_state", "success_checks", "typed_text"})
PASS, FAIL, SKIPPED = "pass", "fail", "skipped"

VERDICT_SUPPORTED = "supported"
VERDICT_UNSUPPORTED = "unsupported"
VERDICT_SUSPICIOUS = "suspicious"
VERDICT_NO_VIDEO = "no_video"

_STOP_WORDS_TEXT = (
    "a an the and or of to in on at for with by from into is are was were be been it its this that these those "
    "as has have had then than so all new my our your their his her created done shows showing shown screen "
    "named called titled first now"
)
_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split(" "))
_WORD_RE = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class OcrRequest:
    """Read text on request `index`'s frame: the whole frame (box None) or a box of it (video
    pixels), enlarged `upscale` times."""

    box: tuple[int, int, int, int] | None = None
    upscale: int = 1


@dataclass
class EvidencePlan:
    """What to look at: `times[i]` are video seconds; `purposes[i]` says why (for the report);
    `ocr[i]` says how to read request i's text, for the few requests that need it."""

    width: int = 1
    height: int = 1
    times: list[float] = field(default_factory=list)
    purposes: list[str] = field(default_factory=list)
    ocr: dict[int, OcrRequest] = field(default_factory=dict)
    clicks: list[dict] = field(default_factory=list)  # {step, before, after, x, y} (video pixels)
    typing: list[dict] = field(default_factory=list)  # {step, before, after, text}
    final: list[int] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)

    def add(self, t: float, purpose: str, ocr: OcrRequest | None = None) -> int:
        self.times.append(t)
        self.purposes.append(purpose)
        index = len(self.times) - 1
        if ocr is not None:
            self.ocr[index] = ocr
        return index


def evidence_plan(
    demonstration: dict, *, duration: float, width: int, height: int, pointer_scale: float = 1.0, ocr: bool = True
) -> EvidencePlan:
    """The frames to decode (and read) to check `demonstration` against a video of `duration`
    seconds and `width`x`height` pixels. `pointer_scale` maps recorder pointer units to pixels."""
    plan = EvidencePlan(width=width, height=height)
    end = max(duration - 0.05, 0.0)

    def clamp(t: float) -> float:
        return min(max(t, 0.0), end)

    count = UNIFORM_SAMPLES if duration >= UNIFORM_SAMPLES else max(2, int(duration) + 1)
    for i in range(count):
        plan.samples.append(plan.add(clamp(end * i / max(count - 1, 1)), "sample"))

    steps = demonstration.get("steps") or []
    clicks = [(i, s) for i, s in enumerate(steps) if s.get("action") == "click" and "x" in s and "y" in s]
    for i, step in _evenly(clicks, MAX_CLICK_CHECKS):
        x, y = round(step["x"] * pointer_scale), round(step["y"] * pointer_scale)
        plan.clicks.append(
            {
                "step": i,
                "x": x,
                "y": y,
                "before": plan.add(clamp(step["t"] - BEFORE_SECONDS), f"before click {i}"),
                "after": plan.add(clamp(step["t"] + AFTER_CLICK_SECONDS), f"after click {i}"),
            }
        )

    typed = [
        (i, s)
        for i, s in enumerate(steps)
        if s.get("action") == "type" and len((s.get("text") or "").replace(" ", "")) >= MIN_TYPED_CHARS
    ]
    for i, step in _evenly(typed, MAX_TYPE_CHECKS):
        until = step.get("typed_until", step["t"])
        until = until if isinstance(until, int | float) and until >= step["t"] else step["t"]
        box = None
        click = _last_click_before(steps, i)
        if click is not None:
            box = _crop_box(round(click["x"] * pointer_scale), round(click["y"] * pointer_scale), width, height)
        request = OcrRequest(box=box, upscale=2 if box else 1) if ocr and box else None
        plan.typing.append(
            {
                "step": i,
                "text": step["text"],
                "before": plan.add(clamp(step["t"] - BEFORE_SECONDS), f"before typing {i}"),
                "after": plan.add(clamp(until + AFTER_TYPING_SECONDS), f"after typing {i}", request),
            }
        )

    final_times = [end]
    if steps:
        last = steps[-1]
        last_end = last["typed_until"] if isinstance(last.get("typed_until"), int | float) else last["t"]
        last_after = clamp(max(last_end, last["t"]) + AFTER_CLICK_SECONDS)
        if end - last_after > 0.5:
            final_times.append(last_after)
    for t in final_times:
        plan.final.append(plan.add(t, "final", OcrRequest() if ocr else None))
    return plan


def evidence_report(
    demonstration: dict,
    plan: EvidencePlan,
    keyframes: list,
    texts: dict[int, str],
    *,
    video: dict,
    recording_seconds: float,
    success_checks: list[str] | None,
    ocr_engine: str | None,
) -> dict:
    """The evidence section: every check's result, reason and keyframe, the confidence and the
    verdict. `keyframes[i]` is the Keyframe for `plan.times[i]`; `texts[i]` the text read on it
    (only for planned OCR requests; absent when OCR is unavailable, `ocr_engine` None)."""
    by_index = {frame.index: frame for frame in keyframes}
    checks = [
        _check_video_changes(plan, by_index),
        _check_duration(video, recording_seconds),
        _check_events_match(plan, by_index),
        _check_final_state(demonstration, plan, by_index, texts, ocr_engine),
        _check_success(success_checks, plan, by_index, texts, ocr_engine),
        _check_typed_text(plan, by_index, texts, ocr_engine),
        _check_clicks(plan, by_index),
    ]
    return _summarise(checks, plan, by_index, video=video, ocr_engine=ocr_engine)


def evidence_report_without_video(reason: str) -> dict:
    """The evidence section of a demonstration that has no readable video: nothing supported."""
    checks = [_result(name, SKIPPED, reason) for name in WEIGHTS]
    section = _summarise(checks, EvidencePlan(), {}, video=None, ocr_engine=None)
    section["verdict"] = VERDICT_NO_VIDEO
    section["hold"] = True
    section["reasons"] = [reason]
    return section


# -- the checks ----------------------------------------------------------------------------


def _check_video_changes(plan: EvidencePlan, frames: dict) -> dict:
    samples = [frames[i] for i in plan.samples if i in frames]
    if len(samples) < 2:
        return _result("video_changes", SKIPPED, "Too few frames to compare.")
    biggest, pair = 0.0, (samples[0], samples[1])
    for first, second in itertools.pairwise(samples):
        share = changed_share(first.thumb, second.thumb)
        if share > biggest:
            biggest, pair = share, (first, second)
    if biggest < CHANGE_ANYWHERE:
        return _result(
            "video_changes",
            FAIL,
            f"The screen never changes in {len(samples)} frames across the video: it is a still picture.",
            [samples[0], samples[-1]],
            largest_change=_share(biggest),
        )
    return _result(
        "video_changes",
        PASS,
        f"The screen changes (largest change between samples: {_percent(biggest)} of the picture).",
        list(pair),
        largest_change=_share(biggest),
    )


def _check_duration(video: dict, recording_seconds: float) -> dict:
    video_seconds = float(video["duration_seconds"])
    tolerance = max(DURATION_TOLERANCE_SECONDS, DURATION_TOLERANCE_SHARE * recording_seconds)
    details = {"video_seconds": f"{video_seconds:.1f}", "recording_seconds": f"{recording_seconds:.1f}"}
    if abs(video_seconds - recording_seconds) > tolerance:
        return _result(
            "duration_matches",
            FAIL,
            f"The video lasts {video_seconds:.1f} s but the recorded events span {recording_seconds:.1f} s.",
            **details,
        )
    return _result(
        "duration_matches",
        PASS,
        f"The video ({video_seconds:.1f} s) lasts as long as the recording ({recording_seconds:.1f} s).",
        **details,
    )


def _check_events_match(plan: EvidencePlan, frames: dict) -> dict:
    clicks = [c for c in plan.clicks if c["before"] in frames and c["after"] in frames]
    typing = [t for t in plan.typing if t["before"] in frames and t["after"] in frames]
    dead_clicks = [
        c for c in clicks if changed_share(frames[c["before"]].thumb, frames[c["after"]].thumb) < CHANGE_ANYWHERE
    ]
    dead_typing = [
        t for t in typing if changed_share(frames[t["before"]].thumb, frames[t["after"]].thumb) < CHANGE_ANYWHERE
    ]
    if len(clicks) < MIN_CLICKS_FOR_MISMATCH and not typing:
        return _result("events_match_video", SKIPPED, "Too few clicks and no typing to compare with the video.")
    problems = []
    used = []
    if len(clicks) >= MIN_CLICKS_FOR_MISMATCH and len(dead_clicks) > MISMATCH_SHARE * len(clicks):
        problems.append(f"{len(dead_clicks)} of {len(clicks)} clicks change nothing anywhere on screen")
        used += [frames[dead_clicks[0]["before"]], frames[dead_clicks[0]["after"]]]
    if typing and len(dead_typing) > MISMATCH_SHARE * len(typing):
        problems.append(f"{len(dead_typing)} of {len(typing)} typed texts change nothing on screen")
        used += [frames[dead_typing[0]["before"]], frames[dead_typing[0]["after"]]]
    details = {
        "clicks_checked": str(len(clicks)),
        "clicks_without_change": str(len(dead_clicks)),
        "typing_checked": str(len(typing)),
        "typing_without_change": str(len(dead_typing)),
    }
    if problems:
        return _result(
            "events_match_video",
            FAIL,
            "The events do not match the video: " + "; ".join(problems) + ".",
            used,
            **details,
        )
    return _result(
        "events_match_video",
        PASS,
        f"Clicks and typing are followed by screen changes ({len(clicks) - len(dead_clicks)} of {len(clicks)} clicks, "
        f"{len(typing) - len(dead_typing)} of {len(typing)} typed texts).",
        **details,
    )


def _final_text(plan: EvidencePlan, frames: dict, texts: dict[int, str]) -> tuple[str, list]:
    used = [frames[i] for i in plan.final if i in frames]
    return "\n".join(texts.get(i, "") for i in plan.final), used


def _check_final_state(demonstration: dict, plan: EvidencePlan, frames: dict, texts: dict, ocr_engine) -> dict:
    claim = (demonstration.get("final_state") or "").strip()
    if not claim:
        return _result("final_state", SKIPPED, "No final state is claimed.")
    if ocr_engine is None:
        return _result("final_state", SKIPPED, "OCR is unavailable: the final state could not be read on screen.")
    screen, used = _final_text(plan, frames, texts)
    words = claim_words(claim)
    if not words:
        return _result("final_state", SKIPPED, "The final state names nothing that could be seen on screen.")
    seen = _words_seen(words, screen)
    share = len(seen) / len(words)
    missing = [word for word in words if word not in seen]
    details = {"share_seen": _share(share), "missing": missing[:20]}
    if share >= FINAL_STATE_MIN_SHARE:
        return _result(
            "final_state",
            PASS,
            f"{len(seen)} of {len(words)} words of the final state are on the last frames.",
            used,
            **details,
        )
    return _result(
        "final_state",
        FAIL,
        f"The last frames do not show the claimed final state: {len(seen)} of {len(words)} of its words are on screen"
        + (f" (missing: {', '.join(missing[:8])})." if missing else "."),
        used,
        **details,
    )


def _check_success(success_checks, plan: EvidencePlan, frames: dict, texts: dict, ocr_engine) -> dict:
    phrases = [phrase for phrase in (success_checks or []) if text_normalise(phrase)]
    if not phrases:
        return _result("success_checks", SKIPPED, "The task has no success checks.")
    if ocr_engine is None:
        return _result("success_checks", SKIPPED, "OCR is unavailable: the success checks could not be read on screen.")
    screen, used = _final_text(plan, frames, texts)
    found = [phrase for phrase in phrases if text_contains(screen, phrase)]
    missing = [phrase for phrase in phrases if phrase not in found]
    details = {"found": found[:20], "missing": missing[:20]}
    if missing:
        return _result(
            "success_checks",
            FAIL,
            f"{len(missing)} of {len(phrases)} success checks are not on the last frames: {', '.join(missing[:8])}.",
            used,
            **details,
        )
    return _result(
        "success_checks", PASS, f"All {len(phrases)} success checks are on the last frames.", used, **details
    )


def _check_typed_text(plan: EvidencePlan, frames: dict, texts: dict, ocr_engine) -> dict:
    if not plan.typing:
        return _result("typed_text", SKIPPED, f"No typed text of {MIN_TYPED_CHARS} characters or more.")
    if ocr_engine is None:
        return _result("typed_text", SKIPPED, "OCR is unavailable: typed text could not be read on screen.")
    final_screen, _ = _final_text(plan, frames, texts)
    total = seen_chars = 0
    items = []
    used = []
    for typing in plan.typing:
        text = typing["text"]
        weight = len(text.replace(" ", ""))
        total += weight
        after_text = texts.get(typing["after"], "")
        where = None
        if after_text and text_contains(after_text, text):
            where = "after typing"
        elif text_contains(final_screen, text):
            where = "on the last frames"
        if where:
            seen_chars += weight
        frame = frames.get(typing["after"])
        if frame is not None and len(used) < 3 and (where is None or not used):
            used.append(frame)
        items.append({"step": typing["step"], "text": text[:80], "seen": where or "no", "keyframe": _ref(frame)})
    share = seen_chars / total if total else 0.0
    details = {"share_seen": _share(share), "items": items[:50]}
    unseen = [item["text"] for item in items if item["seen"] == "no"]
    if share >= TYPED_MIN_SHARE:
        return _result(
            "typed_text", PASS, f"{_percent(share)} of the typed text is on screen after it was typed.", used, **details
        )
    return _result(
        "typed_text",
        FAIL,
        f"Only {_percent(share)} of the typed text appears on screen "
        f"(not seen: {', '.join(repr(text) for text in unseen[:5])}).",
        used,
        **details,
    )


def _check_clicks(plan: EvidencePlan, frames: dict) -> dict:
    clicks = [c for c in plan.clicks if c["before"] in frames and c["after"] in frames]
    if not clicks:
        return _result("clicks", SKIPPED, "No clicks with a position to check.")
    near = elsewhere = 0
    items = []
    used = []
    for click in clicks:
        before, after = frames[click["before"]], frames[click["after"]]
        box, mask = _near_box(click["x"], click["y"], before.thumb.shape, video_size=(plan.width, plan.height))
        near_share = changed_share(before.thumb, after.thumb, box=box, mask=mask)
        any_share = changed_share(before.thumb, after.thumb)
        if near_share >= CHANGE_NEAR:
            outcome = "near"
            near += 1
        elif any_share >= CHANGE_ANYWHERE:
            outcome = "elsewhere"
            elsewhere += 1
        else:
            outcome = "none"
        if len(used) < 2:
            used.append(after)
        items.append({"step": click["step"], "change": outcome, "keyframe": _ref(after)})
    share = (near + 0.5 * elsewhere) / len(clicks)
    details = {
        "near": str(near),
        "elsewhere": str(elsewhere),
        "none": str(len(clicks) - near - elsewhere),
        "items": items[:50],
    }
    if share >= CLICKS_MIN_SHARE:
        return _result(
            "clicks", PASS, f"{near} of {len(clicks)} clicks change the screen near the pointer.", used, **details
        )
    return _result(
        "clicks",
        FAIL,
        f"Only {near} of {len(clicks)} clicks change the screen near the pointer ({elsewhere} elsewhere).",
        used,
        **details,
    )


# -- pixels --------------------------------------------------------------------------------


def changed_share(first: np.ndarray, second: np.ndarray, *, box=None, mask=None) -> float:
    """Share of pixels whose gray level moves by more than PIXEL_DELTA between two thumbnails,
    inside `box` = (left, top, right, bottom) if given, leaving out the `mask` box."""
    if first.shape != second.shape:
        return 1.0
    changed = np.abs(first.astype(np.int16) - second.astype(np.int16)) > PIXEL_DELTA
    if mask is not None:
        left, top, right, bottom = mask
        changed[top:bottom, left:right] = False
    if box is not None:
        left, top, right, bottom = box
        region = changed[top:bottom, left:right]
        area = region.size
        if mask is not None:  # the masked pixels are not part of the area either
            m_left, m_top = max(mask[0], left), max(mask[1], top)
            m_right, m_bottom = min(mask[2], right), min(mask[3], bottom)
            area -= max(0, m_right - m_left) * max(0, m_bottom - m_top)
        return float(region.sum()) / area if area > 0 else 0.0
    return float(changed.mean())


def _near_box(x: int, y: int, shape: tuple[int, int], *, video_size: tuple[int, int]):
    """The box around a click and the pointer mask at it, in thumbnail pixels."""
    height, width = shape
    video_width, video_height = video_size
    sx, sy = width / video_width, height / video_height
    cx, cy = x * sx, y * sy
    half_w, half_h = NEAR_FRACTION * width, NEAR_FRACTION * height
    box = (
        max(0, int(cx - half_w)),
        max(0, int(cy - half_h)),
        min(width, int(cx + half_w) + 1),
        min(height, int(cy + half_h) + 1),
    )
    mask = (
        max(0, int(cx + POINTER_BOX[0] * sx)),
        max(0, int(cy + POINTER_BOX[1] * sy)),
        min(width, int(cx + POINTER_BOX[2] * sx) + 1),
        min(height, int(cy + POINTER_BOX[3] * sy) + 1),
    )
    return box, mask


def _crop_box(x: int, y: int, width: int, height: int) -> tuple[int, int, int, int] | None:
    left = max(0, int(x + TYPED_CROP[0] * width))
    top = max(0, int(y + TYPED_CROP[1] * height))
    right = min(width, int(x + TYPED_CROP[2] * width))
    bottom = min(height, int(y + TYPED_CROP[3] * height))
    if right - left < 8 or bottom - top < 8:
        return None
    return left, top, right, bottom


# -- words ---------------------------------------------------------------------------------


def claim_words(text: str) -> list[str]:
    """The words of a claim worth looking for on screen: normalised, no stop words, no repeats."""
    words = []
    for word in _WORD_RE.findall(text_normalise(text)):
        if (len(word) >= 2 or word.isdigit()) and word not in _STOP_WORDS and word not in words:
            words.append(word)
    return words


def _words_seen(words: list[str], screen: str) -> set[str]:
    screen_words = set(text_normalise(screen).split())
    seen = set()
    for word in words:
        fuzzy = len(word) >= 4 and text_contains(screen, word)
        singular = word.endswith("s") and word[:-1] in screen_words  # "headers" claimed, "Header" shown
        if word in screen_words or fuzzy or singular:
            seen.add(word)
    return seen


_QUOTED_RE = re.compile(r"[\"“”'‘’]([^\"“”'‘’]{2,80})[\"“”'‘’]")
_NAMED_RE = re.compile(
    r"\b(?:named|called|titled|entitled)\s+(.+?)(?=\s+(?:and|with|in|on|then|to|for|from)\b|[,.;:!?]|$)", re.IGNORECASE
)
_LIST_RE = re.compile(
    r"\b(?:headers?|headings?|columns?|labels?|values?|items?)\s+(.+?)(?=\s+(?:in|on|to|at|for|from|then)\b|[.;:!?]|$)",
    re.IGNORECASE,
)


def success_checks_propose(instructions: str) -> list[str]:
    """Phrases the last frames should show, read off a task's instructions when the factory gave
    no success checks: quoted text, what something is `named`/`called`/`titled`, and the items
    listed after `headers`/`columns`/`labels`/`values` ("add headers Month, Income, Expenses in
    the first row" gives Month, Income, Expenses). A heuristic: factories should give their own."""
    found: list[str] = []

    def add(phrase: str) -> None:
        phrase = " ".join(phrase.strip(" \t\"'“”‘’").split())
        if phrase and len(phrase) <= 80 and phrase.casefold() not in (item.casefold() for item in found):
            found.append(phrase)

    for match in _QUOTED_RE.finditer(instructions):
        add(match.group(1))
    for match in _NAMED_RE.finditer(instructions):
        add(match.group(1))
    for match in _LIST_RE.finditer(instructions):
        for item in re.split(r",|\band\b", match.group(1)):
            if 0 < len(item.split()) <= 4:
                add(item)
    return found[:20]


# -- the section ---------------------------------------------------------------------------


def _summarise(checks: list[dict], plan: EvidencePlan, frames: dict, *, video: dict | None, ocr_engine) -> dict:
    total = sum(WEIGHTS.values())
    passed = sum((WEIGHTS[check["name"]] for check in checks if check["result"] == PASS), Decimal(0))
    confidence = (passed / total).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
    failed = {check["name"] for check in checks if check["result"] == FAIL}
    if failed & SUSPICIOUS_CHECKS:
        verdict = VERDICT_SUSPICIOUS
    elif failed & CLAIM_CHECKS:
        verdict = VERDICT_UNSUPPORTED
    else:
        verdict = VERDICT_SUPPORTED
    reasons = [check["reason"] for check in checks if check["result"] == FAIL]
    return {
        "version": EVIDENCE_VERSION,
        "verdict": verdict,
        "hold": verdict == VERDICT_SUSPICIOUS,
        "hold_checks": sorted(HOLD_CHECKS),
        "confidence": str(confidence),
        "unsupported_claims": sorted(failed & CLAIM_CHECKS),
        "reasons": reasons,
        "checks": checks,
        "video": video,
        "ocr": ocr_engine or "unavailable",
        "keyframes": [
            {**frames[i].as_dict(), "purpose": plan.purposes[i]} for i in sorted(frames) if i < len(plan.purposes)
        ][:500],
    }


def _result(name: str, result: str, reason: str, used: list | None = None, **details) -> dict:
    frames = [_ref(frame) for frame in (used or []) if frame is not None]
    return {
        "name": name,
        "result": result,
        "weight": str(WEIGHTS[name]),
        "reason": reason,
        "keyframe": frames[0] if frames else None,
        "keyframes": frames,
        "details": details,
    }


def _ref(frame) -> dict | None:
    if frame is None:
        return None
    return {"index": frame.index, "t": f"{frame.t:.3f}", "dhash": frame.dhash}


def _share(value: float) -> str:
    return str(Decimal(f"{value:.10f}").quantize(Decimal("0.0001"), rounding=ROUND_DOWN))


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _evenly(items: list, limit: int) -> list:
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def _last_click_before(steps: list[dict], index: int) -> dict | None:
    for step in reversed(steps[:index]):
        if step.get("action") == "click" and "x" in step and "y" in step:
            return step
    return None


# -- frames reused from another recording (the lookup is evidence/selectors.py `frames_near`) --

# Two frames are "the same picture" within this Hamming distance of their 64-bit dHashes. At
# most 3: the lookup finds candidates by four 16-bit bands, complete only up to distance 3.
REUSE_DISTANCE = 3
# Reuse is reported when at least this share of a recording's distinct sampled pictures (and at
# least REUSE_MIN_FRAMES of them) are found in one other recording: a shared start screen or
# an empty spreadsheet is not reuse, most of a recording is.
REUSE_SHARE = 0.5
REUSE_MIN_FRAMES = 3
# A hash with fewer than this many bits set, or unset, is a flat picture (a blank screen,
# a solid colour): every recording has some, so they say nothing about reuse.
INFORMATIVE_BITS = 3


def dhash_informative(digest: str) -> bool:
    bits = int(digest, 16).bit_count()
    return INFORMATIVE_BITS <= bits <= 64 - INFORMATIVE_BITS


def reuse_candidates(section: dict) -> list[dict]:
    """The section's sampled keyframes worth looking up: one per distinct informative hash."""
    seen: set[str] = set()
    frames = []
    for frame in section.get("keyframes", ()):
        digest = frame["dhash"]
        if frame.get("purpose") == "sample" and digest not in seen and dhash_informative(digest):
            seen.add(digest)
            frames.append(frame)
    return frames


def check_frames_reused(candidates: list[dict], matches: dict[str, list[dict]]) -> dict:
    """The `frames_reused` check: `matches[dhash]` lists the frames of other recordings within
    REUSE_DISTANCE of it (`{"submission_id", "farmer_id", "factory_id"}`). Fails when one other
    recording holds most of this one's pictures."""
    if len(candidates) < REUSE_MIN_FRAMES:
        return _reuse_result(SKIPPED, "Too few distinct pictures to compare with other recordings.", [], {})
    per_recording: dict[int, list[dict]] = {}
    owners: dict[int, dict] = {}
    for frame in candidates:
        for match in matches.get(frame["dhash"], ()):
            found = per_recording.setdefault(match["submission_id"], [])
            if not found or found[-1] is not frame:
                found.append(frame)
            owners[match["submission_id"]] = match
    best = max(per_recording, key=lambda sid: (len(per_recording[sid]), -sid), default=None)
    shared = per_recording.get(best, []) if best is not None else []
    share = len(shared) / len(candidates)
    details = {
        "pictures_compared": str(len(candidates)),
        "pictures_shared": str(len(shared)),
        "share": _share(share),
        "other_submission": str(best) if best is not None else None,
    }
    if best is not None and len(shared) >= REUSE_MIN_FRAMES and share >= REUSE_SHARE:
        owner = owners[best]
        # Not the other farmer's id: the section is shown to creators, whose datasets only ever
        # name farmers by pseudonym; staff find the farmer from the submission.
        details.update(other_factory=str(owner["factory_id"]))
        return _reuse_result(
            FAIL,
            f"{len(shared)} of {len(candidates)} distinct pictures of this recording are frames of another "
            f"recording (submission {best}, factory {owner['factory_id']}): the video was reused.",
            shared[:2],
            details,
        )
    return _reuse_result(
        PASS,
        f"No other recording shares most of its pictures ({len(shared)} of {len(candidates)} at most).",
        [],
        details,
    )


def _reuse_result(result: str, reason: str, frames: list[dict], details: dict) -> dict:
    refs = [{"index": frame["index"], "t": frame["t"], "dhash": frame["dhash"]} for frame in frames]
    # Weight 0: the check holds (HOLD_CHECKS) but leaves the evidence confidence as it was.
    return {
        "name": "frames_reused",
        "result": result,
        "weight": "0",
        "reason": reason,
        "keyframe": refs[0] if refs else None,
        "keyframes": refs,
        "details": details,
    }


def section_with_check(section: dict, check: dict) -> dict:
    """`section` with one more check (computed outside `evidence_report`), its verdict, hold and
    reasons brought up to date."""
    section = {**section, "checks": [*section["checks"], check]}
    if check["result"] == FAIL:
        section["reasons"] = [*section["reasons"], check["reason"]]
        if check["name"] in HOLD_CHECKS:
            section["verdict"] = VERDICT_SUSPICIOUS
            section["hold"] = True
    return section
