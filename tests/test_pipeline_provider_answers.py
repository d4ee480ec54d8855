"""How the pipeline acts on the provider answers the audit found (issue 11), over real HTTP to the simulator with real
queues: a MuleRun spend limit is shown on the credential; a refusal of a resend after an ambiguous submit is never
refunded; a new-api gateway that cannot look a task up by our id hands the generation to an admin."""

from __future__ import annotations

import pytest

from generations.models import CreditEntry, Generation, ProviderCredential
from generations.services.credits import credits_audit
from tests import factories
from tests.conftest import drive

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("pipeline_settings")]
S = Generation.Status


@pytest.fixture
def pipeline_settings(settings, media_root, fast_polls, sim_credentials, sim):
    settings.PROVIDER_READ_TIMEOUT = 1.0
    yield
    assert credits_audit() == []


def _entries(gen: Generation) -> list[str]:
    return sorted(CreditEntry.objects.filter(generation=gen).values_list("kind", flat=True))


def test_a_mulerun_daily_spend_limit_is_out_of_credit_and_shown_on_the_credential(alice):
    gen = factories.create(alice, "mulerun:kling-v2.5-turbo", prompt="A harbour at dawn [sim:create:spend_limit]")
    (gen,) = drive(gen)
    assert gen.status == S.FAILED  # not retried until the deadline as a rate limit would be
    assert gen.submit_attempts == 1
    assert _entries(gen) == ["charge", "refund"]
    credential = ProviderCredential.objects.get(pk=gen.credential_id)
    assert "daily spend limit" in credential.last_error
    assert "raise it in the MuleRun console" in credential.last_error


def test_a_mulerun_rate_limit_is_still_retried(alice):
    gen = factories.create(alice, "mulerun:kling-v2.5-turbo", prompt="A harbour at noon [sim:create:429x1]")
    (gen,) = drive(gen)
    assert gen.status == S.READY and gen.submit_attempts == 2
    assert _entries(gen) == ["charge"]


def test_a_refused_resend_after_an_ambiguous_submit_goes_to_an_admin_not_to_a_refund(alice, sim):
    # The first send is cut off (outcome unknown); the lookup by our external id finds nothing, so the pipeline
    # resends; the provider refuses the resend. The first send might still have made a task that bills: keep the
    # charge and hand the generation to an admin.
    gen = factories.create(alice, "kling:kling-v2-5-turbo", prompt="A quiet pier [sim:create:resetx1,create:auth]")
    (gen,) = drive(gen)
    assert gen.status == S.NEEDS_ATTENTION
    assert "could not tell" in gen.error
    assert "did not accept the credentials" in gen.error_detail
    assert _entries(gen) == ["charge"]


def test_a_new_api_gateway_that_cannot_look_up_our_id_hands_the_generation_to_an_admin(alice, sim):
    # PowerTokens (new-api) serves no lookup by external id: its web page means "cannot tell", so the pipeline
    # must neither resend (it could pay twice) nor refund.
    gen = factories.create(alice, "powertokens:kling-v2-5-turbo", prompt="A lost answer [sim:create:submit_timeout]")
    (gen,) = drive(gen)
    assert gen.status == S.NEEDS_ATTENTION
    assert [t.external_id for t in sim.tasks("powertokens")].count(gen.external_id) == 1  # sent once, never again
    assert _entries(gen) == ["charge"]
