"""The usage CSV: the report's ledger rows grouped by period, member, model and provider account, streamed."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from generations.models import CreditAccount, ProviderCredential
from generations.reports.queries import Filters, Money, local_date, usage_rows
from generations.templatetags.kling import model_label

HEADER = [
    "period_start", "member", "member_name", "model", "model_name", "provider_account",
    "granted", "charged", "refunded", "adjusted", "spent", "charges", "refunds",
]  # fmt: skip
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: Any) -> str:
    """A text cell a spreadsheet shows as text: a leading apostrophe disarms a formula. Numbers never pass here
    (a negative adjustment stays a number)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def usage_csv_lines(f: Filters) -> Iterator[str]:
    """The CSV, a line at a time; the rows come from the database in chunks (``iterator()``), not all at once."""
    accounts = CreditAccount.objects.all() if f.member is None else CreditAccount.objects.filter(user=f.member)
    members = {
        account: (username, " ".join(p for p in (first, last) if p))
        for account, username, first, last in accounts.values_list(
            "pk", "user__username", "user__first_name", "user__last_name"
        )
    }
    labels = dict(ProviderCredential.objects.values_list("pk", "label"))
    writer = csv.writer(_Echo())
    yield writer.writerow(HEADER)
    for row in usage_rows(f).iterator(chunk_size=2000):
        money = Money.of(row)
        username, name = members.get(row["account_id"], ("", ""))
        model = row["generation__model"] or ""
        yield writer.writerow([
            local_date(row["period"]).isoformat(),
            text_cell(username),
            text_cell(name),
            text_cell(model),
            text_cell(model_label(model) if model else ""),
            text_cell(labels.get(row["generation__credential_id"], "")),
            money.granted, money.charged, money.refunded, money.adjusted, money.spent, money.charges, money.refunds,
        ])  # fmt: skip
