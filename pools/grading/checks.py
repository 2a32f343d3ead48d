"""Success checks: machine-checkable acceptance conditions for a task (pure Python, no database).

A factory's task says what done looks like ("rename it to "Budget 2026"", "book 14/03/2026 at
3:30 PM", "send it to ana@example.com"). A `Check` turns one such value into something the
agent can verify in a recording, and says where the evidence must be:

| kind         | passes when                                                          |
|--------------|----------------------------------------------------------------------|
| `shows`      | the value is in the final state, typed text or a step's target        |
| `not_shows`  | the value is in none of those                                        |
| `typed`      | the value was typed (or a form field in the final state holds it)     |
| `acted_on`   | a step acted on it (its target names it)                              |
| `visited`    | a step's url or target, or the final state, names the URL or domain   |
| `app`        | the recording's `task.app`, a url or a target names the app          |
| `milestones` | every value appears in the steps, in this order                       |
| `submitted`  | the control was pressed, or the work ends by pressing a button or a key |

Matching is tolerant to formatting but not to values: case and spacing never matter; a date
matches the same day in any common format (03/04/2014 = 2014-03-04 = March 4, 2014); a time
matches the same minute (5:29 PM = 17:29); a number or amount matches the same quantity
(1,200.50 = 1200.5); text must be whole at both ends ("Budget 2026" is not in "Budget
20267"), except one word of letters, which may start or end a word ("Swa" in "Swaziland"). A
quoted label to click is exact (`match_case`). A wrong date, time, number or text fails; a
value typed almost right is reported as a near miss (a wrong value).

`checks_propose(title, instructions)` proposes checks from the instructions: quoted strings
(3+ characters), dates, times, amounts, precise numbers, emails, URLs/domains, coordinates
and "press X" are required; bare numbers, capitalised names and 1-2 character quotes are
optional (they help the score but never refuse work alone). docs/quality-agent.md has the
full table. The creator confirms or edits them; `checks_to_json`/`checks_from_json` are the
stored form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

SHOWS = "shows"
NOT_SHOWS = "not_shows"
TYPED = "typed"
ACTED_ON = "acted_on"
VISITED = "visited"
APP = "app"
MILESTONES = "milestones"
SUBMITTED = "submitted"
CHECK_KINDS = (SHOWS, NOT_SHOWS, TYPED, ACTED_ON, VISITED, APP, MILESTONES, SUBMITTED)

MAX_CHECKS = 50
MAX_VALUE_CHARS = 500
MAX_MILESTONES = 20
MIN_REQUIRED_QUOTED_CHARS = 3
# Caches keyed by a recording's text (final states reach 10,000 characters): small, because a
# recording is graded once; they serve the several checks of one grade, not the next farmer.
HAYSTACK_CACHE_SIZE = 2048

# Where a check found its evidence (CheckResult.where).
FINAL_STATE = "final_state"
TYPED_TEXT = "typed_text"
STEP_TARGETS = "step_targets"
URLS = "urls"
RECORDING_APP = "task.app"


class ChecksInvalid(ValueError):
    """Stored or submitted checks that are not valid; `field` names the bad one (e.g. "checks[2].kind")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Check:
    kind: str
    value: str = ""
    values: tuple[str, ...] = ()  # milestones only
    required: bool = True
    origin: str = "creator"  # or "proposed": how it came to be, shown to the creator
    # A quoted label is exact: the link "Viverra" is not the link "viverra" next to it.
    match_case: bool = False

    def label(self) -> str:
        if self.kind == MILESTONES:
            return f"{self.kind}: " + " -> ".join(self.values)
        return f"{self.kind}: {self.value}"


@dataclass(frozen=True)
class CheckResult:
    check: Check
    passed: bool
    where: str | None  # FINAL_STATE, TYPED_TEXT, STEP_TARGETS, URLS, RECORDING_APP or None
    # A failed check whose value was typed wrong ("Patrozia" for "Patrizia"): the work tried
    # and produced a wrong value, which fails the outcome even when the check is optional.
    near_miss: str | None = None


