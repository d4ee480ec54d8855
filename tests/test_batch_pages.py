"""The batch pages: the list priced before anything is charged, admitted whole, its progress and its ZIP."""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from generations.models import Batch, CreditAccount, CreditEntry, Generation, Price, PromptTemplate, ProviderCredential
from generations.services.create import price_for
from generations.services.manage import generation_cancel
from tests.conftest import make_member
from tests.fixtures_pages import _client_for

pytestmark = pytest.mark.django_db
URL = "/batch/new/"
SETTINGS = {"model": "kling-2-5-turbo", "mode": "std", "duration": "5", "aspect_ratio": "16:9", "visibility": "team"}


def unit() -> int:
    return price_for("mulerun:kling-v2.5-turbo", mode="std", duration=5, sound=False)


def check(client: Client, **fields: Any) -> Any:
    return client.post(URL, SETTINGS | {"form_token": str(uuid.uuid4())} | fields)


def confirm_fields(html: str) -> dict[str, str]:
    form = re.search(r'<form [^>]*id="confirm-batch">(.*?)</form>', html, re.S)
    assert form, "no Generate form"
    return {k: v.replace("&quot;", '"').replace("&#x27;", "'").replace("&amp;", "&").replace("&lt;", "<")
            for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(1), re.S)}  # fmt: skip


def test_a_pasted_list_is_priced_row_by_row_before_anything_is_charged(
    alice: Any, alice_client: Client, credentials: Any
) -> None:
    page = check(alice_client, prompts="A red shoe\n\n  A blue shoe  \nA green shoe\n").content.decode()
    assert page.count("data-preview-row") == 3
    assert "A blue shoe" in page and f"Generate 3 videos · {3 * unit()} credits" in page
    assert not Generation.objects.exists() and CreditEntry.objects.filter(kind="charge").count() == 0


def test_generate_admits_exactly_the_checked_rows_and_opens_the_batch(
    alice: Any, alice_client: Client, credentials: Any
) -> None:
    page = check(alice_client, prompts="A red shoe\nA blue shoe\nA green shoe").content.decode()
    before = CreditAccount.balance_of(alice)
    response = alice_client.post(URL, confirm_fields(page))
    batch = Batch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("batch", args=[batch.pk])
    assert list(batch.generations.order_by("batch_row").values_list("prompt", flat=True)) == [
        "A red shoe", "A blue shoe", "A green shoe",
    ]  # fmt: skip
    assert CreditAccount.balance_of(alice) == before - 3 * unit()
    alice_client.post(URL, confirm_fields(page))  # the Generate form sent twice: one batch, charged once
    assert Batch.objects.count() == 1 and Generation.objects.count() == 3
    detail = alice_client.get(response["Location"]).content.decode()
    assert detail.count('class="tile"') == 3 and "0 of 3 ready · 3 in progress" in detail


def test_a_csv_with_its_own_settings_per_row(alice_client: Client, credentials: Any) -> None:
    data = b"prompt,aspect_ratio,duration\nA tall tower,9:16,10\nA wide field,,\n"
    page = check(alice_client, csv_file=SimpleUploadedFile("list.csv", data, "text/csv")).content.decode()
    alice_client.post(URL, confirm_fields(page))
    rows = list(Generation.objects.order_by("batch_row").values_list("prompt", "aspect_ratio", "duration"))
    assert rows == [("A tall tower", "9:16", 10), ("A wide field", "16:9", 5)]


def test_rows_the_model_refuses_are_named_by_number_and_nothing_is_made(alice_client: Client, credentials: Any) -> None:
    data = b"prompt,aspect_ratio,duration\nfine,16:9,5\nbad ratio,7:3,5\nfine too,,\nbad length,,7\n"
    page = check(alice_client, csv_file=SimpleUploadedFile("list.csv", data, "text/csv")).content.decode()
    assert "Row 2:" in page and "Row 4:" in page and "Row 1:" not in page and "Row 3:" not in page
    assert "data-preview-row" not in page and not Generation.objects.exists()


def test_fifty_rows_with_credit_for_forty_nine_cannot_be_generated(credentials: Any) -> None:
    dana = make_member("dana", 49 * unit())
    client = _client_for(dana)
    page = check(client, prompts="\n".join(f"Shot {n}" for n in range(50))).content.decode()
    assert "Not enough credits: this batch costs" in page and "data-generate disabled" in page
    page = client.post(URL, confirm_fields(page)).content.decode()  # sent anyway (a crafted request)
    assert "Nothing was charged" in page
    assert not Generation.objects.exists() and CreditAccount.balance_of(dana) == 49 * unit()


