import random

import pytest

from digest.errors import InterestError
from digest.rank import Interests, Topic, interests, parse_interests
from digest.rank.interests import MAX_TOPICS


def test_topics_are_split_by_lines_and_semicolons() -> None:
    parsed = parse_interests("diffusion models; robot learning\n\n  speculative decoding  ")
    assert [t.text for t in parsed.topics] == ["diffusion models", "robot learning", "speculative decoding"]


def test_every_kind_of_term_is_recognised() -> None:
    (topic,) = parse_interests(
        'Robots "World Models" -medical -"protein  folding" cat:cs.RO author:"Yann  LeCun"'
    ).topics
    assert topic == Topic(
        text='Robots "World Models" -medical -"protein  folding" cat:cs.RO author:"Yann  LeCun"',
        words=("robots",),
        phrases=("world models",),
        exclude_words=("medical",),
        exclude_phrases=("protein folding",),
        categories=("cs.RO",),
        authors=("Yann LeCun",),
    )


def test_semicolon_inside_quotes_does_not_split() -> None:
    (topic,) = parse_interests('"a;b testing"').topics
    assert topic.phrases == ("a;b testing",)


def test_typographic_quotes_work_like_straight_ones() -> None:
    (topic,) = parse_interests("\u201cspeculative decoding\u201d").topics
    assert topic.phrases == ("speculative decoding",)


def test_unquoted_author_and_archive_category() -> None:
    (topic,) = parse_interests("author:LeCun cat:cs").topics
    assert topic.authors == ("LeCun",)
    assert topic.categories == ("cs",)


def test_canonical_text_parses_back_to_the_same_interests() -> None:
    parsed = parse_interests('diffusion; "speculative decoding" -medical\nauthor:"Yann LeCun" cat:cs.LG')
    assert str(parsed) == 'diffusion\n"speculative decoding" -medical\nauthor:"Yann LeCun" cat:cs.LG'
    assert parse_interests(str(parsed)) == parsed
    assert isinstance(parsed, Interests)


def test_error_names_the_topic_column_and_reason() -> None:
    with pytest.raises(InterestError) as caught:
        parse_interests('robots\ndiffusion "models')
    assert str(caught.value) == 'topic 2 ("diffusion \\"models"), column 11: unterminated quote'
    assert caught.value.position == len("robots\n") + 10


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no interests given"),
        (" ;\n ; ", "no interests given"),
        ("-medical", "only exclusions"),
        ('-medical -"protein folding"', "only exclusions"),
        ("foo:bar", 'unknown prefix "foo:"'),
        ("the of", "only common words"),
        ('robots ""', "empty quotes"),
        ("cat:1x", "not an arXiv category"),
        ("robots -cat:cs.CV", "exclusions apply to words and phrases"),
        ('ro"bots', "unexpected quote inside a word"),
        ('"robot learning"x', "expected a space after the closing quote"),
        ("robots - medical", "'-' must be followed by"),
        ("robots &&", "has no letters or digits"),
        ("x" * 301, "at most 300"),
        ("\n".join(f"topic{i}" for i in range(MAX_TOPICS + 1)), f"more than {MAX_TOPICS} topics"),
        ("robots\n" * 5000, "characters long"),
    ],
)
def test_bad_interests_are_refused_with_one_line_saying_why(text: str, reason: str) -> None:
    with pytest.raises(InterestError) as caught:
        parse_interests(text)
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message


def test_error_columns_point_at_the_offending_term() -> None:
    with pytest.raises(InterestError, match=r'topic 1 \("robots foo:bar"\), column 8: unknown prefix'):
        parse_interests("robots foo:bar")


def _segments_char_by_char(text: str) -> list[tuple[int, str]]:
    """How interests._segments split before it skipped to the characters that matter."""
    found: list[tuple[int, str]] = []
    start, closing = 0, ""
    for i, ch in enumerate(text + "\n"):
        if closing and ch == closing:
            closing = ""
        elif not closing and ch in interests._QUOTES:
            closing = interests._QUOTES[ch]
        elif ch == "\n" or (ch == ";" and not closing):
            raw = text[start:i]
            stripped = raw.strip()
            if stripped:
                found.append((start + len(raw) - len(raw.lstrip()), stripped))
            start, closing = i + 1, ""
    return found


def _parsed_the_long_way(text: str) -> Interests | tuple[str, int | None]:
    """parse_interests without its fast paths: every topic through the full parser, the old split."""
    topics: list[Topic] = []
    try:
        if len(text) > interests.MAX_CHARS:
            return parse_interests(text)  # raises before any path is taken
        for offset, segment in _segments_char_by_char(text):
            if len(topics) == MAX_TOPICS:
                raise InterestError(f"more than {MAX_TOPICS} topics; merge or remove some", offset)
            topics.append(interests._TopicParser(segment, len(topics) + 1, offset).parse())
        if not topics:
            return parse_interests(text)
    except InterestError as exc:
        return str(exc), exc.position
    return Interests(tuple(topics))


def _parsed(text: str) -> Interests | tuple[str, int | None]:
    try:
        return parse_interests(text)
    except InterestError as exc:
        return str(exc), exc.position


def test_the_fast_paths_parse_and_fail_exactly_as_the_full_parser() -> None:
    rng = random.Random(5)
    pieces = ["robot", "Learning", "the", "of", "and", "-", "--x", "-medical", "a-b", "GPT-4", "é", "Naïve",
              "x:y", "cat:cs.CL", "author:", ":", '"', "\u201c", "\u201d", "\u201e", "_", "...", "42", "LLMs",
              " ", "  ", "\t", "\n", ";", "\u00a0", "\u2003", "\x1c", "\r\n", "ab" * 160]  # fmt: skip
    texts = ["robot learning; -medical diffusion", "the of; and", "-only -exclusions", "a - b", ";;\n;"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(20_000)]
    texts += ["; ".join(["robot"] * n) for n in (MAX_TOPICS, MAX_TOPICS + 1)]
    for text in texts:
        assert _parsed(text) == _parsed_the_long_way(text), text


def test_str_split_and_the_parser_agree_on_what_whitespace_is() -> None:
    for code in range(0x3000 + 1):
        ch = chr(code)
        assert (f"a{ch}b".split() == ["a", "b"]) == ch.isspace()
