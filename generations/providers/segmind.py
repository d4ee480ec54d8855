"""Segmind Kling 2.5 Turbo: the async v2 submit/status/result API and the synchronous v1 call (seed 004).

v2 answers a FAILED request with HTTP 422 and a valid body, and forgets every request an hour after submission.
v1 blocks for the whole generation (~134 s) and answers with the MP4 bytes themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any

import httpx

from generations.catalog import ModelSpec
from generations.providers.base import (
    Credential,
    PollResult,
    ProviderError,
    SubmitOutcomeUnknown,
    SubmitRequest,
    SubmitResult,
    VideoAtLink,
)
from generations.providers.http import ErrorDetail, HttpClient, HttpOptions, dig, ident, text_of

STATES = {"QUEUED": "queued", "PROCESSING": "running", "COMPLETED": "succeeded", "FAILED": "failed"}
TERMINAL = ("COMPLETED", "FAILED")
PROBE_REQUEST = "00000000-0000-4000-8000-000000000000"
# v1 holds the connection open until the video exists: the read timeout must outlast a whole generation.
V1_OPTIONS = HttpOptions(timeout=httpx.Timeout(connect=5.0, read=300.0, write=10.0, pool=5.0), deadline=900.0)
JSON_VARIANT_MAX = 64 * 1024


def build_body(request: SubmitRequest) -> dict[str, Any]:
    p, spec = request.params, request.spec
    body: dict[str, Any] = {
        "prompt": p.prompt,
        "duration": p.duration,  # integer per the schema
        "mode": p.mode,
        "aspect_ratio": p.aspect_ratio,
    }
    if p.negative_prompt:
        body["negative_prompt"] = p.negative_prompt
    if p.cfg_scale is not None:
        body["cfg_scale"] = p.cfg_scale
    if p.image_url:
        body["image_url"] = p.image_url
    if p.tail_image_url:
        body["tail_image_url"] = p.tail_image_url
    if spec.sound:  # kling-2.6: always say whether to generate audio
        body["generate_audio"] = p.sound
    return body


def find_url(output: Any) -> str:
    """The video link inside v2's ``output``, whose exact shape for video models is undocumented."""
    if isinstance(output, str):
        return output if output.startswith(("https://", "http://")) else ""
    if isinstance(output, dict):
        for key in ("video", "video_url", "url", "output", "videos"):
            if key in output and (found := find_url(output[key])):
                return found
        return ""
    if isinstance(output, list):
        return next((found for item in output if (found := find_url(item))), "")
    return ""


def parse_status(data: dict[str, Any]) -> PollResult:
    status = str(data.get("status") or "").upper()
    state = STATES.get(status, "running")
    if state == "failed":
        words = text_of(data.get("error"))
        reason = (words.rstrip(".") + ".") if words else "Segmind reported the request as failed without a reason."
        return PollResult("failed", data, status, reason=reason)
    return PollResult(state, data, status)


def describe_error(status: int, data: Any) -> ErrorDetail:
    words = text_of(dig(data, "error")) or text_of(dig(data, "message")) or text_of(dig(data, "detail"))
    lowered = words.lower()
    if status in (400, 422) and any(w in lowered for w in ("moderation", "nsfw", "content policy", "prohibited")):
        return ErrorDetail(words, kind="content_policy")
    return ErrorDetail(words)


