"""Usage reports (generations/reports/): the page's and the CSV's figures are the ledger's, a member sees only
their own, staff see everyone's, and no filter value can make either answer 500."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations.models import CreditAccount, CreditEntry, Generation
from generations.reports import queries
from generations.services.credits import credits_charge, credits_grant, credits_refund
from tests.fixtures_browser import CHROMIUM, SHOTS, Session
from tests.fixtures_pages import BACKEND, make_credential

pytestmark = pytest.mark.django_db
S = Generation.Status
V26, V3 = "mulerun:kling-v2.6", "kling:kling-v3"


def charged_video(make_generation: Any, owner: Any, *, cost: int, status: str = S.READY, seconds: int = 90,
                  refund: bool = False, **fields: Any) -> Generation:  # fmt: skip
    """A video charged through the ledger's service (and refunded through it when it failed or was canceled)."""
    created = fields.pop("created_at", timezone.now() - timedelta(hours=1))
    gen = make_generation(owner, cost=cost, status=status, created_at=created, **fields)
    if status in (S.READY, S.FAILED, S.CANCELED):
        Generation.objects.filter(pk=gen.pk).update(finished_at=created + timedelta(seconds=seconds))
    with transaction.atomic():
        credits_charge(generation=gen, actor=owner)
        if refund:
            credits_refund(generation=gen, reason="the provider failed")
    return gen


@pytest.fixture
def accounts(prices: None) -> dict[str, Any]:
    return {"mule": make_credential("mulerun", "Mule main"), "kling": make_credential("kling", "Kling direct")}


@pytest.fixture
def team(alice: Any, bob: Any, admin_user: Any, accounts: dict[str, Any], make_generation: Any) -> dict[str, Any]:
    """Alice: granted 500 + 50, charged 40 + 40 + 100, refunded 40. Bob: granted 100, charged 30 + 20, refunded 20."""
    mule, kling = accounts["mule"], accounts["kling"]
    credits_grant(user=alice, amount=50, reason="bonus", actor=admin_user)
    charged_video(make_generation, alice, cost=40, model=V26, credential=mule, seconds=60)
    charged_video(make_generation, alice, cost=40, model=V26, credential=mule, status=S.FAILED, refund=True)
    charged_video(make_generation, alice, cost=100, model=V3, credential=kling, seconds=120)
    charged_video(make_generation, bob, cost=30, model=V3, credential=kling, seconds=300)
    charged_video(make_generation, bob, cost=20, model=V3, credential=kling, status=S.CANCELED, refund=True)
    return {"alice": alice, "bob": bob, **accounts}


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


def _report(client: Client, query: str = "") -> queries.Report:
    response = client.get(f"/reports/{query}")
    assert response.status_code == 200, response.content[:2000]
    return response.context["report"]


def _csv(client: Client, query: str = "") -> list[dict[str, str]]:
    response = client.get(f"/reports/usage.csv{query}")
    assert response.status_code == 200, response.content[:2000]
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def _ledger(**filters: Any) -> dict[str, int]:
    """The same figures straight from the ledger rows, the slow obvious way."""
    rows = list(CreditEntry.objects.filter(**filters).values_list("kind", "amount"))
    return {
        "charged": -sum(a for k, a in rows if k == "charge"),
        "refunded": sum(a for k, a in rows if k == "refund"),
        "granted": sum(a for k, a in rows if k == "grant"),
    }


# --- figures ----------------------------------------------------------------------------------------------------


def test_a_member_sees_their_own_figures_equal_to_their_ledger(team: dict[str, Any]) -> None:
    alice = team["alice"]
    report = _report(_client(alice))
    ledger = _ledger(account__user=alice)
    assert (report.money.charged, report.money.refunded, report.money.granted) == (180, 40, 550)
    assert ledger == {"charged": 180, "refunded": 40, "granted": 550}
    assert report.money.spent == 140
    assert report.balance == 410 == CreditAccount.balance_of(alice)
    assert (report.outcomes.videos, report.outcomes.ready, report.outcomes.failed) == (3, 2, 1)
    assert report.outcomes.refunded_videos == 1
    assert report.outcomes.success_rate == pytest.approx(200 / 3)
    assert report.timing.median == timedelta(seconds=60) and report.timing.p90 == timedelta(seconds=120)
    assert report.by_member == []  # a member's page has no member table
    models = {row.key: (row.money.charged, row.money.refunded, row.outcomes.videos) for row in report.by_model}
    assert models == {V26: (80, 40, 2), V3: (100, 0, 1)}
    accounts = {row.label: row.money.spent for row in report.by_account}
    assert accounts == {"Mule main": 40, "Kling direct": 100}


