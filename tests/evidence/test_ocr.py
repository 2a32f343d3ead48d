"""Screen text: Tesseract reads drawn text; comparisons forgive case, punctuation and misreads."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from evidence.ocr import ocr_text, text_contains, text_normalise
from tests.evidence.conftest import requires_tesseract


def test_text_is_normalised_to_lowercase_words():
    assert text_normalise("  Budget—2026:\n\tINCOME, ﬁnal ") == "budget 2026 income final"


def test_a_phrase_is_found_exactly_after_normalisation():
    assert text_contains("File  Edit\nBudget 2026 - Sheets", "budget 2026")
    assert text_contains("Budget2026", "Budget 2026")  # OCR sometimes eats a space
    assert not text_contains("Budget 2025", "Budget 2026")


def test_a_misread_letter_still_matches_a_long_enough_phrase():
    assert text_contains("Month lncome Expences", "Income")
    assert text_contains("Month lncome Expences", "Expenses")
    assert not text_contains("Month lncome Expences", "Salary")


def test_short_needles_must_match_exactly():
    assert not text_contains("A1 B2", "B3")
    assert text_contains("A1 B2", "b2")


@requires_tesseract
def test_tesseract_reads_the_text_drawn_on_a_screen():
    image = Image.new("RGB", (640, 200), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 20), "Budget 2026", fill="black", font=ImageFont.load_default(size=28))
    draw.text((20, 120), "Month   Income   Expenses", fill="black", font=ImageFont.load_default(size=22))
    text = ocr_text(image)
    assert text_contains(text, "Budget 2026")
    assert text_contains(text, "Expenses")


@requires_tesseract
def test_tesseract_reads_a_small_crop_enlarged():
    image = Image.new("RGB", (960, 540), "white")
    ImageDraw.Draw(image).text((300, 300), "Income", fill="black", font=ImageFont.load_default(size=14))
    assert text_contains(ocr_text(image, box=(250, 280, 500, 330), upscale=2), "Income")
    assert not text_contains(ocr_text(image, box=(0, 0, 250, 200), upscale=2), "Income")
