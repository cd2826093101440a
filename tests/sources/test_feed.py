"""Generic feeds and hostile bytes: any RSS/Atom (and the medRxiv API) parses; dangerous XML is refused."""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.errors import SourceError
from digest.sources.kinds import KINDS, parse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_the_takara_mirror_of_hugging_face_is_keyed_by_the_arxiv_id_in_its_links() -> None:
    result = parse("feed", (FIXTURES / "hf-papers-rss_takara-tldr_2026-04-30.xml").read_bytes())
    assert len(result.papers) == 50
    assert result.skipped == 0
    first = result.papers[0]
    assert first.key == "arxiv:2604.26238"
    assert first.title == "EnerGS: Energy-Based Gaussian Splatting with Partial Geometric Priors"
    assert first.url == "https://arxiv.org/abs/2604.26238"
    assert first.published == datetime(2026, 4, 29, 2, 39, 18, tzinfo=UTC)
    assert first.abstract.startswith("3D Gaussian Splatting (3DGS) has been widely adopted")
    assert first.source_kind == "feed"


def test_the_medrxiv_api_json_is_recognised_and_keyed_by_doi() -> None:
    result = parse("feed", (FIXTURES / "medrxiv-api_details_2026-09-15_trimmed.json").read_bytes())
    assert len(result.papers) == 3  # the response says 72 in all: it was trimmed when recorded
    first = result.papers[0]
    assert first.key == "doi:10.64898/2026.09.13.26362948"
    assert first.url == "https://www.medrxiv.org/content/10.64898/2026.09.13.26362948v1"
    assert first.authors == ("Kumar, P.", "Aurange, A.", "Keshari, S.", "Nalwad, S.")
    assert first.categories == ("nephrology",)
    assert first.published == datetime(2026, 9, 15, tzinfo=UTC)
    assert first.arxiv_id is None


def test_medrxiv_jats_artefacts_become_readable_text() -> None:
    papers = parse("feed", (FIXTURES / "medrxiv-api_details_2026-09-15_trimmed.json").read_bytes()).papers
    shunt, abr = papers[1].abstract, papers[2].abstract
    assert shunt.startswith("Background: The modified Blalock-Taussig-Thomas shunt")
    assert "\n\nMethods: Three-dimensional mBTTS anatomies" in shunt
    assert "(ρ = 0.94, p < 0.001; ρ = 0.88, p = 0.002)" in shunt
    assert "with 84.55% concordance and Cohens K = 0.620" in abr
    for artefact in ("O_ST_ABS", "C_LI", "O_LI", "SCPLOW", "{rho}"):
        assert artefact not in shunt + abr


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">
  <title>Journal of Tests</title>
  <entry><title>With a DOI</title><id>tag:journal,2026:1</id><link href="https://journal.example/a/1"/>
    <prism:doi>10.5555/ABC.123</prism:doi><updated>2026-09-01T10:00:00+02:00</updated>
    <author><name>Ada Lovelace</name></author>
    <summary type="html">&lt;p&gt;An &lt;i&gt;abstract&lt;/i&gt;&lt;script&gt;evil()&lt;/script&gt;&lt;/p&gt;
    </summary></entry>
  <entry><title>Only a link</title><id>https://blog.example/posts/7</id><link href="https://blog.example/posts/7"/></entry>
  <entry><title>On arXiv</title><id>urn:x</id><link href="https://arxiv.org/abs/2609.01234v2"/></entry>
  <entry><id>urn:untitled</id><link href="https://blog.example/posts/8"/></entry>
</feed>"""


def test_a_generic_feed_keys_by_arxiv_id_then_doi_then_link_and_skips_bad_entries_with_a_warning() -> None:
    result = parse("feed", ATOM)
    assert [p.key for p in result.papers] == [
        "doi:10.5555/abc.123",
        "url:https://blog.example/posts/7",
        "arxiv:2609.01234",
    ]
    with_doi = result.papers[0]
    assert with_doi.abstract == "An abstract"
    assert with_doi.authors == ("Ada Lovelace",)
    assert with_doi.published == datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    assert result.papers[2].url == "https://arxiv.org/abs/2609.01234"
    assert result.skipped == 1
    assert result.warnings == ("skipped entry 4 (urn:untitled): no title",)


def test_a_feed_in_a_legacy_encoding_decodes() -> None:
    body = (
        '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>Caf\xe9 na\xefve \xfcber</title><link>https://x.example/1</link></item></channel></rss>"
    ).encode("iso-8859-1")
    assert parse("feed", body).papers[0].title == "Café naïve über"


def test_an_html_page_is_not_a_feed() -> None:
    with pytest.raises(SourceError, match=r"^feed: not an RSS or Atom feed"):
        parse("feed", b"<html><body><h1>Welcome</h1></body></html>")


def test_json_of_an_unknown_shape_and_unknown_kinds_are_refused() -> None:
    with pytest.raises(SourceError, match="JSON of an unknown shape"):
        parse("feed", b'{"items": []}')
    with pytest.raises(SourceError, match=r"unknown source kind 'gopher'"):
        parse("gopher", b"")
    assert KINDS == ("hf_daily", "arxiv_rss", "arxiv_api", "feed")


def billion_laughs(size: int) -> bytes:
    levels = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    head = '<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + "\n".join(levels) + "\n]>\n"
    item = "<item><title>&lol9;</title><link>https://x.example/</link></item>"
    body = head + '<rss version="2.0"><channel><title>t</title>'
    body += item * ((size - len(body)) // len(item) + 1) + "</channel></rss>"
    return body.encode()


@pytest.mark.parametrize("kind", KINDS[1:])
def test_a_one_megabyte_billion_laughs_feed_is_refused_in_milliseconds_without_memory_growth(
    kind: str,
) -> None:
    body = billion_laughs(1_000_000)
    assert len(body) >= 1_000_000
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(SourceError, match="refused: the document declares a DOCTYPE"):
        parse(kind, body)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 2_000_000


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss><channel>&x;</channel></rss>',
        b"<!-- a comment first --><!doctype rss><rss/>",
        '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE r []><rss/>'.encode("utf-16"),
        b"\xef\xbb\xbf  <?xml version='1.0'?>\n<!DOCTYPE rss SYSTEM 'http://evil.example/x.dtd'><rss/>",
        b"<!-- never closed " + b"x" * 100,
    ],
)
def test_external_entities_and_doctypes_in_any_disguise_are_refused(body: bytes) -> None:
    with pytest.raises(SourceError, match=r"^refused: "):
        parse("feed", body)
