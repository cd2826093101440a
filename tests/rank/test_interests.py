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
        parse_interests("robots\ndiffusion cat:cs.XY")
    assert (
        str(caught.value)
        == 'topic 2 ("diffusion cat:cs.XY"), column 15: "cs.XY" is not an arXiv category; did you mean cs.SY?'
    )
    assert caught.value.position == len("robots\n") + 14


@pytest.mark.parametrize(
    ("text", "words", "phrases"),
    [
        # CSFCube's title that main refused ("expected a space after the closing quote")
        ('"Not not bad"is not"bad": A distributional account of negation',
         ("not", "bad", "is", "a", "distributional", "account", "of", "negation"), ()),
        ('diffusion "models', ("diffusion", "models"), ()),  # an unclosed quote is a character
        ('ro"bots', ("ro", "bots"), ()),
        ('"robot learning"x', ("robot", "learning", "x"), ()),
        ('"robot learning", from demonstrations', ("from", "demonstrations"), ("robot learning",)),
        ("BERT: Pre-training of Deep Bidirectional Transformers",
         ("bert:", "pre-training", "of", "deep", "bidirectional", "transformers"), ()),
        ("CAT: Contrastive Adapter Training", ("cat:", "contrastive", "adapter", "training"), ()),
        ("foo:bar baz", ("foo:bar", "baz"), ()),
        ("Robots - a survey & outlook", ("robots", "a", "survey", "outlook"), ()),
        ('robots ""', ("robots",), ()),
    ],
)  # fmt: skip
def test_pasted_titles_are_taken_as_text(text: str, words: tuple[str, ...], phrases: tuple[str, ...]) -> None:
    (topic,) = parse_interests(text).topics
    assert (topic.words, topic.phrases, topic.text) == (words, phrases, text)


def test_a_pasted_abstract_is_one_topic() -> None:
    abstract = " ".join(["We study how large language models reason over long contexts."] * 25)
    assert len(abstract) > 1500
    (topic,) = parse_interests(abstract).topics
    assert "reason" in topic.words


def test_categories_are_checked_against_arxivs_list_in_any_case() -> None:
    (topic,) = parse_interests("cat:cs.cl cat:quant-ph cat:math cat:cond-mat.str-el cat:solv-int").topics
    assert topic.categories == ("cs.cl", "quant-ph", "math", "cond-mat.str-el", "solv-int")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no interests given"),
        (" ;\n ; ", "no interests given"),
        ("-medical", "only exclusions"),
        ('-medical -"protein folding"', "only exclusions"),
        ("the of", "only common words"),
        ("cat:1x", "not an arXiv category"),
        ("cat:cs.XX", '"cs.XX" is not an arXiv category; did you mean'),
        ("cat:physics.optic", "did you mean physics.optics?"),
        ("cat:", "cat: needs a value right after it, such as cat:cs.CL"),
        ("robots cat: cs.CL", "cat: needs a value right after it"),
        ('cat:""', "cat: needs a value"),
        ("author:", 'author: needs a value right after it, such as author:"Yann LeCun"'),
        ('robots author:" "', "author: needs a value"),
        ("robots -cat:cs.CV", "exclusions apply to words and phrases"),
        ("&& --", "no words to match"),
        ("x" * 2001, "at most 2000"),
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
    with pytest.raises(InterestError, match=r'topic 1 \("robots cat:xx.YY"\), column 12: "xx.YY" is not'):
        parse_interests("robots cat:xx.YY")


def _segments_char_by_char(text: str) -> list[tuple[int, str]]:
    """How interests._segments split before it skipped to the characters that matter."""
    found: list[tuple[int, str]] = []
    start, inside_until = 0, -1
    for i, ch in enumerate(text + "\n"):
        if i <= inside_until:
            continue
        if ch in interests._QUOTES:
            inside_until = interests._phrase_end(text, i) or -1
        elif ch in "\n;":
            raw = text[start:i]
            stripped = raw.strip()
            if stripped:
                found.append((start + len(raw) - len(raw.lstrip()), stripped))
            start = i + 1
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
