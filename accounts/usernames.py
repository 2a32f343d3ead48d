"""Usernames people cannot be fooled by: one script per name, and no name that looks like
another (Unicode TS #39, "Unicode Security Mechanisms").

- **Mixed script**: letters from more than one script ("alice" with a Cyrillic "e") are
  refused. Digits and the allowed punctuation (`@ . + - _`) belong to no script and mix freely.
- **Skeletons**: `username_skeleton` maps a name to its TS #39 skeleton, case-folded: NFKC,
  NFD, every character replaced by its confusables prototype, casefold, mapped again, NFD.
  Names with one skeleton look alike ("alice", "aIice", "a1ice", "alice" with a Cyrillic "a";
  "mary" and "rnary"), so a name whose skeleton is taken is unavailable
  (`User.username_skeleton` is unique). Case is folded after a first mapping, because a
  capital "I" looks like "l" while its lower case does not; names differing only in case are
  refused by the case-insensitive username check anyway.

The confusables data is Unicode's confusables.txt as packaged by `confusable-homoglyphs`
(pinned in requirements.txt). That package stores the file's pairs in both directions; the
direction is recovered here: a source is a single code point, its prototype may be a sequence,
and every character of one prototype's group is mapped to one representative of it.
"""

from __future__ import annotations

import json
import unicodedata
from functools import cache
from pathlib import Path

import confusable_homoglyphs
from confusable_homoglyphs import categories

_BIDI_MARKS = dict.fromkeys(map(ord, "\u200e\u200f"))  # around right-to-left glyphs in the data
_NO_SCRIPT = frozenset({"COMMON", "INHERITED"})


@cache
def _prototypes() -> dict[str, str]:
    """{character: its skeleton replacement} for every confusable character."""
    path = Path(confusable_homoglyphs.__file__).with_name("confusables.json")
    pairs = json.loads(path.read_text(encoding="utf-8"))
    parent: dict[str, str] = {}

    def find(char: str) -> str:
        while parent.setdefault(char, char) != char:
            parent[char] = parent[parent[char]]
            char = parent[char]
        return char

    sequences: dict[str, str] = {}
    for key, entries in pairs.items():
        char = key.translate(_BIDI_MARKS)
        if len(char) != 1:
            continue  # a sequence: it is only ever a prototype, reached from its sources
        for entry in entries:
            other = entry["c"].translate(_BIDI_MARKS)
            if len(other) == 1:
                # One group per prototype: a source and its single-character prototype.
                low, high = sorted((find(char), find(other)), key=_representative_order)
                parent[high] = low
            elif other:
                # A source whose prototype is a sequence ("m" -> "rn"): nothing else maps to
                # a source, so it stands alone in its group.
                sequences[char] = other
    table = {char: find(char) for char in parent}
    table.update(sequences)
    return {char: target for char, target in table.items() if target != char}


def _representative_order(char: str) -> tuple[bool, int]:
    """The group's representative: an ASCII character when there is one, else the lowest."""
    return (not char.isascii(), ord(char))


def username_skeleton(username: str) -> str:
    """The TS #39 skeleton of a username, case-folded: equal skeletons look alike."""
    table = _prototypes()

    def mapped(text: str) -> str:
        return "".join(table.get(char, char) for char in unicodedata.normalize("NFD", text))

    # Mapped before case-folding too: "I" looks like "l", but its lower case "i" does not.
    # The second mapping also maps the characters of prototype sequences ("m" -> "rn").
    return unicodedata.normalize("NFD", mapped(mapped(unicodedata.normalize("NFKC", username)).casefold()))


def username_scripts(username: str) -> set[str]:
    """The scripts of a username's letters (digits and punctuation have none)."""
    return {
        script
        for char in username
        if (script := categories.alias(char)) not in _NO_SCRIPT and unicodedata.category(char)[0] in "LM"
    }


def username_problems(username: str) -> list[str]:
    """Why a new username may not be used as it is spelled (empty: it may)."""
    problems = []
    if unicodedata.normalize("NFKC", username) != username:
        problems.append(
            "Use ordinary characters: this name has compatibility forms (full-width, ligatures, "
            f'styled letters); "{unicodedata.normalize("NFKC", username)}" is the plain spelling.'
        )
    scripts = username_scripts(username)
    if len(scripts) > 1:
        names = " and ".join(sorted(script.title() for script in scripts))
        problems.append(f"Use letters of one alphabet: this name mixes {names} letters that can look alike.")
    return problems