def test_the_page_shows_the_figures_a_member_reads(team: dict[str, Any]) -> None:
    html = _client(team["alice"]).get("/reports/").content.decode()
    assert "180 charged \N{MINUS SIGN} 40 refunded" in html
    assert "Kling 2.6" in html and "Kling 3" in html
    assert "Mule main" in html and "Kling direct" in html
    assert "1 min 0 s" in html and "2 min 0 s" in html  # median and p90 time to ready
    assert "<svg" in html and 'class="timeline"' in html


def test_staff_see_everyone_and_each_member_row_equals_that_members_ledger(
    team: dict[str, Any], admin_user: Any
) -> None:
    report = _report(_client(admin_user))
    assert report.money.spent == 140 + 30
    assert report.money.granted == _ledger()["granted"] == 650
    assert report.balance == 410 + 70
    assert report.timing.median == timedelta(seconds=120) and report.timing.p90 == timedelta(seconds=300)
    members = {row.label: row for row in report.by_member}
    assert set(members) == {"Alice", "Bob"}
    for name, user in (("Alice", team["alice"]), ("Bob", team["bob"])):
        ledger = _ledger(account__user=user)
        row = members[name].money
        assert (row.charged, row.refunded, row.granted) == (ledger["charged"], ledger["refunded"], ledger["granted"])
    assert members["Bob"].outcomes.canceled == 1 and members["Bob"].outcomes.refunded_videos == 1


def test_staff_can_choose_one_member(team: dict[str, Any], admin_user: Any) -> None:
    report = _report(_client(admin_user), f"?member={team['bob'].pk}")
    assert (report.money.charged, report.money.refunded, report.money.spent) == (50, 20, 30)
    assert report.balance == 70
    assert report.by_member == []


def test_time_to_ready_is_the_same_on_every_database_path(team: dict[str, Any], admin_user: Any) -> None:
    form = _valid_form(admin_user, {})
    f = form.filters()
    fast, portable = queries.time_to_ready(f), queries.time_to_ready_portable(f)
    assert (fast.count, fast.median, fast.p90) == (portable.count, portable.median, portable.p90) == (
        3, timedelta(seconds=120), timedelta(seconds=300),
    )  # fmt: skip


def _valid_form(user: Any, data: dict[str, str]) -> Any:
    from generations.reports.forms import ReportFilterForm

    form = ReportFilterForm(data, viewer=user)
    assert form.is_valid(), form.errors
    return form


# --- isolation ----------------------------------------------------------------------------------------------------


def test_a_member_never_sees_another_members_figures_even_when_asking_for_them(team: dict[str, Any]) -> None:
    alice, bob = team["alice"], team["bob"]
    client = _client(alice)
    queries_and_spend = [
        (f"?member={bob.pk}", 140), ("?member=", 140), (f"?member={bob.pk}&member=x", 140),
        (f"?member={bob.pk}&model={V3}", 100),  # Alice's 100 on Kling 3, not Bob's 30
    ]  # fmt: skip
    for query, spent in queries_and_spend:
        report = _report(client, query)
        assert report.filters.member == alice
        assert report.money.spent == spent and report.balance == 410
        html = client.get(f"/reports/{query}").content.decode()
        assert "Bob" not in html and "bob" not in html
        rows = _csv(client, query)
        assert {r["member"] for r in rows} == {"alice"}
        assert sum(int(r["spent"]) for r in rows) == spent


def test_a_member_sees_no_member_filter(team: dict[str, Any], admin_user: Any) -> None:
    assert 'name="member"' not in _client(team["alice"]).get("/reports/").content.decode()
    staff_page = _client(admin_user).get("/reports/").content.decode()
    assert 'name="member"' in staff_page and "Bob" in staff_page


