"""Screen text: OCR with Tesseract through pytesseract.

Tesseract comes from Debian's `tesseract-ocr` and `tesseract-ocr-eng` packages (installed by
.ci/run; README says how developers get it); `pytesseract` runs the `tesseract` program. When it
is missing, `ocr_available()` is False and the evidence checks that need text say "skipped: OCR
unavailable" rather than failing anyone.

Screen text is small (12-14 px at 1080p); Tesseract reads it far better enlarged, so crops around
a click are read at UPSCALE_CROP times their size. One OCR runs on one thread
(OMP_THREAD_LIMIT=1, set here for the tesseract processes this module starts): a worker is one
core, and more workers give more throughput.

`text_normalise` and `text_contains` are the one way evidence compares words with screen text:
case, accents' compatibility forms, punctuation and spacing do not matter, and a phrase also
matches when a window of the screen text is at least FUZZY_RATIO similar (OCR misreads letters)
and has the same digits.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import shutil
import unicodedata

from PIL import Image, ImageOps

TESSERACT_COMMAND = "tesseract"
LANGUAGE = "eng"
# Page segmentation "sparse text": a screen is scattered labels, not a page of prose.
CONFIG = "--psm 11"
UPSCALE_CROP = 2
FUZZY_RATIO = 0.8
MIN_FUZZY_CHARS = 4
OCR_TIMEOUT_SECONDS = 30

_NON_WORD_RE = re.compile(r"[^\w]+", re.UNICODE)
_NON_DIGIT_RE = re.compile(r"\D+")


@functools.cache
def ocr_available() -> bool:
    """Whether the tesseract program and its English data are installed."""
    if shutil.which(TESSERACT_COMMAND) is None:
        return False
    try:
        import pytesseract

        return LANGUAGE in pytesseract.get_languages(config="")
    except Exception:  # any failure to run tesseract means: not available
        return False


def ocr_prepare(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> Image.Image:
    """The grayscale picture OCR will read: `image`, or its `box` = (left, top, right, bottom)
    crop. Small enough to keep until the OCR runs (the full RGB frame is not kept)."""
    picture = image.crop(box) if box is not None else image
    return ImageOps.grayscale(picture)


def ocr_text(image: Image.Image, *, box: tuple[int, int, int, int] | None = None, upscale: int = 1) -> str:
    """The text Tesseract reads in `image` (or the `box` crop of it), enlarged `upscale` times."""
    import pytesseract

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    picture = ocr_prepare(image, box)
    if upscale > 1:
        picture = picture.resize((picture.width * upscale, picture.height * upscale), Image.Resampling.LANCZOS)
    return pytesseract.image_to_string(picture, lang=LANGUAGE, config=CONFIG, timeout=OCR_TIMEOUT_SECONDS)


def text_normalise(text: str) -> str:
    """Lowercase words separated by single spaces (NFKC, punctuation dropped)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD_RE.sub(" ", text).split())


def text_contains(haystack: str, needle: str) -> bool:
    """Whether `needle` appears in `haystack` (both raw), exactly after normalisation or, for
    needles of at least MIN_FUZZY_CHARS characters, as a window at least FUZZY_RATIO similar."""
    hay = text_normalise(haystack)
    pin = text_normalise(needle)
    if not pin:
        return True
    if pin in hay or pin.replace(" ", "") in hay.replace(" ", ""):
        return True
    if len(pin) < MIN_FUZZY_CHARS:
        return False
    return best_window_ratio(hay, pin) >= FUZZY_RATIO


def best_window_ratio(hay: str, pin: str) -> float:
    """The best similarity between `pin` and any run of as many words of `hay` (±1 word).
    Digits are not forgiven: a window whose digits differ from the pin's does not count
    ("Budget 2025" is not "Budget 2026", however similar the letters)."""
    words = hay.split()
    size = len(pin.split())
    digits = _digits(pin)
    best = 0.0
    for width in {max(1, size - 1), size, size + 1}:
        for start in range(max(1, len(words) - width + 1)):
            window = " ".join(words[start : start + width])
            if _digits(window) != digits:
                continue
            matcher = difflib.SequenceMatcher(None, window, pin, autojunk=False)
            if matcher.real_quick_ratio() < best or matcher.quick_ratio() < best:
                continue
            best = max(best, matcher.ratio())
    return best


def _digits(text: str) -> str:
    return _NON_DIGIT_RE.sub("", text)
