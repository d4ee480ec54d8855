"""AI/ML API: one create URL for every model, the id in a query parameter (seed 001)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote

from generations.catalog import ModelSpec
from generations.providers.base import PollResult, ProviderError, SubmitRequest, SubmitResult
from generations.providers.http import ErrorDetail, HttpClient, dig, ident, text_of

# The "universal" URL; the seed's legacy /v2/generate/video/kling/generation serves the same API.
PATH = "/v2/video/generations"
STATES = {
    "queued": "queued",
    "waiting": "queued",
    "generating": "running",
    "active": "running",
    "completed": "succeeded",
    "error": "failed",
}
# Our shot types (Kling's words) in AI/ML API's spelling.
SHOT_TYPES = {"customize": "customize", "intelligence": "intelligent"}
# Ids look like "<uuid>:klingai/v2.5-turbo/pro/text-to-video"; this one exists nowhere, for "Test connection".
PROBE_TASK = "00000000-0000-4000-8000-000000000000:kling-site/connection-check"


def build_image_body(request: SubmitRequest) -> dict[str, Any]:
    """The model's image-to-video id (``spec.images.route``): ``image_url`` and, on 2.6, ``tail_image_url``. Those
    schemas have no aspect_ratio (the picture sets the shape); cfg_scale only where ``images.cfg_scale``."""
    p, spec = request.params, request.spec
    assert spec.images is not None and spec.images.route  # the catalog refuses pictures elsewhere
    body: dict[str, Any] = {
        "model": spec.images.route,
        "prompt": p.prompt,
        "image_url": p.image_url,
        "duration": p.duration,
    }
    if p.tail_image_url:
        body["tail_image_url"] = p.tail_image_url
    if p.negative_prompt:
        body["negative_prompt"] = p.negative_prompt
    if spec.cfg_scale and spec.images.cfg_scale and p.cfg_scale is not None:
        body["cfg_scale"] = p.cfg_scale
    if spec.sound:
        body["generate_audio"] = p.sound
    return body


def build_body(request: SubmitRequest) -> dict[str, Any]:
    if request.params.image_url or request.params.tail_image_url:
        return build_image_body(request)
    p, spec = request.params, request.spec
    body: dict[str, Any] = {
        "model": spec.model,
        "prompt": p.prompt,
        "duration": p.duration,  # integer per the schema (examples send "5"; the API accepts both)
        "aspect_ratio": p.aspect_ratio,
    }
    if p.negative_prompt:
        body["negative_prompt"] = p.negative_prompt
    if spec.cfg_scale and p.cfg_scale is not None:
        body["cfg_scale"] = p.cfg_scale
    if spec.sound:  # v2.6 and v3 default generate_audio to true: always say what the member chose
        body["generate_audio"] = p.sound
    if p.multi_shot:
        # AI/ML API spells Kling's "intelligence" as "intelligent" (video-v3-*-text-to-video.json).
        body["shot_type"] = SHOT_TYPES[p.shot_type]
        if p.shot_type == "customize":
            del body["prompt"]  # "Either prompt or multi_prompt must be provided, but not both."
            body["multi_prompt"] = [{"prompt": s.prompt, "duration": s.duration} for s in p.shots]
    return body


def poll_path(task_id: str) -> str:
    # Encode ':' and '/' ourselves so the id survives every proxy and URL normaliser untouched.
    return f"{PATH}?generation_id={quote(task_id, safe='')}"


def parse_task(data: dict[str, Any]) -> PollResult:
    status = str(data.get("status") or "").lower()
    state = STATES.get(status, "running")  # docs samples also use waiting/active; anything unknown is running
    if state == "succeeded":
        video = data.get("video")
        url = text_of(dig(video, "url")) or text_of(dig(video, 0, "url")) or (video if isinstance(video, str) else "")
        if not url:
            return PollResult("failed", data, status, reason="AI/ML API finished the task but sent no video.")
        return PollResult("succeeded", data, status, video_url=url)
    if state == "failed":
        # Two shapes in the wild: the schema's {name, message} and the real {detail: [{msg, ...}]}.
        words = text_of(data.get("error"))
        reason = (words.rstrip(".") + ".") if words else "AI/ML API reported an error without a reason."
        return PollResult("failed", data, status, reason=reason)
    return PollResult(state, data, status)


def describe_error(status: int, data: Any) -> ErrorDetail:
    words = text_of(dig(data, "message")) or text_of(dig(data, "error")) or text_of(dig(data, "detail"))
    if status == 403:  # AI/ML API answers 403 when the balance is empty ("You've run out of credits")
        return ErrorDetail(words, kind="no_credit")
    return ErrorDetail(words)


class AimlapiClient(HttpClient):
    describe_error = staticmethod(describe_error)
    provider = "aimlapi"


    def submit(self, request: SubmitRequest) -> SubmitResult:
        reply = self.http.post(PATH, build_body(request))
        task_id = ident(reply.data.get("id"))
        if not task_id:
            raise self.http.missing("no generation id in the answer", reply.data)
        return SubmitResult(task_id, self.http.scrub_data(reply.data), text_of(reply.data.get("status")))

    def poll(self, task_id: str, *, spec: ModelSpec) -> PollResult:
        reply = self.http.get(poll_path(task_id))
        return replace(parse_task(reply.data), raw=self.http.scrub_data(reply.data))

    def check(self) -> str:
        try:
            self.http.get(poll_path(PROBE_TASK))
        except ProviderError as exc:
            # An unknown id gets past auth and then fails; a bad key is 401, an empty balance 403.
            if exc.kind not in ("not_found", "validation"):
                raise
        return "AI/ML API accepted the API key."
