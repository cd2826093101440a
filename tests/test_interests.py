import pytest

from digest.errors import InterestError
from digest.interests import MAX_TOPICS, Interests, Topic, parse_interests


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
