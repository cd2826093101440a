from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from jinja2 import TemplateError, UndefinedError
from markupsafe import Markup
from markupsafe import escape as escape_text

from digest.mail.highlight import highlight
from digest.mail.render import Renderer, safe_url, shorten_authors, summarise, web_link
from digest.records import DigestItem, DigestView
from digest.resources import resource_path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DAY = date(2026, 6, 16)


def hf_items(
    count: int, matched: tuple[str, ...] = ("agents", "speculative decoding")
) -> tuple[DigestItem, ...]:
    """DigestItems built from a recorded Hugging Face daily papers response, as the pipeline would."""
    entries = json.loads((FIXTURES / "hf-daily-papers_2026-06_30papers.json").read_text("utf-8"))
    items = []
    for entry in entries[:count]:
        paper = entry["paper"]
        arxiv = paper["id"]
        items.append(
            DigestItem(
                title=paper["title"],
                url=f"https://arxiv.org/abs/{arxiv}",
                authors=shorten_authors([a["name"] for a in paper["authors"]]),
                published=date.fromisoformat(paper["publishedAt"][:10]),
                categories=("cs.CL", "cs.LG"),
                # The abstract, not the shorter AI summary: the size test wants the worst case.
                summary=summarise(paper["summary"], None),
                explanation=f'matched "{matched[0]}" in abstract; {paper["upvotes"]} upvotes',
                matched=matched,
                pdf_url=f"https://arxiv.org/pdf/{arxiv}",
                code_url="https://github.com/example-org/example-repository-with-a-long-name",
                hf_url=f"https://huggingface.co/papers/{arxiv}",
                upvotes=paper["upvotes"],
                comments=entry["numComments"],
                github_stars=paper.get("githubStars"),
                more_url=f"https://digest.example.org/feedback/{'m' * 60}{arxiv}",
                less_url=f"https://digest.example.org/feedback/{'l' * 60}{arxiv}",
            )
        )
    return tuple(items)