# ---- evidence --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What a recording shows, split by where it comes from; each text already normalised."""

    final_state: str
    typed: str
    targets: str
    labels: frozenset[str]  # quoted labels in targets ('button "Save"' -> "save")
    raw_labels: frozenset[str]  # the same labels as written (case kept, spacing collapsed)
    unlabelled_targets: str  # targets with their quoted labels removed ("Cell A1", "span .alink")
    urls: str
    app: str
    step_texts: tuple[str, ...]  # one normalised string per non-wait step, in order
    ends_on_control: bool = False  # the last action presses a button or a key


_QUOTED_LABEL_RE = re.compile(r'"([^"]{1,200})"')


def evidence_of(demonstration: dict) -> Evidence:
    typed_parts: list[str] = []
    targets: list[str] = []
    labels: set[str] = set()
    raw_labels: set[str] = set()
    urls: list[str] = []
    step_texts: list[str] = []
    unlabelled_parts: list[str] = []
    previous_typed_target = None
    ends_on_control = False
    for step in demonstration.get("steps") or []:
        action = step.get("action")
        if action in ("wait", "scroll"):
            continue
        ends_on_control = action == "key" or (action == "click" and "button" in (step.get("target") or "").lower())
        target = step.get("target") or ""
        text = step.get("text") or ""
        url = step.get("url") or ""
        if action == "type" and text:
            # A field typed in two bursts ("P5", "ZMI") holds the joined text.
            if typed_parts and target == previous_typed_target:
                typed_parts[-1] += text
            else:
                typed_parts.append(text)
            previous_typed_target = target
        elif action != "key":
            previous_typed_target = None
        if target:
            targets.append(target)
            target_labels, target_raw_labels, unlabelled = _target_facts(target)
            labels.update(target_labels)
            raw_labels.update(target_raw_labels)
            unlabelled_parts.append(unlabelled)
        if url:
            urls.append(url)
        if action == "navigate" and target:
            urls.append(target)
        step_texts.append(normalise(" ".join(part for part in (target, text, url, step.get("key") or "") if part)))
    task = demonstration.get("task")
    app = task.get("app", "") if isinstance(task, dict) and isinstance(task.get("app"), str) else ""
    return Evidence(
        final_state=normalise(demonstration.get("final_state") or ""),
        typed=normalise("\n".join(typed_parts)),
        targets=normalise("\n".join(targets)),
        labels=frozenset(labels),
        raw_labels=frozenset(raw_labels),
        unlabelled_targets=normalise("\n".join(unlabelled_parts)),
        urls=normalise("\n".join(urls)),
        app=normalise(app),
        step_texts=tuple(step_texts),
        ends_on_control=ends_on_control,
    )


_SPACE_RE = re.compile(r"\s+")


@lru_cache(maxsize=16384)
def _target_facts(target: str) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """(labels, labels as written, the target without its labels): UI names repeat, so cached."""
    found = _QUOTED_LABEL_RE.findall(target)
    return (
        tuple(normalise(label) for label in found),
        tuple(" ".join(label.split()) for label in found),
        _QUOTED_LABEL_RE.sub(" ", target) if found else target,
    )


@lru_cache(maxsize=16384)
def target_labels(target: str) -> frozenset[str]:
    """The quoted labels of one step target, normalised ('button "Save"' -> {"save"})."""
    return frozenset(_target_facts(target)[0])


def normalise(text: str) -> str:
    """Casefold and collapse whitespace: formatting never decides a check."""
    return " ".join(text.casefold().split())


# ---- values: dates, times, numbers, text ------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NUMERIC_DATE_RE = re.compile(r"(?<![\d/.-])(\d{1,4})([/.-])(\d{1,2})\2(\d{2,4})(?![\d/.-]*\d)")
_MONTH_FIRST_RE = re.compile(rf"\b({_MONTH_NAMES})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b")
_DAY_FIRST_RE = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_NAMES})\.?(?:,?\s+(\d{{4}}))?\b")
_TIME_RE = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::\d{2})?(?:\s*([ap])\.?m\.?\b)?(?![\d:])")
_TIME_AMPM_RE = re.compile(r"(?<![\d:])(\d{1,2})\s*([ap])\.?m\.?\b")
_CURRENCY = r"[$€£¥]|usd|eur|gbp|chf"
_AMOUNT_RE = re.compile(
    rf"(?:(?:{_CURRENCY})\s?(\d[\d,]*(?:\.\d+)?)|(\d[\d,]*(?:\.\d+)?)\s?(?:{_CURRENCY})(?![a-z]))", re.IGNORECASE
)
_NUMBER_RE = re.compile(r"(?<![\w.,])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w,])|(?<![\w.,])-?\d+(?:\.\d+)?(?![\w])")
_EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_URL_RE = re.compile(
    r"\bhttps?://[^\s\"'<>)]+|\b(?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|app|co|uk|de|fr|edu|gov)\b(?:/[^\s\"'<>)]*)?",
    re.I,
)

