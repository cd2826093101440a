"""Turn a materialised `DigestView` into subject, plain text and HTML. Pure: no database, network or clock.

The HTML templates are inlined with their `style.css` once, when Jinja2 loads them, so rendering a message is
only a template render. Everything user- or feed-supplied reaches the HTML through autoescaping.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import css_inline
from jinja2 import (
    BaseLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    pass_environment,
    select_autoescape,
)
from jinja2.filters import do_wordwrap

from digest.mail.highlight import highlight
from digest.mail.textfill import fill_paragraphs
from digest.records import DigestItem, DigestView, RenderedEmail
from digest.resources import resource_path

# Jinja2 delimiters; the HTML parser inside css-inline must hand every one of them back untouched.
_JINJA_MARKUP = re.compile(r"\{[{%#].*?[}%#]\}", re.DOTALL)
_WEB_SCHEMES = frozenset({"http", "https"})
# A full stop after these is not the end of a sentence.
_ABBREVIATIONS = frozenset({"e.g", "i.e", "al", "etc", "vs", "fig", "eq", "sec", "cf", "approx", "resp"})
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s+[A-Z0-9\"'(\[])")


class _InliningLoader(BaseLoader):
    """Loads templates from a folder; `.html` ones come back with their folder's style.css inlined.

    Inlining the template source, not each rendered message, is what makes it "once per template": Jinja2
    compiles and caches the inlined source, so no message pays for CSS parsing. The inliner parses the source
    as HTML, so templates keep Jinja2 tags inside elements that may hold text (never between <table> and
    <tr>) and keep <, > and & out of them; a change to any tag is refused at load.
    """

    def __init__(self, root: Path) -> None:
        self._files = FileSystemLoader(str(root))
        self._root = root
        self._inliners: dict[Path, css_inline.CSSInliner] = {}

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self._files.get_source(environment, template)
        if not template.endswith(".html"):
            return source, filename, uptodate
        css = (self._root / template).parent / "style.css"
        if not css.is_file():
            return source, filename, uptodate
        return self._inline(source, css, template), filename, uptodate

    def _inline(self, source: str, css: Path, template: str) -> str:
        inliner = self._inliners.get(css)
        if inliner is None:
            # keep_at_rules keeps the dark-mode and narrow-screen @media rules in a <style> block.
            inliner = css_inline.CSSInliner(
                load_remote_stylesheets=False, keep_at_rules=True, extra_css=css.read_text("utf-8")
            )
            self._inliners[css] = inliner
        inlined: str = inliner.inline(source)
        if _JINJA_MARKUP.findall(inlined) != _JINJA_MARKUP.findall(source):
            raise TemplateError(f"{template}: inlining CSS changed its Jinja2 tags; keep <, >, & out of them")
        return inlined


def shorten_authors(authors: Sequence[str], limit: int = 3) -> str:
    """'A', 'A and B', 'A, B and C', or the first `limit` names then 'et al.' for longer lists."""
    names = [" ".join(name.split()) for name in authors if name.strip()]
    if len(names) > limit:
        return ", ".join(names[:limit]) + " et al."
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def summarise(abstract: str, ai_summary: str | None, max_chars: int = 400) -> str:
    """The source's AI summary when there is one, else the abstract; cut after a sentence to fit."""
    text = " ".join((ai_summary or "").split()) or " ".join(abstract.split())
    if len(text) <= max_chars:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, max_chars) if _ends_sentence(text, m.start())]
    if ends:
        return text[: ends[-1]]
    # One sentence longer than the limit: cut at a word and say so.
    cut = text[: max_chars - 1].rsplit(" ", 1)[0] if " " in text[: max_chars - 1] else text[: max_chars - 1]
    return cut.rstrip(" ,;:") + "…"


def _ends_sentence(text: str, stop: int) -> bool:
    if text[stop] != ".":
        return True
    word = text[:stop].rsplit(None, 1)[-1] if text[:stop].strip() else ""
    word = word.lstrip("([\"'").lower()
    # "3.5" never gets here (a digit follows, not a space); single capitals are initials ("J. Smith").
    return word not in _ABBREVIATIONS and not (len(word) == 1 and word.isalpha())


def web_link(url: str | None) -> str | None:
    """The one check every link the product emits passes (email HTML and text, pages, API JSON): the URL
    if it is http(s) with a host, else None, and the link is dropped. Feeds are hostile: a javascript: or
    data: link must not reach an href, whatever a CSP or a mail client would make of it."""
    if url and _WEB_HEAD.match(url) and url.isascii() and url.isprintable() and " " not in url:
        # Most links, among them every signed one (a new URL in each digest, which would only push the
        # papers' links out of the cache below): http(s), an ASCII host, nothing to strip, so no parsing.
        return url
    return _checked_url(url)


def safe_url(url: str | None) -> str:
    """`web_link` for an href that cannot be left out (our own links, from [web] base_url): '#' if unsafe."""
    return web_link(url) or "#"