def test_a_template_fills_each_row_from_its_columns(alice: Any, alice_client: Client, credentials: Any) -> None:
    template = PromptTemplate.objects.create(owner=alice, name="Walk", text="{subject} walking through {place}")
    data = b"subject,place\nA fox,snow\nA cat,\n"
    page = check(alice_client, template=str(template.pk), csv_file=SimpleUploadedFile("l.csv", data)).content.decode()
    assert "Row 2:" in page and "{place}" in page and not Generation.objects.exists()
    data = b"subject,place\nA fox,snow\nA cat,rain\n"
    page = check(alice_client, template=str(template.pk), csv_file=SimpleUploadedFile("l.csv", data)).content.decode()
    alice_client.post(URL, confirm_fields(page))
    assert list(Generation.objects.order_by("batch_row").values_list("prompt", flat=True)) == [
        "A fox walking through snow", "A cat walking through rain",
    ]  # fmt: skip


def test_someone_elses_private_template_cannot_be_chosen(alice: Any, bob_client: Client, credentials: Any) -> None:
    mine = PromptTemplate.objects.create(owner=alice, name="Mine", text="{x} secret")
    page = check(bob_client, template=str(mine.pk), prompts="a").content.decode()
    assert "Select a valid choice" in page and "secret" not in page


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "CSV"),
        (b"prompt\n" + b"x" * (300 * 1024), "larger than 256 KB"),
        ("prompt\ncafé\n".encode("cp1252"), "UTF-8"),
        (b"prompt\n" + b"a\n" * 10_000, "At most 50"),
        (b"", "file is empty"),
        (b"prompt\n\n", "no rows"),
    ],
)
def test_hostile_files_get_a_clear_message_and_change_nothing(
    alice_client: Client, credentials: Any, upload: bytes, message: str
) -> None:
    response = check(alice_client, csv_file=SimpleUploadedFile("list.csv", upload, "text/csv"))
    assert response.status_code == 200
    assert message.lower() in response.content.decode().lower()
    assert not Generation.objects.exists()


def test_a_batch_and_its_zip_are_the_owners_and_staffs_only(
    alice: Any, bob_client: Client, alice_client: Client, admin_user: Any, credentials: Any, ready_video: Any
) -> None:
    batch = Batch.objects.create(owner=alice, title="Shoes")
    for row, size in enumerate([(180, 320), (320, 320), (320, 180)], start=1):
        gen = ready_video(alice, size=size, prompt=f"Shoe number {row}")
        Generation.objects.filter(pk=gen.pk).update(batch=batch, batch_row=row)
    for url in (reverse("batch", args=[batch.pk]), reverse("batch_zip", args=[batch.pk])):
        assert bob_client.get(url).status_code == 404
        assert _client_for(admin_user).get(url).status_code == 200
    response = alice_client.get(reverse("batch_zip", args=[batch.pk]))
    assert response.streaming and response["Content-Type"] == "application/zip"
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
    assert names == ["01-shoe-number-1.mp4", "02-shoe-number-2.mp4", "03-shoe-number-3.mp4"]


def test_a_batch_with_nothing_ready_has_no_zip(alice: Any, alice_client: Client, credentials: Any) -> None:
    batch = Batch.objects.create(owner=alice)
    assert alice_client.get(reverse("batch_zip", args=[batch.pk])).status_code == 404
    assert alice_client.get(f"/batch/{uuid.uuid4()}/").status_code == 404
    assert alice_client.get("/batch/not-a-uuid/").status_code == 404


