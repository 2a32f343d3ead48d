"""Reference demonstrations (issue 16, point 4): a creator attaches one or more recordings of the
task done well; the agent scores how far a farmer's trajectory follows one of them.

A reference becomes a short list of **milestones** when a claim is made (frozen on the claim
with the other task terms): in step order, what each step produced or acted on by name, the
text typed, the quoted label clicked (`button "Save"` -> `save`), the page navigated to (host
and path, scheme and `www.` dropped); incidental steps without a name (a click on `Cell A1`
unlabelled, waits, scrolls) are not milestones. **Alignment** is the share of a reference's
milestones the farmer's steps reach in the same order (a greedy in-order match, each
milestone found with the checks' format-tolerant matching), the best over the references.

Pure functions, no database; docs/quality-agent.md ("Reference demonstrations") has the
worked example.
"""

from __future__ import annotations

import re
from functools import lru_cache

from . import checks as checks_module

MAX_REFERENCES = 5
MAX_MILESTONES = 30
MIN_MILESTONE_CHARS = 2
_URL_PREFIX_RE = re.compile(r"^[a-z][a-z0-9+.-]*://(?:www\.)?")
_QUOTED_RE = re.compile(r'"([^"]{1,200})"')


def reference_milestones(demonstration: dict) -> tuple[str, ...]:
    """The milestones of one (validated) reference demonstration, in order, at most 30."""
    milestones: list[str] = []
    for step in demonstration.get("steps") or []:
        action = step.get("action")
        found: list[str] = []
        if action == "type":
            found.append(step.get("text") or "")
        elif action == "navigate":
            found.append(_page(step.get("url") or step.get("target") or ""))
        elif action == "click":
            found.extend(_QUOTED_RE.findall(step.get("target") or ""))
        for value in found:
            value = checks_module.normalise(value).strip(" /")
            if len(value) >= MIN_MILESTONE_CHARS and (not milestones or milestones[-1] != value):
                milestones.append(value[: checks_module.MAX_VALUE_CHARS])
        if len(milestones) >= MAX_MILESTONES:
            break
    return tuple(milestones[:MAX_MILESTONES])


def _page(url: str) -> str:
    text = _URL_PREFIX_RE.sub("", url.strip().lower())
    return text.split("?", 1)[0].split("#", 1)[0]


def alignment(references: tuple[tuple[str, ...], ...], step_texts: tuple[str, ...]) -> tuple[float, int, int]:
    """(best share of a reference's milestones reached in order, reached, of how many)."""
    best = (0.0, 0, 0)
    for milestones in references:
        if not milestones:
            continue
        reached = _reached_in_order(milestones, step_texts)
        share = reached / len(milestones)
        if share > best[0] or best[2] == 0:
            best = (share, reached, len(milestones))
    return best


@lru_cache(maxsize=1024)
def _reached_in_order(milestones: tuple[str, ...], step_texts: tuple[str, ...]) -> int:
    position = reached = 0
    for milestone in milestones:
        index = position
        while index < len(step_texts) and not _found(milestone, step_texts[index]):
            index += 1
        if index < len(step_texts):  # reached: the next milestone must come after it
            reached += 1
            position = index + 1
    return reached


def _found(milestone: str, step_text: str) -> bool:
    return milestone in step_text.replace("://www.", "://") or checks_module.value_found(milestone, step_text)
