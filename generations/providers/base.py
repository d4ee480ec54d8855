"""What every provider client returns and raises. No Django here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from generations.catalog import GenerationParams, ModelSpec

if TYPE_CHECKING:
    from generations.providers.http import HttpOptions

State = Literal["queued", "running", "succeeded", "failed"]


@dataclass(frozen=True)
class Credential:
    """What a client needs to talk to one account: where, and the decrypted secrets."""

    provider: str
    base_url: str
    secrets: dict[str, str] = field(repr=False)


@dataclass(frozen=True)
class SubmitRequest:
    spec: ModelSpec
    params: GenerationParams
    # Our id for the task; sent as Kling's external_task_id (unique per account) where the protocol has one.
    external_id: str
    # Where the provider may call us back on each status change (Kling protocols only), or "".
    callback_url: str = ""


@dataclass(frozen=True)
class SubmitResult:
    task_id: str
    raw: dict[str, Any]
    status: str = ""  # the provider's own status word, for the admin


@dataclass(frozen=True)
class PollResult:
    state: State
    raw: dict[str, Any]
    status: str = ""  # the provider's own status word
    video_url: str = ""  # set when state == "succeeded"
    reason: str = ""  # one readable sentence when state == "failed"
    retry_after: float | None = None  # seconds the provider asked us to wait


class ProviderError(Exception):
    """A call that did not work. ``message`` is one sentence a member can read; it never holds a secret.

    ``permanent`` says retrying the same request cannot help (bad input, auth, no credit, content policy).
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status_code: int | None = None,
        body: str = "",
        retry_after: float | None = None,
        kind: str = "",
    ):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status_code = status_code
        self.body = body  # the full error body, for the admin (secrets scrubbed)
        self.retry_after = retry_after
        # A short machine word: "timeout", "connection", "rate_limited", "server", "validation", "auth",
        # "no_credit", "content_policy", "not_found", "malformed", "html" (a web page, not the API), "expired",
        # "duplicate" (our external id is already taken: the task exists).
        self.kind = kind

    @property
    def retryable(self) -> bool:
        return not self.permanent


class SubmitOutcomeUnknown(ProviderError):
    """The submit request may have reached the provider (e.g. a read timeout after sending).

    Resending it could pay for the same video twice; the pipeline must look the task up by our external id
    (``Client.find_by_external_id``) or flag the generation for an admin.
    """

    def __init__(self, message: str, **kwargs: Any):
        kwargs.setdefault("kind", "timeout")
        super().__init__(message, permanent=False, **kwargs)


class VideoAtLink(Exception):
    """A synchronous call answered with a link to the finished video instead of its bytes.

    From that answer on the video exists and is paid for: the caller downloads the link (and may retry that
    download), but never sends the request again.
    """

    def __init__(self, url: str):
        super().__init__(url)
        self.url = url


class Client:
    """One protocol. Subclasses set ``provider`` and implement submit/poll (or generate for sync APIs)."""

    provider: ClassVar[str]
    synchronous: ClassVar[bool] = False
    has_external_id: ClassVar[bool] = False

    def __init__(self, credential: Credential, *, options: HttpOptions | None = None):
        self.credential = credential
        # Timeouts, deadline and (in golden tests only) a mock transport; None means production defaults.
        self.options = options

    def submit(self, request: SubmitRequest) -> SubmitResult:
        raise NotImplementedError

    def poll(self, task_id: str, *, spec: ModelSpec) -> PollResult:
        raise NotImplementedError

    def find_by_external_id(self, external_id: str, *, spec: ModelSpec) -> SubmitResult | None:
        """Look a task up by our external id; None when the provider has no such task."""
        raise NotImplementedError

    def generate(self, request: SubmitRequest) -> AbstractContextManager[Iterator[bytes]]:
        """Synchronous protocols: a context manager yielding the video body in chunks."""
        raise NotImplementedError

    def check(self) -> str:
        """A cheap authenticated call for the admin's Test connection; returns a short sentence."""
        raise NotImplementedError
