"""MuleRun / MuleRouter vendor API: one route per model, 202 on create, ``task_info`` envelope (seeds 000, 002)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from generations.catalog import ModelSpec
from generations.providers.base import PollResult, ProviderError, SubmitRequest, SubmitResult
from generations.providers.http import ErrorDetail, HttpClient, dig, ident, text_of

# Both vocabularies the docs use: the Kling route pages and the generic MuleRouter async guide.
STATES = {
    "pending": "queued",
    "queued": "queued",
    "running": "running",
    "processing": "running",
    "completed": "succeeded",
    "succeeded": "succeeded",
    "failed": "failed",
}
UPSTREAM_FAILURE = range(3001, 3006)  # the model provider behind MuleRun could not finish the task
MULERUN_FAILURE = (4002, 4008)  # MuleRun's own side failed
# A UUID no task will ever have: polling it is our cheap authenticated "Test connection" call.
PROBE_TASK = "00000000-0000-4000-8000-000000000000"


def route(model: str, *, image: bool = False) -> str:
    # Image-to-video is its own route per model, polled on that route (mulerun.com docs, kling-v2.5-turbo
    # image-to-video).
    return f"/vendors/klingai/v1/{model}/{'image' if image else 'text'}-to-video/generation"


def from_image(request: SubmitRequest) -> bool:
    return bool(request.params.image_url or request.params.tail_image_url)


def build_image_body(request: SubmitRequest) -> dict[str, Any]:
    """The image-to-video route: ``image`` (start frame) and ``image_tail`` (end frame); no aspect_ratio (the
    picture sets the shape)."""
    p, spec = request.params, request.spec
    body: dict[str, Any] = {"image": p.image_url, "prompt": p.prompt, "mode": p.mode, "duration": p.duration}
    if p.tail_image_url:
        body["image_tail"] = p.tail_image_url
    if p.negative_prompt:
        body["negative_prompt"] = p.negative_prompt
    if spec.sound:
        body["sound"] = "on" if p.sound else "off"
    return body


def build_body(request: SubmitRequest) -> dict[str, Any]:
    if from_image(request):
        return build_image_body(request)
    p, spec = request.params, request.spec
    body: dict[str, Any] = {
        "prompt": p.prompt,
        "mode": p.mode,
        "aspect_ratio": p.aspect_ratio,
        "duration": p.duration,  # an integer here, unlike Kling's string
    }
    if p.negative_prompt:
        body["negative_prompt"] = p.negative_prompt
    if spec.sound:  # only the v2.6 and v3 routes know the field
        body["sound"] = "on" if p.sound else "off"
    if p.multi_shot:  # the kling-v3 route: shots are {prompt, duration} with integer seconds, no index
        body["multi_shot"] = True
        body["shot_type"] = p.shot_type
        if p.shot_type == "customize":
            del body["prompt"]  # "Mutually exclusive with multi_prompt"
            body["multi_prompt"] = [{"prompt": s.prompt, "duration": s.duration} for s in p.shots]
    return body


def failure_reason(task_info: Any) -> str:
    error = dig(task_info, "error")
    words = text_of(dig(error, "detail")) or text_of(dig(error, "title")) or text_of(error)
    code = dig(error, "code")
    if code in UPSTREAM_FAILURE:
        return f"The video model could not finish this video ({words or f'code {code}'})."
    if code in MULERUN_FAILURE:
        return f"MuleRun had an internal error ({words or f'code {code}'}); try again later."
    return (words.rstrip(".") + ".") if words else "MuleRun reported the task as failed without a reason."


def parse_task(data: dict[str, Any]) -> PollResult:
    info = data.get("task_info") if isinstance(data.get("task_info"), dict) else {}
    status = str(info.get("status") or "").lower()
    state = STATES.get(status, "running")  # unknown words mean "not finished yet"; the pipeline caps the wait
    if state == "succeeded":
        video = dig(data, "videos", 0)
        url = video if isinstance(video, str) else text_of(dig(video, "url"))
        if not url:
            return PollResult("failed", data, status, reason="MuleRun finished the task but sent no video.")
        return PollResult("succeeded", data, status, video_url=url)
    if state == "failed":
        return PollResult("failed", data, status, reason=failure_reason(info))
    return PollResult(state, data, status)


SPEND_LIMIT_HINT = (
    "the account's daily spend limit (or quota) is reached; raise it in the MuleRun console or wait until it resets"
)


def is_spend_limit(status: int, words: str) -> bool:
    """MuleRun answers 429 for "rate limit, quota, or daily spend limit exceeded" (its error-codes page). Only
    a 429 that names a spend limit or quota alone is out of credit; a rate limit, or a message listing every
    cause, stays a retryable rate limit."""
    lowered = words.lower()
    spend = any(w in lowered for w in ("spend", "quota", "balance", "budget"))
    return status == 429 and spend and "rate limit" not in lowered and "too many requests" not in lowered


def describe_error(status: int, data: Any) -> ErrorDetail:
    # The body shape is undocumented; the official CLI reads detail, error, message, then task_info.error.
    words = (
        text_of(dig(data, "detail"))
        or text_of(dig(data, "error"))
        or text_of(dig(data, "message"))
        or text_of(dig(data, "task_info", "error"))
    )
    if is_spend_limit(status, words):
        return ErrorDetail(f"{SPEND_LIMIT_HINT} ({words.rstrip('.')})", kind="no_credit", permanent=True)
    return ErrorDetail(words)


class MuleRunClient(HttpClient):
    describe_error = staticmethod(describe_error)
    provider = "mulerun"


    def submit(self, request: SubmitRequest) -> SubmitResult:
        reply = self.http.post(route(request.spec.model, image=from_image(request)), build_body(request))
        task_id = ident(dig(reply.data, "task_info", "id"))
        if not task_id:
            raise self.http.missing("no task id in the answer", reply.data)
        return SubmitResult(task_id, self.http.scrub_data(reply.data), text_of(dig(reply.data, "task_info", "status")))

    def poll(self, task_id: str, *, spec: ModelSpec) -> PollResult:
        reply = self.http.get(f"{route(spec.model, image=spec.image_task)}/{task_id}")
        return replace(parse_task(reply.data), raw=self.http.scrub_data(reply.data))

    def check(self) -> str:
        try:
            self.http.get(f"{route('kling-v2.5-turbo')}/{PROBE_TASK}")
        except ProviderError as exc:
            if exc.kind != "not_found":  # 404 for a task that cannot exist means the key got past auth
                raise
        return "MuleRun accepted the API key."