def view(items: tuple[DigestItem, ...], **changes: object) -> DigestView:
    fields: dict[str, object] = {
        "email": "ada@example.org",
        "digest_date": DAY,
        "items": items,
        "new_count": 143,
        "topics": ("LLM agents", "speculative decoding"),
        "manage_url": "https://digest.example.org/manage/" + "t" * 80,
        "unsubscribe_url": "https://digest.example.org/unsubscribe/" + "u" * 80,
        "postal_address": "Paper Digest, 1 Example Street, 75001 Paris, France",
    }
    fields.update(changes)
    return DigestView(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_authors_are_shortened_to_three_then_et_al() -> None:
    assert shorten_authors([]) == ""
    assert shorten_authors(["Ada Lovelace"]) == "Ada Lovelace"
    assert shorten_authors(["A", "B"]) == "A and B"
    assert shorten_authors(["A", "B", "C"]) == "A, B and C"
    assert shorten_authors(["A", "B", "C", "D"]) == "A, B, C et al."
    assert shorten_authors(["  Grace   Hopper ", "", "Alan Turing"], limit=1) == "Grace Hopper et al."


def test_summary_prefers_the_sources_ai_summary() -> None:
    assert summarise("A long abstract.", "  The   AI summary.  ") == "The AI summary."
    assert summarise("Only the abstract.", None) == "Only the abstract."
    assert summarise("Only the abstract.", "   ") == "Only the abstract."


def test_long_abstract_is_cut_after_a_whole_sentence_not_an_abbreviation() -> None:
    abstract = (
        "We follow Smith et al. and study decoding. Results improve by 3.5 points, e.g. on GSM8K. "
        "A third sentence that does not fit within the limit at all."
    )
    assert summarise(abstract, None, max_chars=95) == (
        "We follow Smith et al. and study decoding. Results improve by 3.5 points, e.g. on GSM8K."
    )
    assert summarise(abstract, None, max_chars=60) == "We follow Smith et al. and study decoding."


def test_a_single_overlong_sentence_is_cut_at_a_word_with_an_ellipsis() -> None:
    text = summarise("word " * 200, None, max_chars=50)
    assert len(text) <= 50
    assert text.endswith("word…")


def test_matched_words_are_highlighted_and_everything_else_escaped() -> None:
    out = highlight('Agents <b>rule</b>; agentic "speculative decoding"', ("agent", "speculative decoding"))
    assert str(out) == (
        "<mark>Agents</mark> &lt;b&gt;rule&lt;/b&gt;; <mark>agentic</mark> "
        "&#34;<mark>speculative decoding</mark>&#34;"
    )
    assert str(highlight("a < b", ())) == "a &lt; b"


def test_a_remembered_highlight_is_the_same_markup_as_a_fresh_one() -> None:
    text = "Agentic agents & <tools>: speculative decoding for agents"
    words = ("agent", "speculative decoding")
    first, again = highlight(text, words), highlight(text, words)  # the second is served from the cache
    assert first == again == highlight(text, list(words))
    assert isinstance(again, Markup) and "&amp; &lt;tools&gt;" in again and again.count("<mark>") == 4
    assert highlight(text, ("tools",)) != first  # the words are part of the key


def test_remembered_paper_links_and_signals_follow_each_item(renderer: Renderer) -> None:
    first, second = hf_items(2)
    for item in (first, second, first):
        email = renderer.digest(view((item,)))
        assert f'href="{item.pdf_url}"' in email.html
        assert f"{item.upvotes:,} upvote" in email.text
    other = replace(first, pdf_url="javascript:alert(1)", upvotes=1)
    email = renderer.digest(view((other,)))
    assert "javascript:" not in email.html and "1 upvote ·" in email.html


def test_urls_passed_without_parsing_are_exactly_those_the_parser_passes() -> None:
    """web_link's shortcut for plain http(s) URLs, against the parsing path on generated URLs."""
    import random
    import re

    from digest.mail.render import _checked_url

    rng = random.Random(5)
    heads = ["http://", "https://", "HTTPS://", "http:/", "https:", "ftp://", "javascript:", " https://", ""]
    hosts = ["arxiv.org", "a-b.example.org", "[::1]", "[bad", "bad]", "ex ample.org", "ünï.org", "x", ""]
    tails = ["", "/", "/abs/1", "?a=1&b=2", "#f", ":8080/x", ":", ":99999999999/", "/a b", "/x\t", " ", "\n",
             "/é", "/<script>", '/"q"', "/\x7f", ":80:80", "@evil.org/"]  # fmt: skip
    taken = 0
    for _ in range(4000):
        plain = rng.random() < 0.5  # mostly well-formed, so that both paths are taken often
        head = rng.choice(heads[:2] if plain else heads) + rng.choice(hosts[:2] if plain else hosts)
        url = head + "".join(rng.choices(tails, k=rng.randint(0, 3)))
        taken += re.fullmatch(r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:[/?#][\x21-\x7e]*)?", url) is not None
        assert web_link(url) == _checked_url.__wrapped__(url), repr(url)
    assert taken > 1000


def test_only_web_links_survive() -> None:
    assert safe_url("https://arxiv.org/abs/1") == "https://arxiv.org/abs/1"
    assert web_link("mailto:a@example.org") is None  # no link the product emits is anything but http(s)
    assert web_link("https:///no-host") is None
    assert web_link("javascript:alert(1)") is None
    assert safe_url("javascript:alert(1)") == "#"
    assert safe_url(" JavaScript:alert(1)") == "#"
    assert safe_url("data:text/html,hi") == "#"
    assert safe_url(None) == "#"


def test_digest_shows_header_every_paper_and_footer_in_html_and_text(renderer: Renderer) -> None:
    items = hf_items(3)
    email = renderer.digest(view(items))
    first = items[0]
    for body in (email.text, email.html):
        assert "Tuesday 16 June 2026" in body
        assert "3 matched of 143 new papers" in body
        assert "Paper Digest, 1 Example Street, 75001 Paris, France" in body
        assert "ada@example.org" in body
        assert "LLM agents; speculative decoding" in body
        for item in items:
            assert item.url in body
            assert item.authors in body
        for url in (first.pdf_url, first.hf_url, first.more_url, first.less_url):
            assert url
            assert url in body
        assert "cs.CL, cs.LG" in body
        assert f"{first.upvotes} upvotes" in body
    assert first.title in email.text
    assert "Manage your interests: https://digest.example.org/manage/" in email.text
    assert "Unsubscribe: https://digest.example.org/unsubscribe/" in email.text
    assert f'<a href="{view(items).unsubscribe_url}"' in email.html
    assert ">Unsubscribe</a>" in email.html
    assert '<a href="https://arxiv.org/pdf/2606.00467"' in email.html


def test_html_is_inlined_responsive_and_dark_mode_friendly(renderer: Renderer) -> None:
    html = renderer.digest(view(hf_items(2))).html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "@media (prefers-color-scheme: dark)" in html
    assert '<meta name="viewport"' in html
    assert 'class="paper" style="' in html
    assert "max-width: 640px" in html
    assert "<link" not in html
    assert "<img" not in html


def test_matched_words_are_marked_in_the_explanation(renderer: Renderer) -> None:
    item = hf_items(1)[0]
    html = renderer.digest(view((item,))).html
    assert "matched &#34;<mark>agents</mark>&#34; in abstract" in html


def test_feed_supplied_text_cannot_inject_markup(renderer: Renderer) -> None:
    evil = DigestItem(
        title="<script>alert('title')</script> Attention",
        url="javascript:alert(1)",
        authors='<img src=x onerror="alert(2)">',
        published=None,
        categories=("<b>cs.LG</b>",),
        summary="Summary </p><script>alert(3)</script>",
        explanation='matched "<i>attention</i>"',
        matched=("<i>attention</i>",),
        code_url="javascript:alert(4)",
    )
    email = renderer.digest(view((evil,), topics=("<script>t</script>",), postal_address="<b>addr</b>"))
    assert "<script" not in email.html
    assert "<img" not in email.html
    assert "<b>" not in email.html
    assert "<i>" not in email.html
    assert "javascript:" not in email.html
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt; Attention" in email.html
    assert "javascript:" not in email.text
    assert "<script>alert('title')</script> Attention" in email.text


def test_subject_names_the_top_paper_the_count_and_the_date(renderer: Renderer) -> None:
    items = hf_items(10)
    assert renderer.digest(view(items)).subject == (
        "On the Limits of LLM Adaptability: Impact of Model-Internalized… + 9 more papers · Jun 16"
    )
    assert renderer.digest(view(items[2:4])).subject == (
        "See What I See, Know What I Think: Dense Latent Communication Across… + 1 more paper · Jun 16"
    )
    assert renderer.digest(view(hf_items(22)[21:22])).subject == "MiniMax Sparse Attention · Jun 16"


def test_a_trending_only_digest_says_nothing_matched(renderer: Renderer) -> None:
    email = renderer.digest(view(hf_items(3), trending_only=True))
    assert email.subject.startswith("Trending: On the Limits of LLM Adaptability")
    assert email.subject.endswith("+ 2 more · Jun 16")
    for body in (email.text, email.html):
        assert "Nothing matched your interests today; here is what is trending." in body
        assert "matched of" not in body


def test_twenty_papers_stay_well_under_gmails_clipping_size(renderer: Renderer) -> None:
    html = renderer.digest(view(hf_items(20))).html
    size = len(html.encode("utf-8"))
    assert size < 60_000, size  # Gmail clips at about 102 KB; leave room for encoding and growth


def test_text_part_carries_every_paper_the_html_part_does(renderer: Renderer) -> None:
    items = hf_items(20)
    email = renderer.digest(view(items))
    for item in items:
        assert item.title in email.text
        assert item.summary.split()[0] in email.text
    assert max(len(line) for line in email.text.splitlines() if "https://" not in line) <= 200


def test_css_is_inlined_when_a_template_loads_not_per_message(tmp_path: Path) -> None:
    shutil.copytree(resource_path("templates"), tmp_path / "templates")
    renderer = Renderer(tmp_path / "templates")
    first = renderer.digest(view(hf_items(1))).html
    (tmp_path / "templates" / "email" / "style.css").write_text(".paper { color: #123456; }")
    second = renderer.digest(view(hf_items(1))).html
    assert second == first
    assert "#123456" not in second


def test_a_template_whose_tags_the_inliner_would_mangle_is_refused(tmp_path: Path) -> None:
    email = tmp_path / "templates" / "email"
    email.mkdir(parents=True)
    (email / "style.css").write_text("p { color: red; }")
    for name in ("digest.subject.txt", "digest.txt"):
        (email / name).write_text("x")
    (email / "digest.html").write_text("<p>{% if matched > 1 %}many{% endif %}</p>")
    with pytest.raises(TemplateError, match="changed its Jinja2 tags"):
        Renderer(tmp_path / "templates").digest(view(()))


def test_confirmation_mail_carries_the_link_and_escapes_interests(renderer: Renderer) -> None:
    url = "https://digest.example.org/confirm/" + "c" * 90
    email = renderer.confirmation(
        "ada@example.org", url, "LLM agents <script>", postal_address="1 Example St"
    )
    assert email.subject == "Confirm your daily research paper digest"
    assert url in email.text
    assert f'href="{url}"' in email.html
    assert "LLM agents &lt;script&gt;" in email.html
    assert "<script" not in email.html
    assert "1 Example St" in email.text
    assert "1 Example St" in email.html


@pytest.mark.parametrize("width", [10, 40, 76])
def test_the_remembered_wordwrap_wraps_exactly_as_jinjas(width: int) -> None:
    from jinja2 import Environment
    from jinja2.filters import do_wordwrap

    from digest.mail.render import wordwrap

    env = Environment()
    texts = [item.summary for item in hf_items(5)] + [
        "",
        "one\ntwo  three",
        "a-very-long-hyphenated-word " * 9,
    ]
    for text in texts * 2:  # the second round comes from the cache
        for flags in ((False, False), (True, True)):
            expected = do_wordwrap(env, text, width, flags[0], None, flags[1])
            assert wordwrap(env, text, width, flags[0], None, flags[1]) == expected
            assert wordwrap(env, text, width, flags[0], "|", flags[1]) == do_wordwrap(
                env, text, width, flags[0], "|", flags[1]
            )


@pytest.mark.parametrize("seed", range(4))
def test_single_spaced_paragraphs_are_filled_exactly_as_jinjas_wordwrap(seed: int) -> None:
    """fill_paragraphs, the path without textwrap, on generated paragraphs: words shorter and longer than the
    width (alone on their line), hyphens, punctuation, non-ASCII; and texts it must leave to textwrap."""
    import random

    from jinja2 import Environment
    from jinja2.filters import do_wordwrap

    from digest.mail.render import _wrapped
    from digest.mail.textfill import fill_paragraphs

    rng = random.Random(seed)
    env = Environment()
    pieces = ["a", "of", "research", "papers", "x" * 40, "y" * 90, "semi-supervised", "ünïcode", "e.g.",
              "reader1234@example.org", '"quoted', "about:", "learning;", "—", "😀"]  # fmt: skip
    for _ in range(400):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        if rng.random() < 0.3:  # lines, blank ones, and the final line break a {% filter %} block leaves
            text = text.replace(" ", rng.choice(["\n", "\n\n", "\r\n", "\u2028"]), rng.randint(1, 3))
            text += rng.choice(["", "\n", "\n\n"])
        for width in (rng.randint(1, 100), 76):
            expected = do_wordwrap(env, text, width, False, "\n", False)
            assert fill_paragraphs(text, width, "\n") == expected, (text, width)
            _wrapped.cache_clear()
            assert _wrapped(text, width, False, "\n", False) == expected
    for other in (" a b", "a b ", "a  b", "a\tb", "a \nb", "a\u00a0b", "a\u2003b", "a\x0b b"):
        assert fill_paragraphs(other, 10, "\n") is None, repr(other)
        assert _wrapped(other, 3, False, "\n", False) == do_wordwrap(env, other, 3, False, "\n", False)


def _highlight_by_alternation(text: str, words: tuple[str, ...]) -> str:
    """The regex the highlighter stands for, kept here as the reference it must equal."""
    import re

    terms = sorted({w.strip().rstrip("*").strip() for w in words} - {""}, key=len, reverse=True)
    if not terms:
        return str(escape_text(text))
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\w*", re.IGNORECASE)
    out, last = [], 0
    for match in pattern.finditer(text):
        out += [str(escape_text(text[last : match.start()])), f"<mark>{escape_text(match.group(0))}</mark>"]
        last = match.end()
    return "".join(out) + str(escape_text(text[last:]))


@pytest.mark.parametrize("seed", range(4))
def test_highlighting_equals_the_alternation_regex_on_random_text(seed: int) -> None:
    import random

    rng = random.Random(seed)
    pieces = ["agent", "Agents", "AGENTIC", "decoding", "spec", "speculative decoding", "x-ray", "C++",
              "ünïcode", "Straße", "3d", "(llm)", "<b>", "&", " ", " ", "-", ".", "é", "İ", "ǅ",
              "llm", '"', "'", ">", "\x00", "\x01"]  # fmt: skip
    words = ["agent", "speculative decoding", "decod", "x-ray", "c++", "llm*", "(llm)", "ünï", "straße",
             "3d", "spec", " ", "İ", "ǆ", "a", "decoding"]  # fmt: skip
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        chosen = tuple(rng.sample(words, rng.randint(0, 5)))
        assert str(highlight(text, chosen)) == _highlight_by_alternation(text, chosen), (text, chosen)
        assert str(highlight(text, list(chosen))) == _highlight_by_alternation(text, chosen)


@pytest.mark.parametrize("seed", range(4))
def test_highlighting_ascii_text_by_find_equals_the_alternation_regex(seed: int) -> None:
    # ASCII text takes a str.find path instead of the lookaheads: the same reference must hold.
    import random

    rng = random.Random(seed)
    pieces = ["agent", "Agents", "AGENTIC", "decoding", "spec", "speculative decoding", "x-ray", "C++",
              "3d", "(llm)", "<b>", "&", " ", " ", "-", ".", "_", "llm", "a", "aa", "9"]  # fmt: skip
    words = ["agent", "speculative decoding", "decod", "x-ray", "c++", "llm*", "(llm)", "3d", "spec",
             "a", "aa", "decoding", "_llm", "-", "9"]  # fmt: skip
    for _ in range(500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        chosen = tuple(rng.sample(words, rng.randint(0, 5)))
        assert str(highlight(text, list(chosen))) == _highlight_by_alternation(text, chosen), (text, chosen)


def test_rendering_with_kept_templates_and_globals_equals_template_render() -> None:
    # Renderer._fill keeps each template and its globals between messages; every part must still be what
    # Environment.get_template(...).render(...) makes, for digests of every shape and for confirmations.
    renderer = Renderer()
    env = renderer._env

    def plain(name: str, **context: object) -> tuple[str, str, str]:
        subject = " ".join(env.get_template(f"email/{name}.subject.txt").render(**context).split())
        text = env.get_template(f"email/{name}.txt").render(**context)
        return subject, text, env.get_template(f"email/{name}.html").render(subject=subject, **context)

    items = hf_items(12)
    shapes = [view(items[:n], trending_only=n % 2 == 1, web_url="" if n % 3 else "https://d.example.org/w")
              for n in (0, 1, 2, 5, 12)] + [view(items[:3], topics=(), postal_address="")]  # fmt: skip
    for shown in shapes * 2:  # the second round reuses the kept templates
        email = renderer.digest(shown)
        matched = 0 if shown.trending_only else len(shown.items)
        assert (email.subject, email.text, email.html) == plain("digest", view=shown, matched=matched)
    confirm = {"email": "a@example.org", "confirm_url": "https://d.example.org/c/x", "interests": "<b>x</b>"}
    email = renderer.confirmation(**confirm, postal_address="1 St")
    assert (email.subject, email.text, email.html) == plain("confirm", **confirm, postal_address="1 St")


def test_a_template_error_still_names_the_template_line(tmp_path: Path) -> None:
    email = tmp_path / "templates" / "email"
    email.mkdir(parents=True)
    for name in ("digest.subject.txt", "digest.html"):
        (email / name).write_text("x")
    (email / "digest.txt").write_text("line one\n{{ view.no_such_field }}\n")
    with pytest.raises(UndefinedError) as raised:
        Renderer(tmp_path / "templates").digest(view(()))
    assert any(frame.name == "top-level template code" for frame in raised.traceback)