def test_a_template_opens_the_batch_page_with_its_settings_and_fills_the_negative_prompt_too(
    alice: Any, alice_client: Client, credentials: Any
) -> None:
    template = PromptTemplate.objects.create(
        owner=alice, name="Walk", text="{subject} in the rain", negative_prompt="no {style}",
        defaults={"model": "kling-2-5-turbo", "mode": "pro", "duration": 10, "aspect_ratio": "9:16"},
    )  # fmt: skip
    use = alice_client.get(reverse("template_use", args=[template.pk])).content.decode()
    assert f"/batch/new/?template={template.pk}" in use
    page = alice_client.get(f"/batch/new/?template={template.pk}").content.decode()
    assert re.search(r'<option value="pro" selected>', page) and re.search(r'value="9:16"[^>]*checked', page)
    assert re.search(rf'<option value="{template.pk}" selected>', page)
    data = b"subject,style\nA fox,cartoons\n"
    fields = {"template": str(template.pk), "mode": "pro", "duration": "10", "aspect_ratio": "9:16"}
    page = check(alice_client, csv_file=SimpleUploadedFile("l.csv", data), **fields).content.decode()
    alice_client.post(URL, confirm_fields(page))
    gen = Generation.objects.get()
    assert (gen.prompt, gen.negative_prompt, gen.mode, gen.duration) == ("A fox in the rain", "no cartoons", "pro", 10)


def test_someone_elses_private_template_in_the_address_is_ignored(
    alice: Any, bob_client: Client, credentials: Any
) -> None:
    mine = PromptTemplate.objects.create(owner=alice, name="Mine", text="{x} secret", defaults={"mode": "pro"})
    page = bob_client.get(f"/batch/new/?template={mine.pk}").content.decode()
    assert "secret" not in page and "Mine" not in page
    for junk in ("abc", "9" * 500, "-1", ""):
        assert bob_client.get(f"/batch/new/?template={junk}").status_code == 200


def test_my_batches_lists_only_my_own_with_their_progress(
    alice: Any,
    bob: Any,
    alice_client: Client,
    credentials: Any,
    make_generation: Any,
    django_assert_max_num_queries: Any,
) -> None:
    for n in range(25):
        batch = Batch.objects.create(owner=alice, title=f"Batch number {n:02d}", total_cost=20)
        make_generation(alice, status="ready", batch=batch, batch_row=1)
        make_generation(alice, status="running", batch=batch, batch_row=2)
    Batch.objects.create(owner=bob, title="Bob's secret batch")
    with django_assert_max_num_queries(12):
        page = alice_client.get(reverse("batch_list")).content.decode()
    assert page.count("data-batch-row") == 20 and "Batch number 24" in page and "1 of 2 ready · 1 in progress" in page
    assert "Bob" not in page
    second = alice_client.get(reverse("batch_list"), {"page": "2"}).content.decode()
    assert second.count("data-batch-row") == 5 and "Page 2 of 2" in second
    assert "My batches" in alice_client.get(reverse("my_videos")).content.decode()


def test_the_credits_page_links_each_charge_to_its_batch(alice: Any, alice_client: Client, credentials: Any) -> None:
    page = check(alice_client, prompts="A red shoe\nA blue shoe").content.decode()
    alice_client.post(URL, confirm_fields(page))
    batch = Batch.objects.get()
    credits = alice_client.get(reverse("credits")).content.decode()
    assert credits.count(f'href="{reverse("batch", args=[batch.pk])}"') == 2


def test_a_rows_error_names_only_what_the_closest_account_refuses(alice_client: Client, credentials: Any) -> None:
    """Kling 2.5 Turbo is also served by an account whose variant is Professional only: a bad aspect ratio in
    Standard mode must not also read "offers mode pro only"."""
    ProviderCredential.objects.filter(pk=credentials["aimlapi"].pk).update(priority=-1)  # its Pro-only variant first
    data = b"prompt,aspect_ratio\nbad ratio,4:3\n"
    page = check(alice_client, csv_file=SimpleUploadedFile("list.csv", data, "text/csv")).content.decode()
    row = re.search(r"<li>Row 1: (.*?)</li>", page)
    assert row and "aspect ratio" in row.group(1) and not re.search(r"\bmode\b", row.group(1)), row


def test_a_price_that_rose_before_generate_keeps_the_list_and_prices_it_again(
    alice: Any, alice_client: Client, credentials: Any
) -> None:
    page = check(alice_client, prompts="A red shoe\nA blue shoe").content.decode()
    Price.objects.filter(model="mulerun:kling-v2.5-turbo", mode="std", duration=5, sound=False).update(credits=15)
    again = alice_client.post(URL, confirm_fields(page)).content.decode()
    assert "The price changed to 30 credits" in again and "Nothing was charged" in again
    assert again.count("data-preview-row") == 2 and "Generate 2 videos · 30 credits" in again
    assert not Generation.objects.exists()
    alice_client.post(URL, confirm_fields(again))
    assert Batch.objects.get().total_cost == 30


