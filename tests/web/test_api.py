"""The JSON API: its behaviour, and a bounded schemathesis run against its own OpenAPI schema (no 500s,
every answer documented and shaped as documented)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from starlette.testclient import TestClient
from web_helpers import Clock, link_in, load_papers, parse_mail, path_of

from digest.context import Context
from digest.web import create_app
from digest.web.ratelimit import WebLimits

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SITE = "https://papers.example.org"
ROOMY = WebLimits(
    subscribe_per_ip_per_hour=100_000,
    subscribe_per_address_per_hour=100_000,
    preview_per_ip_per_minute=100_000,
)
WISH = {
    "email": "reader@example.org",
    "interests": '"speculative decoding"',
    "send_hour": 7,
    "timezone": "UTC",
}


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx, clock=Clock(), limits=ROOMY), base_url=SITE) as test_client:
        yield test_client


def _mails(ctx: Context) -> list[bytes]:
    new = Path(ctx.settings.mail.maildir) / "new"
    files = sorted(new.iterdir(), key=lambda f: f.stat().st_mtime_ns) if new.exists() else []
    return [f.read_bytes() for f in files]


def _manage_token(client: TestClient, ctx: Context) -> str:
    """Subscribe through the API and confirm through the page's button; the manage token."""
    assert client.post("/api/subscribe", json=WISH).status_code == 202
    confirm = path_of(link_in(_mails(ctx)[-1], "confirm"))
    page = client.get(confirm).text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post(confirm, data={"csrf_token": token}, follow_redirects=False)
    return str(answer.headers["location"]).split("?")[0].rsplit("/", 1)[1]


def test_api_subscribe_answers_the_same_whatever_the_address_state(client: TestClient, ctx: Context) -> None:
    first = client.post("/api/subscribe", json=WISH)
    again = client.post("/api/subscribe", json=WISH)
    other = client.post("/api/subscribe", json={**WISH, "email": "someone.else@example.org"})
    assert first.status_code == again.status_code == other.status_code == 202
    assert first.json() == again.json() == other.json()
    assert len(_mails(ctx)) == 2  # one per address: the repeat within a day sent nothing


def test_api_field_errors_name_the_field_with_the_command_lines_message(client: TestClient) -> None:
    cases = [
        ({"interests": "-medical"}, "interests", 'topic 1 ("-medical"): only exclusions'),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
        ({"email": "nope"}, "email", "is not a valid email address"),
        ({"send_hour": 24}, "send_hour", "less than or equal to 23"),
        ({"extra": 1}, "extra", "Extra inputs are not permitted"),
    ]
    for change, field, message in cases:
        answer = client.post("/api/subscribe", json={**WISH, **change})
        assert answer.status_code == 422 and answer.json()["field"] == field, change
        assert message in answer.json()["detail"], change


def test_the_api_reads_only_json_so_a_cross_site_form_cannot_post_to_it(
    client: TestClient, ctx: Context
) -> None:
    body = json.dumps(WISH).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        answer = client.post("/api/subscribe", content=body, headers={"Content-Type": content_type})
        assert answer.status_code == 422, content_type
    assert _mails(ctx) == []


def test_api_manage_reads_changes_pauses_and_unsubscribes(client: TestClient, ctx: Context) -> None:
    token = _manage_token(client, ctx)
    shown = client.get(f"/api/manage/{token}").json()
    assert shown["status"] == "active" and shown["interests"] == '"speculative decoding"'
    answer = client.post(f"/api/manage/{token}", json={"send_hour": 18, "paused": True})
    assert answer.status_code == 200, answer.text
    changed = answer.json()
    assert (changed["send_hour"], changed["status"], changed["timezone"]) == (18, "paused", "UTC")
    bad = client.post(f"/api/manage/{token}", json={"interests": "x author:"})
    assert bad.status_code == 422 and bad.json()["field"] == "interests"
    assert client.get(f"/api/manage/{token}").json()["interests"] == '"speculative decoding"'
    assert client.get("/api/manage/forged").status_code == 404


def test_api_unsubscribe_is_idempotent_and_revokes_the_manage_link(client: TestClient, ctx: Context) -> None:
    _manage_token(client, ctx)
    header = str(parse_mail(_mails(ctx)[-1])["List-Unsubscribe"]).strip()
    unsubscribe = header.strip("<>").rsplit("/", 1)[1]
    for _ in range(2):
        assert client.post(f"/api/unsubscribe/{unsubscribe}").status_code == 200


def test_api_preview_lists_matches_and_stores_nothing(client: TestClient, ctx: Context) -> None:
    load_papers(ctx)
    papers = client.post("/api/preview", json={"interests": '"speculative decoding"'}).json()["papers"]
    assert papers and "VIA-SD" in papers[0]["title"] and papers[0]["url"].startswith("https://")
    assert client.post("/api/preview", json={"interests": ""}).status_code == 422


def test_the_openapi_schema_describes_the_api_and_no_pages(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    assert paths == {
        "/api/subscribe",
        "/api/manage-link",
        "/api/manage/{token}",
        "/api/unsubscribe/{token}",
        "/api/preview",
        "/api/papers",
    }


def test_the_api_survives_fuzzing_against_its_own_schema(ctx: Context) -> None:
    """Every operation, a few dozen generated requests each: no 500, every answer documented and valid.

    Run by hand through schemathesis' strategies (its pytest fixture loader does not work with pytest 9).
    """
    load_papers(ctx)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ctx, limits=ROOMY))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def fuzz(case: schemathesis.Case) -> None:
            # Excluded: "schema-valid data is accepted". Address syntax, the interest grammar and IANA zone
            # names are checked beyond what JSON Schema can say; those refusals are documented 422s.
            case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])

        fuzz()