class SegmindClient(HttpClient):
    describe_error = staticmethod(describe_error)
    provider = "segmind"


    def _auth(self) -> dict[str, str]:
        return {"x-api-key": self.credential.secrets["api_key"]}

    def submit(self, request: SubmitRequest) -> SubmitResult:
        reply = self.http.post(f"/v2/{request.spec.model}", build_body(request))
        request_id = ident(reply.data.get("request_id"))
        if not request_id:
            raise self.http.missing("no request_id in the answer", reply.data)
        return SubmitResult(request_id, self.http.scrub_data(reply.data), text_of(reply.data.get("status")))

    def poll(self, task_id: str, *, spec: ModelSpec) -> PollResult:
        try:
            status = parse_status(self._get_terminal_tolerant(f"/v2/requests/{task_id}/status"))
            if status.state != "succeeded":
                return replace(status, raw=self.http.scrub_data(status.raw))
            result = self._get_terminal_tolerant(f"/v2/requests/{task_id}")
        except ProviderError as exc:
            if exc.kind == "not_found":  # Segmind forgets a request one hour after submission
                raise ProviderError(
                    "Segmind no longer has this request; results expire one hour after submission.",
                    permanent=True,
                    status_code=exc.status_code,
                    body=exc.body,
                    kind="expired",
                ) from None
            raise
        parsed = parse_status(result)
        if parsed.state == "failed":
            return replace(parsed, raw=self.http.scrub_data(result))
        url = find_url(result.get("output"))
        if not url:
            # COMPLETED in /status but no link in the result yet: poll again rather than give up.
            return PollResult("running", self.http.scrub_data(result), str(result.get("status") or ""))
        return PollResult("succeeded", self.http.scrub_data(result), "COMPLETED", video_url=url)

    def _get_terminal_tolerant(self, path: str) -> dict[str, Any]:
        """Segmind serves a FAILED body under HTTP 422, and its own SDK accepts a body that announces a terminal
        state under any status (segmind-python v2.py ``_fetch_terminal_tolerant``): so do we, for any 4xx."""
        try:
            return self.http.get(path).data
        except ProviderError as exc:
            if exc.status_code is None or not 400 <= exc.status_code < 500:
                raise
            try:
                data = json.loads(exc.body)
            except ValueError:
                raise exc from None
            if isinstance(data, dict) and str(data.get("status") or "").upper() in TERMINAL:
                return data
            raise

    def check(self) -> str:
        try:
            self.http.get(f"/v2/requests/{PROBE_REQUEST}/status")
        except ProviderError as exc:
            if exc.kind != "not_found":  # an unknown request id gets past auth
                raise
        return "Segmind accepted the API key."


class SegmindV1Client(SegmindClient):
    provider = "segmind_v1"
    synchronous = True

    def __init__(self, credential: Credential, *, options: HttpOptions | None = None):
        super().__init__(credential, options=options or V1_OPTIONS)

    def submit(self, request: SubmitRequest) -> SubmitResult:
        raise NotImplementedError("Segmind v1 is synchronous; use generate().")

    def poll(self, task_id: str, *, spec: ModelSpec) -> PollResult:
        raise NotImplementedError("Segmind v1 is synchronous; use generate().")

    def generate(self, request: SubmitRequest) -> AbstractContextManager[Iterator[bytes]]:
        """``with client.generate(req) as chunks: for chunk in chunks: …``; the MP4 body, streamed, or
        VideoAtLink when Segmind answers with a link to the video instead.

        Everything after the request left us may have been paid for, so failures past that point raise
        SubmitOutcomeUnknown: a blind resend would buy the video twice.
        """
        return self._generate(request)

    @contextmanager
    def _generate(self, request: SubmitRequest) -> Iterator[Iterator[bytes]]:
        path = f"/v1/{request.spec.model}"
        with self.http.stream("POST", path, body=build_body(request), submit=True) as answer:
            kind = answer.response.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind.startswith("video/"):
                yield answer.chunks
                return
            if kind == "application/json":
                # The video exists and is billed: the pipeline fetches the link (retrying only that download).
                raise VideoAtLink(self._json_variant(answer.chunks))
            raise SubmitOutcomeUnknown(
                f"Segmind answered with {kind or 'no content type'} instead of a video.", kind="malformed"
            )

    def _may_follow(self, url: str) -> bool:
        """Only a TLS link, or one on the configured API host, is followed: an answer must not point us at the LAN."""
        try:
            same_host = httpx.URL(url).host == httpx.URL(self.credential.base_url).host
        except httpx.InvalidURL:
            return False
        return url.startswith("https://") or same_host

    def _json_variant(self, chunks: Iterator[bytes]) -> str:
        """Some Segmind video routes answer ``{"video": [{"url": …}]}`` instead of the bytes."""
        raw = b""
        for chunk in chunks:
            raw += chunk
            if len(raw) > JSON_VARIANT_MAX:
                break
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        url = find_url(dig(data, "video")) or find_url(data)
        if url and not self._may_follow(url):
            url = ""
        if not url:
            body = self.http.scrub(raw[:4096].decode("utf-8", "replace"))
            raise SubmitOutcomeUnknown("Segmind answered with JSON but no video link.", kind="malformed", body=body)
        return url