def test_the_page_needs_a_login(team: dict[str, Any]) -> None:
    for url in ("/reports/", "/reports/usage.csv"):
        response = Client().get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- filters ----------------------------------------------------------------------------------------------------


def test_model_and_account_filters_narrow_money_and_videos(team: dict[str, Any], admin_user: Any) -> None:
    client = _client(admin_user)
    by_model = _report(client, f"?model={V3}")
    assert (by_model.money.charged, by_model.money.refunded, by_model.outcomes.videos) == (150, 20, 3)
    assert by_model.money.granted == 0  # grants belong to no model
    by_account = _report(client, f"?account={team['mule'].pk}")
    assert (by_account.money.charged, by_account.money.refunded, by_account.outcomes.videos) == (80, 40, 2)
    assert "grants belong to no model or account" in client.get(f"/reports/?model={V3}").content.decode()


def test_the_date_range_counts_ledger_rows_by_the_day_they_were_written(
    team: dict[str, Any], admin_user: Any, make_generation: Any
) -> None:
    alice = team["alice"]
    old = timezone.now() - timedelta(days=40)
    gen = charged_video(make_generation, alice, cost=70, model=V26, credential=team["mule"], created_at=old)
    CreditEntry.objects.filter(generation=gen).update(created_at=old)
    client = _client(alice)
    assert _report(client).money.charged == 180  # the default range is the last 30 days
    day = timezone.localtime(old).date()
    report = _report(client, f"?date_from={day}&date_to={day}")
    assert (report.money.charged, report.outcomes.videos, report.filters.granularity) == (70, 1, "day")
    assert [p.money.charged for p in report.timeline] == [70]
    year = _report(client, f"?date_from={day - timedelta(days=300)}")
    assert year.filters.granularity == "week" and year.money.charged == 250
    years = _report(client, f"?date_from={day - timedelta(days=1000)}")
    assert years.filters.granularity == "month" and years.money.charged == 250


def test_the_timeline_adds_up_to_the_total_at_every_granularity(team: dict[str, Any], admin_user: Any) -> None:
    client = _client(admin_user)
    for step in ("day", "week", "month"):
        report = _report(client, f"?granularity={step}")
        assert report.filters.granularity == step
        assert sum(p.money.spent for p in report.timeline) == report.money.spent == 170
        assert len({p.start for p in report.timeline}) == len(report.timeline)


@pytest.mark.parametrize(
    "query",
    [
        "?date_from=9999-12-31",
        "?date_to=0000-00-00",
        "?date_from=2026-13-45",
        "?date_from=2026-05-02&date_to=2026-05-01",
        "?date_from=1900-01-01&granularity=day",
        "?date_from=1900-01-01&granularity=month",
        "?granularity=year",
        "?model=openai:sora",
        "?account=" + "9" * 20,
        "?account=" + "9" * 5000,
        "?account=²",
        "?account=-1",
        "?member=" + "9" * 20,
        "?member=abc",
        "?date_from=" + "x" * 10_000,
        "?date_from=%1b[31m",
    ],
)
def test_bad_filters_are_a_400_with_a_message_on_page_and_csv(
    team: dict[str, Any], admin_user: Any, query: str
) -> None:
    client = _client(admin_user)
    page = client.get(f"/reports/{query}")
    assert page.status_code == 400
    assert "Please fix" in page.content.decode() and "report" not in page.context
    csv_response = client.get(f"/reports/usage.csv{query}")
    assert csv_response.status_code == 400
    assert csv_response.content.decode().startswith("Bad filters:")


@pytest.mark.parametrize("query", ["?date_from=1%00", "?model=%00", "?page=%00"])
def test_nul_bytes_are_refused_before_the_report(team: dict[str, Any], query: str) -> None:
    client = _client(team["alice"])
    assert client.get(f"/reports/{query}").status_code == 400
    assert client.get(f"/reports/usage.csv{query}").status_code == 400


def test_parameters_the_report_does_not_read_change_nothing(team: dict[str, Any]) -> None:
    client = _client(team["alice"])
    for query in ("?page=²", "?page=" + "9" * 5000, "?sort=-1", "?q=1e309"):
        assert _report(client, query).money.spent == 140


# --- CSV ----------------------------------------------------------------------------------------------------------


