"""The five ways money or videos were lost (issue 9), each replayed against the real simulator, queues and storage.

Every test ends with the ledger audited, including money against status.
"""

from __future__ import annotations

import pytest

from generations.models import CreditAccount, CreditEntry, Generation, ProviderCredential
from generations.services.credits import credits_audit
from tests import factories
from tests.conftest import drive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("guarantee_settings")]
S = Generation.Status
V1 = "segmind_v1:kling-2.5-turbo"


@pytest.fixture
def guarantee_settings(settings, media_root, fast_polls, sim_credentials, sim):
    settings.PROVIDER_READ_TIMEOUT = 1.0
    settings.PROVIDER_SYNC_READ_TIMEOUT = 3.0
    yield
    assert credits_audit() == []


def _v1(alice, prompt: str) -> Generation:
    return factories.create(alice, V1, prompt=prompt, mode="pro", duration="5", aspect_ratio="16:9")


def _v1_tasks(sim, prompt: str) -> int:
    return sum(1 for t in sim.tasks() if t.provider == "segmind_v1" and t.prompt == prompt)


def _kinds(gen: Generation) -> list[str]:
    return sorted(CreditEntry.objects.filter(generation=gen).values_list("kind", flat=True))


# --- 1. Segmind v1 answered with a link: only the download is retried -----------------------------------------
def test_a_segmind_v1_link_whose_download_fails_is_fetched_again_never_resubmitted(alice, sim):
    sim.segmind_v1_link = True
    prompt = "A kite over dunes [sim:download:500x2]"
    gen = _v1(alice, prompt)
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    assert _v1_tasks(sim, prompt) == 1  # one paid POST, whatever happened to the download
    assert gen.submit_attempts == 1 and gen.fetch_attempts == 3
    assert _kinds(gen) == ["charge"]


def test_an_expired_segmind_v1_link_goes_to_an_admin_with_the_link_kept_not_refunded(alice, sim):
    sim.segmind_v1_link = True
    prompt = "A kite over dunes [sim:download:expired]"
    gen = _v1(alice, prompt)
    (gen,) = drive(gen)
    assert gen.status == S.NEEDS_ATTENTION
    assert gen.video_url.startswith(sim.base_url + "/files/")  # everything an admin needs to recover it
    assert _v1_tasks(sim, prompt) == 1
    assert _kinds(gen) == ["charge"]  # the provider billed it: no silent refund
    assert CreditAccount.balance_of(alice) == 500 - gen.cost
    assert ProviderCredential.objects.get(pk=gen.credential_id).last_error == ""  # not a key problem
