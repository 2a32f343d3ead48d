"""Near-duplicates: robust to cosmetic edits, never fooled into "same" by different keys or URLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pools.grading.similarity import (
    DUPLICATE_SIMILARITY,
    demonstration_signature,
    demonstration_similarity,
    is_near_duplicate,
    signature_similarity,
)
from tests.pools.demonstrations import recording_data

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHOP_START = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)


def original() -> dict:
    return recording_data(
        [
            {"t": 1.2, "action": "navigate", "url": "https://shop.example.com/cart"},
            {"t": 4.8, "action": "click", "target": "Proceed to checkout", "x": 812, "y": 540},
            {"t": 9.1, "action": "type", "target": "Full name", "text": "Jordan Alvarez"},
            {"t": 12.4, "action": "key", "key": "Tab"},
            {"t": 15.0, "action": "type", "target": "Street address", "text": "221 Harbor Lane"},
            {"t": 18.7, "action": "key", "key": "Tab"},
            {"t": 21.3, "action": "type", "target": "Postal code", "text": "94107"},
            {"t": 26.9, "action": "click", "target": "Place order", "x": 900, "y": 760},
            {"t": 31.2, "action": "navigate", "url": "https://shop.example.com/orders/confirmation"},
        ],
        seconds=90,
        final_state="Order placed",
        start=SHOP_START,
    )


def edited(change) -> dict:
    demo = json.loads(json.dumps(original()))
    change(demo)
    return demo


def double_spaces(demo):
    for step in demo["steps"]:
        for field in ("target", "text"):
            if field in step:
                step[field] = "  " + step[field].replace(" ", "  ").upper() + " "


def add_wait(demo):
    demo["steps"].insert(4, {"t": 13.0, "action": "wait"})


def change_one_character(demo):
    demo["steps"][2]["text"] = "Jordan Alvarex"


def shift_the_clock(demo):
    for step in demo["steps"]:
        step["t"] = round(step["t"] * 1.07 + 0.3, 2)


def nudge_the_pointer(demo):
    demo["steps"][1]["x"] += 3


@pytest.mark.parametrize("change", [double_spaces, add_wait, change_one_character, shift_the_clock, nudge_the_pointer])
def test_cosmetic_edits_do_not_evade_duplicate_detection(change):
    copy = edited(change)
    assert is_near_duplicate(original(), copy), demonstration_similarity(original(), copy)
    assert signature_similarity(demonstration_signature(original()), demonstration_signature(copy)) >= 0.7


def test_different_keys_pressed_are_not_duplicates():
    copy = edited(lambda demo: demo["steps"][3].update(key="Enter"))
    assert not is_near_duplicate(original(), copy)
    assert signature_similarity(demonstration_signature(original()), demonstration_signature(copy)) < (
        DUPLICATE_SIMILARITY
    )


def test_different_urls_are_not_duplicates():
    copy = edited(lambda demo: demo["steps"][0].update(url="https://shop.example.com/wishlist"))
    assert not is_near_duplicate(original(), copy)
    assert signature_similarity(demonstration_signature(original()), demonstration_signature(copy)) < (
        DUPLICATE_SIMILARITY
    )


def test_urls_compare_without_scheme_www_or_trailing_slash():
    copy = edited(lambda demo: demo["steps"][0].update(url="http://WWW.shop.example.com/cart/"))
    assert is_near_duplicate(original(), copy)


def test_different_work_is_not_similar():
    other = recording_data(
        [
            {"t": 2, "action": "navigate", "url": "https://shop.example.com/cart"},
            {"t": 6, "action": "click", "target": "Remove item"},
            {"t": 9, "action": "type", "target": "Coupon", "text": "SPRING24"},
            {"t": 12, "action": "key", "key": "Tab"},
            {"t": 14, "action": "key", "key": "Tab"},
            {"t": 16, "action": "click", "target": "Apply"},
        ],
        seconds=120,
        start=SHOP_START,
    )
    assert demonstration_similarity(original(), other) < 0.3


def test_the_same_typed_text_in_different_fields_is_still_different_work():
    copy = edited(lambda demo: [step.update(target="Notes") for step in demo["steps"] if step["action"] == "type"])
    assert not is_near_duplicate(original(), copy)


def test_the_signature_estimates_the_similarity_and_is_small_json():
    pairs = [(original(), edited(change)) for change in (double_spaces, add_wait, change_one_character)]
    for first, second in pairs:
        exact = demonstration_similarity(first, second)
        estimate = signature_similarity(demonstration_signature(first), demonstration_signature(second))
        assert abs(exact - estimate) < 0.2
    stored = json.dumps(demonstration_signature(original()))
    assert len(stored) < 1500
    assert signature_similarity(json.loads(stored), demonstration_signature(original())) == 1.0


def test_signatures_of_another_version_are_refused():
    signature = demonstration_signature(original())
    with pytest.raises(ValueError, match="version"):
        signature_similarity({**signature, "v": 0}, signature)


def test_signatures_do_not_depend_on_the_process_hash_seed():
    code = (
        "import json, sys; sys.path.insert(0, '.');"
        "from pools.grading.similarity import demonstration_signature;"
        f"print(json.dumps(demonstration_signature({original()!r})))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_a_large_recording_signs_in_linear_time():
    big = {"steps": [{"t": i, "action": "type", "target": f"Cell A{i}", "text": f"value {i}"} for i in range(10_000)]}
    started = time.perf_counter()
    demonstration_signature(big)
    demonstration_similarity(big, big)
    assert time.perf_counter() - started < 5.0