# What urlsplit reads as scheme http(s) with a host it cannot refuse (ASCII, no brackets); with the rest in
# \x21-\x7e (ASCII, printable, no space), nothing for strip() to remove either. Checked on many URLs against
# the parsing path in tests/test_render.py.
_WEB_HEAD = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?=[/?#]|\Z)")


@functools.lru_cache(maxsize=8192)
def _checked_url(url: str | None) -> str | None:
    if not url or not url.strip().isprintable():
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in _WEB_SCHEMES and parts.netloc else None


def signals(item: DigestItem) -> list[str]:
    """Trending signals that are known, e.g. ['212 upvotes', '1,204 GitHub stars']."""
    return list(_signals(item.upvotes, item.github_stars, item.comments))


@functools.lru_cache(maxsize=4096)
def _signals(upvotes: int | None, stars: int | None, comments: int | None) -> tuple[str, ...]:
    found: list[str] = []
    for count, one, many in (
        (upvotes, "upvote", "upvotes"),
        (stars, "GitHub star", "GitHub stars"),
        (comments, "comment", "comments"),
    ):
        if count:
            found.append(f"{count:,} {one if count == 1 else many}")
    return tuple(found)


def links(item: DigestItem) -> list[tuple[str, str]]:
    """The paper's links worth showing, (label, url), skipping missing and unsafe ones."""
    return list(_links(item.url, item.pdf_url, item.code_url, item.hf_url))


@functools.lru_cache(maxsize=4096)
def _links(
    url: str, pdf_url: str | None, code_url: str | None, hf_url: str | None
) -> tuple[tuple[str, str], ...]:
    # Per paper, not per subscriber: memoised because every digest that shows the paper asks again.
    pairs = [("Abstract", url), ("PDF", pdf_url), ("Code", code_url), ("Hugging Face", hf_url)]
    return tuple((label, safe) for label, link in pairs if (safe := web_link(link)))


def feedback_links(item: DigestItem) -> list[tuple[str, str]]:
    pairs = [("More like this", item.more_url), ("Less like this", item.less_url)]
    return [(label, safe) for label, url in pairs if (safe := web_link(url))]


@functools.lru_cache(maxsize=1024)
def long_date(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


@functools.lru_cache(maxsize=1024)  # every subject of a run names the same day
def short_date(day: date) -> str:
    return f"{day:%b} {day.day}"


@pass_environment
def wordwrap(
    environment: Environment,
    s: str,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    """Jinja2's own `wordwrap`, remembered: a paper's summary is wrapped alike in every digest showing it,
    and textwrap was a third of a warm render."""
    if type(s) is not str:  # Markup and other str subclasses keep their own type through the original
        return str(do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens))
    newline = environment.newline_sequence if wrapstring is None else wrapstring
    return _wrapped(s, width, break_long_words, newline, break_on_hyphens)


@functools.lru_cache(maxsize=8192)
def _wrapped(s: str, width: int, break_long_words: bool, newline: str, break_on_hyphens: bool) -> str:
    if not (break_long_words or break_on_hyphens):  # the templates' use: see digest/fill.py
        filled = fill_paragraphs(s, width, newline)
        if filled is not None:
            return filled
    return str(do_wordwrap(_PLAIN_ENV, s, width, break_long_words, newline, break_on_hyphens))


# do_wordwrap reads only newline_sequence from it, and only when wrapstring is None (never, from _wrapped).
_PLAIN_ENV = Environment(autoescape=False)  # noqa: S701 - wraps plain text; nothing here is HTML


def _environment(templates: Path) -> Environment:
    env = Environment(
        loader=_InliningLoader(templates),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(
        highlight=highlight,
        safe_url=safe_url,
        web_link=web_link,
        long_date=long_date,
        short_date=short_date,
        signals=signals,
        links=links,
        feedback_links=feedback_links,
        wordwrap=wordwrap,
    )
    return env


class Renderer:
    """Renders the digest and confirmation emails from templates/email."""

    def __init__(self, templates: Path | None = None) -> None:
        self._env = _environment(templates or resource_path("templates"))
        self._loaded: dict[str, tuple[Template, dict[str, Any]]] = {}

    def digest(self, view: DigestView) -> RenderedEmail:
        return self._render("digest", view=view, matched=0 if view.trending_only else len(view.items))

    def confirmation(
        self, email: str, confirm_url: str, interests: str, postal_address: str = ""
    ) -> RenderedEmail:
        return self._render(
            "confirm",
            email=email,
            confirm_url=confirm_url,
            interests=interests,
            postal_address=postal_address,
        )

    def _render(self, name: str, **context: Any) -> RenderedEmail:
        subject = " ".join(self._fill(f"email/{name}.subject.txt", context).split())
        text = self._fill(f"email/{name}.txt", context)
        html = self._fill(f"email/{name}.html", {"subject": subject, **context})
        return RenderedEmail(subject=subject, text=text, html=html)

    def _fill(self, name: str, context: dict[str, Any]) -> str:
        """`get_template(name).render(context)`, keeping what is the same for every message: the template
        (get_template takes a lock and a cache lookup) and its globals as a dict (render makes one from
        their ChainMap for each message). Three per digest, ~20 us of its render; the environment is this
        renderer's own and its globals never change after it is made."""
        loaded = self._loaded.get(name)
        if loaded is None:
            template = self._env.get_template(name)
            loaded = self._loaded[name] = (template, dict(template.globals))
        template, base = loaded
        # shared=True takes the dict as it is instead of copying the globals under it: it holds them.
        ctx = template.new_context({**base, **context}, shared=True)
        try:
            return str(self._env.concat(template.root_render_func(ctx)))  # what Template.render returns
        except Exception:
            self._env.handle_exception()  # what Template.render does: re-raise with the template's lines
