"""What the API takes and gives, as Pydantic schemas: the OpenAPI schema is written from these same classes."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, ConfigDict, StrictBool, StrictFloat, StrictInt

from generations.catalog import MAX_SHOTS, PROMPT_MAX, SHOT_PROMPT_MAX

Visibility = Literal["team", "private"]
Status = Literal[
    "queued", "submitting", "submitted", "running", "downloading", "ready", "failed", "canceled", "needs_attention"
]


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: Any) -> Any:
    """The schema says date-time (RFC 3339); Pydantic alone would also take 0.5 as a Unix time, or a date alone."""
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return value
    raise ValueError("Give a date and time with its offset, e.g. 2026-12-03T09:30:00Z.")


def _in_utc(value: datetime) -> datetime:
    """In UTC: PostgreSQL refuses offsets past ±15:59, which RFC 3339 and Python allow (e.g. -21:56)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("Give a date and time between the years 1 and 9999.") from None


DateTimeIn = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]


class Strict(Schema):
    """A request body: a field we do not know is refused by name (a typo such as "aspectratio" is never dropped).
    Numbers and yes/no fields take JSON numbers and booleans only (Strict*): "max_cost": true is not a 1."""

    model_config = ConfigDict(extra="forbid")


class ProblemOut(Schema):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: dict[str, list[str]] | None = Field(None, description="Messages by field, for a request refused as invalid")


class ShotIn(Strict):
    prompt: str = Field(max_length=SHOT_PROMPT_MAX)
    duration: StrictInt = Field(ge=1, le=60)


class CameraIn(Strict):
    type: str = Field(max_length=40, description="simple, down_back, forward_up, right_turn_forward, left_turn_forward")
    axis: str = Field("", max_length=40, description="For type simple: horizontal, vertical, pan, tilt, roll, zoom")
    value: StrictFloat = Field(0, ge=-10, le=10)


class GenerationIn(Strict):
    """The New video form's fields. Omitted options take the model's defaults; an option the model lacks is a 422."""

    model: str = Field(max_length=120, description="A model's id from GET /api/v1/models")
    account: StrictInt | None = Field(
        None, ge=1, le=2**31 - 1, description="Pin one provider account (default: automatic)"
    )
    prompt: str = Field("", max_length=PROMPT_MAX)
    negative_prompt: str = Field("", max_length=PROMPT_MAX)
    mode: str | None = Field(None, max_length=16)
    aspect_ratio: str | None = Field(None, max_length=16)
    duration: StrictInt | None = Field(None, ge=1, le=60)
    sound: StrictBool | None = None
    cfg_scale: StrictFloat | None = Field(None, ge=0, le=1)
    start_image: str = Field("", max_length=2000, description="An image id from POST /api/v1/images")
    end_image: str = Field("", max_length=2000, description="An image id from POST /api/v1/images")
    image_url: str = Field("", max_length=2000, description="…or a public http(s) address of the start image")
    tail_image_url: str = Field("", max_length=2000, description="…or a public http(s) address of the end image")
    multi_shot: StrictBool = False
    shot_type: Literal["", "customize", "intelligence"] = ""
    shots: list[ShotIn] = Field(default_factory=list, max_length=MAX_SHOTS, description="With multi_shot: true")
    camera_control: CameraIn | None = None
    watermark: StrictBool = False
    visibility: Visibility = "team"
    continues: uuid.UUID | None = Field(None, description="A video of yours whose last frame starts this one")
    max_cost: StrictInt | None = Field(
        None, ge=0, le=10**9, description="Refuse (422) rather than charge more than this"
    )


class PriceOut(Schema):
    mode: str
    duration: int
    sound: bool
    credits: int


class QuoteOut(Schema):
    cost: int
    balance: int
    balance_after: int
    enough: bool
    cap_error: str = Field(description="Why a daily or monthly cap would refuse it; empty when none would")


class VideoOut(Schema):
    url: str
    poster_url: str | None
    size: int | None
    width: int | None
    height: int | None
    duration: float | None
    has_audio: bool


class GenerationOut(Schema):
    id: uuid.UUID
    status: Status
    title: str
    prompt: str
    negative_prompt: str
    model: str
    model_name: str
    mode: str
    aspect_ratio: str
    duration: int
    sound: bool
    cfg_scale: float | None
    multi_shot: bool
    shots: list[dict[str, str | int]]
    camera_control: dict | None
    watermark: bool
    start_image: bool = Field(description="Made from a start picture")
    end_image: bool = Field(description="Made towards an end picture")
    visibility: Visibility
    cost: int
    owner: str
    mine: bool
    error: str
    batch: uuid.UUID | None
    created_at: datetime
    finished_at: datetime | None
    page_url: str
    video: VideoOut | None


class GenerationPage(Schema):
    items: list[GenerationOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page")


class VisibilityIn(Strict):
    visibility: Visibility


class ImageOut(Schema):
    id: str = Field(description="Use as start_image or end_image; valid for a day, for you only")
    width: int
    height: int


class BalanceOut(Schema):
    balance: int
    daily_left: int | None = Field(description="Credits left under today's cap; null when there is none")
    monthly_left: int | None = Field(description="Credits left under this month's cap; null when there is none")


class LedgerEntryOut(Schema):
    id: int
    kind: str
    amount: int
    balance_after: int
    reason: str
    generation: uuid.UUID | None
    batch: uuid.UUID | None
    created_at: datetime


class LedgerPage(Schema):
    items: list[LedgerEntryOut]
    next_cursor: str | None


class BatchRowIn(Strict):
    prompt: str = Field(max_length=PROMPT_MAX)
    negative_prompt: str = Field("", max_length=PROMPT_MAX)
    aspect_ratio: str | None = Field(None, max_length=16)
    duration: StrictInt | None = Field(None, ge=1, le=60)


class BatchIn(Strict):
    model: str = Field(max_length=120)
    account: StrictInt | None = Field(None, ge=1, le=2**31 - 1)
    mode: str | None = Field(None, max_length=16)
    # Shared by every row unless a row says otherwise (as on the batch page).
    duration: StrictInt | None = Field(None, ge=1, le=60)
    aspect_ratio: str | None = Field(None, max_length=16)
    sound: StrictBool | None = None
    negative_prompt: str = Field("", max_length=PROMPT_MAX)
    title: str = Field("", max_length=200)
    visibility: Visibility = "team"
    rows: list[BatchRowIn] = Field(min_length=1, max_length=50)
    max_total: StrictInt | None = Field(None, ge=0, le=10**9)


class BatchOut(Schema):
    id: uuid.UUID
    kind: str
    title: str
    total_cost: int
    created_at: datetime
    counts: dict[str, int]
    generations: list[GenerationOut] | None = None


class BatchPage(Schema):
    items: list[BatchOut]
    next_cursor: str | None


class WebhookIn(Strict):
    url: str = Field(max_length=2000)
    events: list[Literal["generation.ready", "generation.failed"]] = Field(
        default_factory=lambda: ["generation.ready", "generation.failed"], min_length=1, max_length=2
    )


class WebhookOut(Schema):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="Verifies each delivery's signature; shown this once")


class DeliveryOut(Schema):
    id: uuid.UUID
    event: str
    generation: uuid.UUID | None
    attempts: int
    status_code: int | None
    error: str
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    gave_up_at: datetime | None