Day = tuple[int | None, int, int]  # (year or None, month, day)


def _valid_day(year: int | None, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31 and (year is None or 1000 <= year <= 9999)


def _year(text: str | None) -> int | None:
    if not text:
        return None
    year = int(text)
    return year + 2000 if year < 100 else year


@lru_cache(maxsize=HAYSTACK_CACHE_SIZE)
def dates_in(text: str) -> frozenset[Day]:
    """Every date written in `text`, normalised. Numeric dates are read month first (US) unless
    the first part cannot be a month, or the first part is a 4-digit year (ISO)."""
    found: set[Day] = set()
    for first, _, second, third in _NUMERIC_DATE_RE.findall(text):
        if len(first) == 4:
            year, month, day = int(first), int(second), int(third)
        else:
            month, day, year = int(first), int(second), _year(third)
            if month > 12 >= day:
                month, day = day, month
        if _valid_day(year, month, day):
            found.add((year, month, day))
    lowered = text.lower()
    for month_name, day, year in _MONTH_FIRST_RE.findall(lowered):
        if _valid_day(_year(year), _MONTHS[month_name], int(day)):
            found.add((_year(year), _MONTHS[month_name], int(day)))
    for day, month_name, year in _DAY_FIRST_RE.findall(lowered):
        if _valid_day(_year(year), _MONTHS[month_name], int(day)):
            found.add((_year(year), _MONTHS[month_name], int(day)))
    return frozenset(found)


def _hour24(hour: int, meridiem: str) -> int:
    if meridiem == "p" and hour < 12:
        return hour + 12
    if meridiem == "a" and hour == 12:
        return 0
    return hour


@lru_cache(maxsize=HAYSTACK_CACHE_SIZE)
def times_in(text: str) -> frozenset[tuple[int, int]]:
    """Every clock time in `text` as (hour 0-23, minute): "5:29 PM", "17:29", "5pm"."""
    found = set()
    lowered = text.lower()
    for hour, minute, meridiem in _TIME_RE.findall(lowered):
        hour_value = _hour24(int(hour), meridiem)
        if hour_value < 24 and int(minute) < 60:
            found.add((hour_value, int(minute)))
    for hour, meridiem in _TIME_AMPM_RE.findall(lowered):
        if int(hour) <= 12:
            found.add((_hour24(int(hour), meridiem), 0))
    return frozenset(found)


@lru_cache(maxsize=HAYSTACK_CACHE_SIZE)
def numbers_in(text: str) -> frozenset[Decimal]:
    found = set()
    for match in _NUMBER_RE.findall(text):
        try:
            found.add(Decimal(match.replace(",", "")).normalize())
        except InvalidOperation:  # pragma: no cover - the pattern only matches numbers
            continue
    return frozenset(found)


@dataclass(frozen=True)
class _Value:
    """A check value read once: what kind of thing it is and its normalised forms."""

    text: str
    dates: frozenset[Day]
    times: frozenset[tuple[int, int]]
    number: Decimal | None


@lru_cache(maxsize=4096)
def _read_value(value: str) -> _Value:
    text = normalise(value)
    dates = dates_in(value)
    times = frozenset() if dates else times_in(value)
    number = None
    stripped = re.sub(rf"^(?:{_CURRENCY})\s*|\s*(?:{_CURRENCY})$", "", text, flags=re.I)
    if not dates and not times and re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?", stripped):
        number = Decimal(stripped.replace(",", "")).normalize()
    return _Value(text=text, dates=dates, times=times, number=number)


def value_kind(value: str) -> str:
    """What kind of thing a check value is: "date", "time", "number" or "text"."""
    read = _read_value(value)
    if read.dates:
        return "date"
    if read.times:
        return "time"
    return "number" if read.number is not None else "text"


def _day_matches(wanted: Day, found: frozenset[Day]) -> bool:
    year, month, day = wanted
    return any(m == month and d == day and (year is None or y is None or y == year) for y, m, d in found)


@lru_cache(maxsize=4 * HAYSTACK_CACHE_SIZE)
def _text_found(needle: str, haystack: str) -> bool:
    """`needle` in `haystack` as a whole; a single word of letters may also be the start or the
    end of a word ("Swa" in "Swaziland": the item that starts with "Swa")."""
    if not needle or not haystack:
        return False
    one_sided = needle.isalpha()
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        before_ok = start == 0 or not haystack[start - 1].isalnum() or not needle[0].isalnum()
        after_ok = end == len(haystack) or not haystack[end].isalnum() or not needle[-1].isalnum()
        if before_ok and after_ok:
            return True
        # A value one or two characters long must be whole at both ends ("x" in "box").
        if one_sided and len(needle) > 2 and (before_ok or after_ok):
            return True
        start = haystack.find(needle, start + 1)
    return False


def value_found(value: str, haystack: str) -> bool:
    """Is `value` in the (normalised) haystack, tolerant to format but not to the value?"""
    if not haystack:
        return False
    read = _read_value(value)
    if read.dates:
        found = dates_in(haystack)
        return all(_day_matches(day, found) for day in read.dates)
    if read.times:
        return read.times <= times_in(haystack)
    if read.number is not None:
        return read.number in numbers_in(haystack)
    if _text_found(read.text, haystack):
        return True
    # Spacing never decides: "textarea" is the "text area", "Budget2026" is "Budget 2026".
    compact = read.text.replace(" ", "")
    return len(compact) > 3 and _text_found(compact, _compact(haystack))


@lru_cache(maxsize=HAYSTACK_CACHE_SIZE)
def _compact(text: str) -> str:
    return text.replace(" ", "")


def _label_found(value: str, labels: frozenset[str], raw_labels: frozenset[str], match_case: bool) -> bool:
    """A quoted target label that is the value (the button named "no", not "No thanks")."""
    if match_case:
        text = _SPACE_RE.sub(" ", value).strip()
        pool = raw_labels
    else:
        text = _read_value(value).text
        pool = labels
    return text in pool or any(label.endswith("..") and text.startswith(label[:-2]) for label in pool if label)


# ---- evaluate ----------------------------------------------------------------------------------


def checks_evaluate(checks: tuple[Check, ...] | list[Check], demonstration: dict | Evidence) -> tuple[CheckResult, ...]:
    evidence = demonstration if isinstance(demonstration, Evidence) else evidence_of(demonstration)
    results = []
    for check in checks:
        result = _evaluate_one(check, evidence)
        if not result.passed and check.kind in (SHOWS, TYPED):
            near = near_miss(check.value, evidence.typed) or near_miss(
                check.value, "\n".join(_FORM_FIELDS_RE.findall(evidence.final_state))
            )
            if near:
                result = CheckResult(check, False, TYPED_TEXT, near_miss=near)
        results.append(result)
    return tuple(results)


NEAR_MISS_MIN_CHARS = 4
NEAR_MISS_MAX_EDITS = 2  # and at most one edit per 4 characters


def near_miss(value: str, typed: str) -> str | None:
    """Typed words that are almost the value (a typo or a wrong variant), or None.

    Only for text: dates, times and numbers are compared exactly by `value_found`.
    """
    read = _read_value(value)
    if read.dates or read.times or read.number is not None or len(read.text) < NEAR_MISS_MIN_CHARS or not typed:
        return None
    return _near_miss_cached(read.text, typed)


@lru_cache(maxsize=HAYSTACK_CACHE_SIZE)
def _near_miss_cached(text: str, typed: str) -> str | None:
    size = len(text.split())
    allowed = max(1, min(NEAR_MISS_MAX_EDITS, len(text) // 4))
    words = typed.split()
    for index in range(len(words) - size + 1):
        candidate = " ".join(words[index : index + size]).strip(".,;:!?\"'")
        if candidate != text and abs(len(candidate) - len(text)) <= allowed and _within_edits(candidate, text, allowed):
            return candidate
    return None


def _within_edits(first: str, second: str, limit: int) -> bool:
    """Levenshtein distance (with adjacent swaps) at most `limit`, stopping early."""
    previous_previous: list[int] | None = None
    previous = list(range(len(second) + 1))
    for row, char in enumerate(first, start=1):
        current = [row] + [0] * len(second)
        for column, other in enumerate(second, start=1):
            cost = 0 if char == other else 1
            best = min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + cost)
            if previous_previous is not None and column > 1 and char == second[column - 2] and first[row - 2] == other:
                best = min(best, previous_previous[column - 2] + 1)
            current[column] = best
        if min(current) > limit:
            return False
        previous_previous, previous = previous, current
    return previous[-1] <= limit


def _evaluate_one(check: Check, evidence: Evidence) -> CheckResult:
    kind, value = check.kind, check.value
    if kind in (SHOWS, NOT_SHOWS):
        where = _first_source(
            value, ((FINAL_STATE, evidence.final_state), (TYPED_TEXT, evidence.typed), (STEP_TARGETS, evidence.targets))
        )
        passed = (where is not None) if kind == SHOWS else where is None
        return CheckResult(check, passed, where)
    if kind == TYPED:
        # A value picked from a list or clicked (an autocomplete entry, "the email with subject
        # X") was entered too; what the page merely displays at the end was not.
        where = _first_source(
            value,
            (
                (TYPED_TEXT, evidence.typed),
                (FINAL_STATE, _form_fields(evidence.final_state)),
                (STEP_TARGETS, evidence.targets),
            ),
        )
        return CheckResult(check, where is not None, where)
    if kind == ACTED_ON:
        if _label_found(value, evidence.labels, evidence.raw_labels, check.match_case) or value_found(
            value, evidence.unlabelled_targets
        ):
            return CheckResult(check, True, STEP_TARGETS)
        where = _first_source(value, ((TYPED_TEXT, evidence.typed),))
        return CheckResult(check, where is not None, where)
    if kind == SUBMITTED:
        if _label_found(value, evidence.labels, evidence.raw_labels, False) or value_found(value, evidence.targets):
            return CheckResult(check, True, STEP_TARGETS)
        return CheckResult(check, evidence.ends_on_control, STEP_TARGETS if evidence.ends_on_control else None)
    if kind == VISITED:
        where = _first_source(
            value, ((URLS, evidence.urls), (STEP_TARGETS, evidence.targets), (FINAL_STATE, evidence.final_state))
        )
        return CheckResult(check, where is not None, where)
    if kind == APP:
        where = _first_source(
            value, ((RECORDING_APP, evidence.app), (URLS, evidence.urls), (STEP_TARGETS, evidence.targets))
        )
        return CheckResult(check, where is not None, where)
    if kind == MILESTONES:
        position = 0
        for milestone in check.values:
            while position < len(evidence.step_texts) and not value_found(milestone, evidence.step_texts[position]):
                position += 1
            if position == len(evidence.step_texts):
                return CheckResult(check, False, None)
            position += 1
        return CheckResult(check, True, STEP_TARGETS)
    raise ChecksInvalid("kind", f"unknown check kind {kind!r}")  # pragma: no cover - validated on creation


def _first_source(value: str, sources) -> str | None:
    for name, haystack in sources:
        if value_found(value, haystack):
            return name
    return None


_FORM_FIELDS_RE = re.compile(r'(?:field|area|box|input)[^:"]{0,80}:\s*"([^"]*)"')


_FORM_FIELD_OWNER_RE = re.compile(r'([a-z]+ ?(?:field|area|box|input)[^:"|]{0,80}):\s*"([^"]*)"')


def field_acted_on(value: str, evidence: Evidence) -> bool:
    """Does a form field of the final state hold `value`, and did a step act on that very field?

    Recorders miss keystrokes (autofill, paste, a dropped event): a value the final state shows
    in the field the farmer clicked (`text field#tt: "AlCSn"` after a click on `text field #tt`)
    was entered there. A value shown anywhere else, or in a field no step touched, was not.
    """
    targets = _compact(evidence.targets)
    for descriptor, held in _FORM_FIELD_OWNER_RE.findall(evidence.final_state):
        name = _compact(descriptor.strip())
        if name and name in targets and value_found(value, normalise(held)):
            return True
    return False


def _form_fields(final_state: str) -> str:
    """The values the final state says its form fields hold (`field: "value"`), else all of it."""
    values = _FORM_FIELDS_RE.findall(final_state)
    return "\n".join(values) if values else final_state


# ---- propose -----------------------------------------------------------------------------------

_QUOTE_RE = re.compile(r"\"([^\"\n]{1,200})\"|“([^”\n]{1,200})”|(?<![\w])'([^'\n]{1,200})'(?![\w])")
_TYPE_VERBS = frozenset(
    [
        "type",
        "enter",
        "write",
        "fill",
        "input",
        "search",
        "reply",
        "respond",
        "answer",
        "saying",
        "says",
        "say",
        "message",
        "rename",
        "name",
        "title",
        "label",
        "comment",
        "note",
        "username",
        "password",
        "email",
        "subject",
    ]
)
_ACT_VERBS = frozenset(
    ["click", "press", "tap", "select", "choose", "pick", "open", "check", "tick", "toggle", "star", "expand", "hit"]
)
_CAPITALISED_RE = re.compile(r"\b[A-Z][\w'’-]*(?:[ \t]+(?:[A-Z][\w'’-]*|#\d+|\d+))*")
_SENTENCE_START_RE = re.compile(r"(?:^|[.!?:;]\s+|\n\s*)$")
_WORD_RE = re.compile(r"[a-z]+")
_SOURCE_RE = re.compile(r"\s+(?:to|with|into|by|for)\s+[\"“']")
_NAMING_RE = re.compile(r"\b(?:named|called|titled|entitled)\s+[\"“']?$", re.I)
_CREATION_RE = re.compile(r"\b(?:create|creating|make|new|add|save|rename|start)\b", re.I)
_POSSESSIVE_RE = re.compile(r"['’]s$")
# "221 Harbor Lane", "10 Downing St": a street address is one value, not a number and a name.
_ADDRESS_RE = re.compile(
    r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][\w'-]*\s+){1,4}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Way|Court|Ct|Place|Pl|Square|Sq|Terrace|Parkway)\b\.?"
)
# "(2,0)", "(3, 4)": a coordinate or cell the task names.
_COORDINATE_RE = re.compile(r"\(\s*-?\d+\s*,\s*-?\d+\s*\)")
# "press submit", "click Save", "hit login": the one control a task ends on.
_PRESS_RE = re.compile(
    r"\b(?:press|click|hit|tap)\s+(?:on\s+)?(?:the\s+)?([A-Za-z][\w-]{1,30})(?:\s+button)?\s*(?=[.,;!]|$|\s+and\b|\s+then\b)",
    re.M,
)
_ORDINAL_RE = re.compile(r"^\d+(?:st|nd|rd|th)$", re.I)
# Words that start sentences or name UI parts: capitalised, but not values a task asks for.
_NOT_NAMES = frozenset(
    [
        "i",
        "a",
        "the",
        "then",
        "and",
        "or",
        "ok",
        "yes",
        "no",
        "click",
        "press",
        "select",
        "enter",
        "type",
        "open",
        "find",
        "use",
        "submit",
        "save",
        "cancel",
        "close",
        "tab",
        "button",
        "menu",
    ]
)


def checks_propose(title: str, instructions: str) -> tuple[Check, ...]:
    """Checks proposed from the instructions, in the order their values appear (deterministic)."""
    return _propose_cached(instructions)


@lru_cache(maxsize=4096)
def _propose_cached(instructions: str) -> tuple[Check, ...]:
    checks: list[Check] = []
    seen: set[str] = set()
    taken: list[tuple[int, int]] = []  # spans already turned into a check

    def add(kind: str, value: str, required: bool, span: tuple[int, int], match_case: bool = False) -> None:
        value = value.strip()
        key = normalise(value)
        taken.append(span)
        if not value or key in seen or len(checks) >= MAX_CHECKS:
            return
        seen.add(key)
        checks.append(
            Check(
                kind=kind,
                value=value[:MAX_VALUE_CHARS],
                required=required,
                origin="proposed",
                match_case=match_case and kind == ACTED_ON,
            )
        )

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    for match in _QUOTE_RE.finditer(instructions):
        value = next(group for group in match.groups() if group is not None)
        if _SOURCE_RE.match(instructions, match.end()):
            # 'rename "draft-7.docx" to "Q3 Report.docx"': the first is what is changed, and
            # it may be gone at the end; only the second is the outcome.
            add(ACTED_ON, value, False, match.span())
            continue
        # One or two characters ("x", "Th") are too short to be evidence on their own.
        required = len(value.strip()) >= MIN_REQUIRED_QUOTED_CHARS
        add(_kind_for(instructions, match.start()), value, required, match.span(), match_case=True)
    for match in _EMAIL_RE.finditer(instructions):
        if free(*match.span()):
            add(SHOWS, match.group(), True, match.span())
    for match in _URL_RE.finditer(instructions):
        if free(*match.span()):
            add(VISITED, match.group().rstrip(".,;"), True, match.span())
    for pattern in (_NUMERIC_DATE_RE, _MONTH_FIRST_RE, _DAY_FIRST_RE):
        for match in pattern.finditer(instructions if pattern is _NUMERIC_DATE_RE else instructions.lower()):
            if free(*match.span()) and dates_in(match.group()):
                add(
                    _shown_or_typed(instructions, match.start()),
                    instructions[match.start() : match.end()],
                    True,
                    match.span(),
                )
    for pattern in (_TIME_RE, _TIME_AMPM_RE):
        for match in pattern.finditer(instructions.lower()):
            if free(*match.span()) and times_in(match.group()):
                add(
                    _shown_or_typed(instructions, match.start()),
                    instructions[match.start() : match.end()],
                    True,
                    match.span(),
                )
    for match in _ADDRESS_RE.finditer(instructions):
        if free(*match.span()):
            add(_shown_or_typed(instructions, match.start()), match.group().rstrip("."), True, match.span())
    for match in _COORDINATE_RE.finditer(instructions):
        if free(*match.span()):
            add(SHOWS, match.group(), True, match.span())
    for match in _PRESS_RE.finditer(instructions):
        if free(*match.span(1)):
            # "press submit" / "hit login": the work must end by pressing it; the control is often
            # labelled otherwise ("press login" on an "OK" button), so any final button or key counts.
            add(SUBMITTED, match.group(1), True, match.span(1))
    for match in _AMOUNT_RE.finditer(instructions):
        if free(*match.span()):
            add(SHOWS, match.group(1) or match.group(2), True, match.span())
    for match in _CAPITALISED_RE.finditer(instructions):
        start, end = match.span()
        if not free(start, end) or _inside_parentheses(instructions, start):
            continue
        words = match.group().split()
        if _SENTENCE_START_RE.search(instructions[:start]):
            words = words[1:]  # "Forward ..." starts a sentence: a capital, not a name
        while words and words[0].lower() in _NOT_NAMES and not (len(words) > 1 and words[1].startswith("#")):
            words = words[1:]
        words = [_POSSESSIVE_RE.sub("", word) for word in words]
        if words and not all(word.lower() in _NOT_NAMES or _ORDINAL_RE.match(word) for word in words):
            # A name is shown or clicked ("the email from Elise" does not ask to type "Elise"),
            # unless it names what is made ("a sheet named Budget 2026").
            kind = _kind_for(instructions, start)
            if kind == TYPED and not _names_what_is_made(instructions, start):
                kind = SHOWS
            add(kind, " ".join(words), False, (start, end))
    for match in _NUMBER_RE.finditer(instructions):
        if free(*match.span()) and not _inside_parentheses(instructions, match.start()):
            # 48,250.75 is a value the task asks for; a bare "3" may be a count or a step number.
            precise = "," in match.group() or "." in match.group()
            add(_shown_or_typed(instructions, match.start()), match.group(), precise, match.span())
    return tuple(checks)


def _shown_or_typed(instructions: str, position: int) -> str:
    """A date or time after "enter"/"type" must be typed; after "select"/"pick" it must show."""
    return TYPED if _kind_for(instructions, position) == TYPED else SHOWS


def _names_what_is_made(instructions: str, position: int) -> bool:
    """ "create a sheet named X": X is typed. "the file named X": X is only found."""
    before = instructions[max(0, position - 60) : position]
    sentence = re.split(r"[.!?;]\s", before)[-1]
    return bool(_NAMING_RE.search(before)) and bool(_CREATION_RE.search(sentence))


def _kind_for(instructions: str, position: int) -> str:
    """The verb nearest before a quoted value decides where its evidence must be."""
    if _names_what_is_made(instructions, position):
        return TYPED
    words = _WORD_RE.findall(instructions[max(0, position - 80) : position].lower())
    for word in reversed(words):
        if word in _TYPE_VERBS:
            return TYPED
        if word in _ACT_VERBS or word.startswith("click"):
            return ACTED_ON
    return SHOWS


def _inside_parentheses(text: str, position: int) -> bool:
    return text.rfind("(", 0, position) > text.rfind(")", 0, position)


# ---- JSON --------------------------------------------------------------------------------------


def checks_to_json(checks: tuple[Check, ...] | list[Check]) -> list[dict]:
    out = []
    for check in checks:
        item: dict = {"kind": check.kind, "required": check.required, "origin": check.origin}
        if check.match_case:
            item["match_case"] = True
        if check.kind == MILESTONES:
            item["values"] = list(check.values)
        else:
            item["value"] = check.value
        out.append(item)
    return out


def checks_from_json(data) -> tuple[Check, ...]:
    """Validate stored/submitted checks; ChecksInvalid names the bad field ("checks[1].value")."""
    if not isinstance(data, list):
        raise ChecksInvalid("checks", "must be a list")
    if len(data) > MAX_CHECKS:
        raise ChecksInvalid("checks", f"at most {MAX_CHECKS} checks")
    checks = []
    for index, item in enumerate(data):
        path = f"checks[{index}]"
        if not isinstance(item, dict):
            raise ChecksInvalid(path, "must be an object")
        unknown = set(item) - {"kind", "value", "values", "required", "origin", "match_case"}
        if unknown:
            raise ChecksInvalid(f"{path}.{sorted(unknown)[0]}", "unknown field")
        kind = item.get("kind")
        if kind not in CHECK_KINDS:
            raise ChecksInvalid(f"{path}.kind", f"must be one of {', '.join(CHECK_KINDS)}")
        required = item.get("required", True)
        if not isinstance(required, bool):
            raise ChecksInvalid(f"{path}.required", "must be true or false")
        match_case = item.get("match_case", False)
        if not isinstance(match_case, bool):
            raise ChecksInvalid(f"{path}.match_case", "must be true or false")
        origin = item.get("origin", "creator")
        if origin not in ("creator", "proposed"):
            raise ChecksInvalid(f"{path}.origin", "must be creator or proposed")
        if kind == MILESTONES:
            values = item.get("values")
            if not isinstance(values, list) or not 2 <= len(values) <= MAX_MILESTONES:
                raise ChecksInvalid(f"{path}.values", f"must be a list of 2 to {MAX_MILESTONES} strings")
            for position, value in enumerate(values):
                _check_value(value, f"{path}.values[{position}]")
            checks.append(Check(kind=kind, values=tuple(values), required=required, origin=origin))
        else:
            if "values" in item:
                raise ChecksInvalid(f"{path}.values", "only milestones take a list of values")
            _check_value(item.get("value"), f"{path}.value")
            checks.append(
                Check(kind=kind, value=item["value"], required=required, origin=origin, match_case=match_case)
            )
    return tuple(checks)


def _check_value(value, path: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ChecksInvalid(path, "must be a non-blank string")
    if len(value) > MAX_VALUE_CHARS:
        raise ChecksInvalid(path, f"at most {MAX_VALUE_CHARS} characters")