def test_check_again_after_a_file_rechecks_the_checked_list(alice_client: Client, credentials: Any) -> None:
    data = b"prompt,duration\nA tall tower,10\nA wide field,\n"
    page = check(alice_client, csv_file=SimpleUploadedFile("list.csv", data, "text/csv")).content.decode()
    kept = re.search(r'<form [^>]*id="batch-form".*?name="rows_csv" value="([^"]*)"', page, re.S)
    assert kept, "the edit form keeps the checked list"
    rows_csv = kept.group(1).replace("&#x27;", "'").replace("&quot;", '"').replace("&amp;", "&")
    again = check(alice_client, rows_csv=rows_csv, mode="pro").content.decode()  # "Check again" in Professional
    assert again.count("data-preview-row") == 2 and "Professional" in again


def test_pasted_prompts_and_a_file_together_are_refused(alice_client: Client, credentials: Any) -> None:
    upload = SimpleUploadedFile("list.csv", b"prompt\nA\n", "text/csv")
    page = check(alice_client, prompts="B", csv_file=upload).content.decode()
    assert "not both" in page and "data-preview-row" not in page


def test_the_chosen_template_shows_the_columns_it_needs(alice: Any, alice_client: Client, credentials: Any) -> None:
    template = PromptTemplate.objects.create(owner=alice, name="Walk", text="{subject} walking through {place}")
    page = alice_client.get(f"/batch/new/?template={template.pk}").content.decode()
    assert "<code>subject,place</code>" in page


def test_a_batch_shows_its_progress_and_credits_net_of_refunds_live(
    alice: Any, alice_client: Client, bob_client: Client, credentials: Any
) -> None:
    page = check(alice_client, prompts="A red shoe\nA blue shoe").content.decode()
    batch_url = alice_client.post(URL, confirm_fields(page))["Location"]
    batch = Batch.objects.get()
    first, second = batch.generations.order_by("batch_row")
    generation_cancel(generation=first, actor=alice)
    status = alice_client.get(reverse("batch_status", args=[batch.pk])).json()
    assert status == {"ready": 0, "failed": 1, "in_flight": 1, "total": 2, "charged": second.cost,
                      "refunded": first.cost}  # fmt: skip
    detail = alice_client.get(batch_url).content.decode()
    assert f"{second.cost} credits ({first.cost} refunded)" in detail and "data-status-url" in detail
    assert bob_client.get(reverse("batch_status", args=[batch.pk])).status_code == 404


def test_back_then_a_new_list_makes_a_new_batch_and_a_resent_form_says_so(
    alice: Any, alice_client: Client, credentials: Any
) -> None:
    first = check(alice_client, prompts="List A").content.decode()
    sent = confirm_fields(first)
    alice_client.post(URL, sent)
    # Back to the page, a new list checked with the page's own token, then Generate.
    second = check(alice_client, prompts="List B one\nList B two", form_token=sent["form_token"]).content.decode()
    assert confirm_fields(second)["form_token"] != sent["form_token"]
    alice_client.post(URL, confirm_fields(second))
    assert sorted(Generation.objects.values_list("prompt", flat=True)) == ["List A", "List B one", "List B two"]
    again = alice_client.post(URL, sent, follow=True).content.decode()
    assert "already sent" in again and Generation.objects.count() == 3


def test_the_same_form_twice_with_the_last_credits_opens_the_batch_both_times(credentials: Any) -> None:
    dana = make_member("dana", 2 * unit())
    client = _client_for(dana)
    form = confirm_fields(check(client, prompts="One\nTwo").content.decode())
    assert client.post(URL, form).status_code == 302
    second = client.post(URL, form)
    assert second.status_code == 302 and second["Location"] == reverse("batch", args=[Batch.objects.get().pk])


def test_a_zip_leaves_out_a_video_whose_file_is_gone(alice: Any, alice_client: Client, ready_video: Any) -> None:
    batch = Batch.objects.create(owner=alice, title="Shoes")
    for row in (1, 2):
        gen = ready_video(alice, prompt=f"Shoe {row}")
        Generation.objects.filter(pk=gen.pk).update(batch=batch, batch_row=row)
    default_storage.delete(Generation.objects.get(batch_row=1).video.name)
    response = alice_client.get(reverse("batch_zip", args=[batch.pk]))
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert archive.namelist() == ["02-shoe-2.mp4"]
