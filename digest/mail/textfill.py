"""jinja2's `wordwrap` (textwrap underneath) for the text it is given most: lines of single-spaced words.

The digest's footer names the subscriber, so the cache of wrapped texts in digest/render.py never holds it
and every message wrapped it through textwrap (11 us); for such text textwrap's work comes down to the greedy
fill below (3 us).
"""

from __future__ import annotations


def fill_paragraphs(s: str, width: int, newline: str) -> str | None:
    """What do_wordwrap(s, width, break_long_words=False, break_on_hyphens=False) gives when each line of
    `s` is empty or words separated by single spaces (None for any other text), without textwrap.
    Checked against do_wordwrap on generated text in tests/test_render.py."""
    if width <= 0:  # textwrap's error
        return None
    filled = []
    for line in s.splitlines():  # as do_wordwrap: each line wrapped on its own
        words = line.split()
        # split() drops every blank (Unicode ones too, where textwrap's chunks split at ASCII ones only):
        # rejoined with single spaces, only a line of single-spaced words comes back unchanged.
        if " ".join(words) != line:
            return None
        filled.append(fill_words(words, width, newline))
    return newline.join(filled)


def fill_words(words: list[str], width: int, newline: str) -> str:
    """textwrap's greedy fill when its chunks are these words and single spaces between them: a word goes on
    the line when the space before it and the word fit in `width`, else it starts the next line (alone,
    when longer than `width`, as break_long_words=False keeps it whole)."""
    if not words:
        return ""
    lines: list[str] = []
    line = words[0]
    for word in words[1:]:
        if len(line) + 1 + len(word) <= width:
            line = f"{line} {word}"
        else:
            lines.append(line)
            line = word
    lines.append(line)
    return newline.join(lines)