def test_the_csv_adds_up_to_the_pages_figures(team: dict[str, Any], admin_user: Any) -> None:
    client = _client(admin_user)
    for query in ("", f"?member={team['alice'].pk}", f"?model={V3}", "?granularity=week"):
        report, rows = _report(client, query), _csv(client, query)
        for column in ("charged", "refunded", "granted", "spent"):
            assert sum(int(r[column]) for r in rows) == getattr(report.money, column), (query, column)
        for row in report.by_member:
            mine = [r for r in rows if r["member_name"] == row.label]
            assert sum(int(r["spent"]) for r in mine) == row.money.spent
        for row in report.by_model:
            assert sum(int(r["spent"]) for r in rows if r["model"] == row.key) == row.money.spent


def test_csv_cells_that_a_spreadsheet_would_run_are_disarmed(alice: Any, prices: None, make_generation: Any) -> None:
    alice.first_name, alice.last_name = "=HYPERLINK(\"http://evil\")", "+1"
    alice.save()
    cred = make_credential("mulerun", "@SUM(A1)")
    charged_video(make_generation, alice, cost=10, model=V26, credential=cred, status=S.FAILED, refund=True)
    credits_grant(user=alice, amount=5, reason="-x", actor=None)
    rows = _csv(_client(alice))
    assert {r["member_name"] for r in rows} == {"'=HYPERLINK(\"http://evil\") +1"}
    assert "'@SUM(A1)" in {r["provider_account"] for r in rows}
    assert all(not r[c].startswith("'") for r in rows for c in ("spent", "charged", "adjusted", "granted"))


# --- cost ---------------------------------------------------------------------------------------------------------


def test_the_number_of_queries_does_not_grow_with_the_ledger(
    team: dict[str, Any], admin_user: Any, make_generation: Any
) -> None:
    from django.db import connection

    client = _client(admin_user)
    client.get("/reports/")  # sessions, content types and the like are warm
    with CaptureQueriesContext(connection) as before:
        client.get("/reports/")
    for _ in range(20):
        charged_video(make_generation, team["bob"], cost=1, model=V26, credential=team["mule"])
    with CaptureQueriesContext(connection) as after:
        client.get("/reports/")
    assert len(after.captured_queries) == len(before.captured_queries)


# --- screenshots ----------------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium on this machine")
@pytest.mark.django_db(transaction=True)
def test_the_report_at_two_widths_in_light_and_dark(
    browser: Any, live_server: Any, alice: Any, bob: Any, admin_user: Any, prices: None, make_generation: Any
) -> None:
    mule, kling = make_credential("mulerun", "Mule main"), make_credential("kling", "Kling direct, team account")
    for member in (alice, bob):
        credits_grant(user=member, amount=2000, reason="monthly budget", actor=admin_user)
    now = timezone.now()
    for day in range(28):
        for i in range(day % 4 + 1):
            owner = alice if (day + i) % 3 else bob
            failed = (day + 2 * i) % 5 == 0
            created = now - timedelta(days=day, hours=i + 1)
            gen = charged_video(make_generation, owner, cost=10 + 5 * (i % 3), model=V3 if i % 2 else V26,
                                credential=kling if i % 2 else mule, status=S.FAILED if failed else S.READY,
                                refund=failed, seconds=80 + 17 * i + day, created_at=created)  # fmt: skip
            CreditEntry.objects.filter(generation=gen).update(created_at=created)
    out = SHOTS / "reports"
    out.mkdir(parents=True, exist_ok=True)
    for user, name in ((admin_user, "staff"), (alice, "member")):
        session = Session(browser, live_server.url, user)
        page = session.page
        for theme in ("light", "dark"):
            page.emulate_media(color_scheme=theme)
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                response = page.goto("/reports/")
                assert response is not None and response.status == 200
                page.screenshot(path=str(out / f"reports-{name}-{width}-{theme}.png"), full_page=True)
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 1, f"{name} at {width} px ({theme}) scrolls sideways by {overflow} px"
                bars = page.locator("svg.timeline rect.charged")
                assert bars.count() == 30 and page.locator("svg.timeline").bounding_box()["width"] > 250
        session.check(f"reports-{name}")
        session.close()
