"""Kling's official text2video API, and Kling-compatible gateways such as PowerTokens (seed 003).

Both speak the same body and ``{code, message, data}`` envelope; PowerTokens puts ``/kling`` in front of the path
and takes a plain bearer key instead of Kling's JWT. A failed task is HTTP 200 with ``code: 0``: only
``task_status``/``task_status_msg`` say it failed.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import replace
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from generations.catalog import ModelSpec
from generations.providers.base import PollResult, ProviderError, SubmitRequest, SubmitResult
from generations.providers.http import ErrorDetail, HttpClient, Reply, dig, ident, text_of

# Kling issues the secret key; its length is not ours to choose (and the simulator's demo keys are short).
warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)

PATH = "/v1/videos/text2video"
# Image-to-video is its own task kind: created and queried on its own route (a new-api gateway registers exactly
# POST /image2video and GET /image2video/:task_id next to the text2video pair, router/video-router.go).
IMAGE_PATH = "/v1/videos/image2video"
TOKEN_SECONDS = 1800
# A task id that cannot exist, for "Test connection": querying it is authenticated and costs nothing. The task
# route is the one route a new-api gateway registers besides create (QuantumNous/new-api router/video-router.go).
PROBE_TASK_ID = "kling-site-connection-check"
# The list lookup: Kling allows pageNum 1-1000 and pageSize 1-500.
LIST_PAGE_SIZE = 500
LIST_MAX_PAGES = 1000
# new-api's answer for an unknown task id: HTTP 400 {"code": "task_not_exist", ...} (relay/relay_task.go).
TASK_NOT_EXIST = "task_not_exist"
# Words a refusal of a reused external_task_id may use; no source gives Kling's exact wording.
DUPLICATE_WORDS = ("duplicate", "already exist", "exists", "repeat", "used", "unique")

STATES = {
    "submitted": "queued",
    "processing": "running",
    "succeed": "succeeded",
    "failed": "failed",
    # Gateways built on new-api may answer in its generic vocabulary (envelope b).
    "queued": "queued",
    "not_start": "queued",
    "in_progress": "running",
    "succeeded": "succeeded",
    "success": "succeeded",
    "failure": "failed",
}

# Kling business codes: (kind, permanent, what it means when the provider sent no message).
CODES: dict[int, tuple[str, bool, str]] = {
    1000: ("auth", True, "authentication failed"),
    1001: ("auth", True, "the Authorization header is empty"),
    1002: ("auth", True, "the token is not valid"),
    1003: ("auth", True, "the token is not valid yet; check the server clock"),
    1004: ("auth", True, "the token has expired; check the server clock"),
    1100: ("auth", True, "the account has a problem; see the Kling console"),
    1101: ("no_credit", True, "the account is in arrears"),
    1102: ("no_credit", True, "the resource pack is used up or expired"),
    1103: ("auth", True, "the account may not use this API or model"),
    1200: ("validation", True, "the request parameters are invalid"),
    1201: ("validation", True, "a parameter value is invalid"),
    1202: ("validation", True, "the request method is invalid"),
    1203: ("not_found", True, "the requested resource does not exist"),
    1300: ("content_policy", True, "the platform policy was triggered"),
    1301: ("content_policy", True, "the content-safety policy was triggered"),
    1302: ("rate_limited", False, "requests are coming too fast"),
    1303: ("rate_limited", False, "too many tasks are running for the resource pack"),
    1304: ("auth", True, "this server's IP address is not on the account's whitelist"),
    5000: ("server", False, "server error"),
    5001: ("server", False, "the service is under maintenance"),
    5002: ("timeout", False, "the server timed out"),
}


def make_token(access_key: str, secret_key: str, *, now: float | None = None) -> str:
    """A fresh HS256 JWT per request: iss=access key, valid from 5 s ago (clock skew) for 30 minutes."""
    now = int(time.time() if now is None else now)
    claims = {"iss": access_key, "exp": now + TOKEN_SECONDS, "nbf": now - 5}
    return jwt.encode(claims, secret_key, algorithm="HS256", headers={"typ": "JWT"})


def from_image(request: SubmitRequest) -> bool:
    return bool(request.params.image_url or request.params.tail_image_url)


def path_for(*, image: bool) -> str:
    return IMAGE_PATH if image else PATH


def build_body(request: SubmitRequest) -> dict[str, Any]:
    if from_image(request):
        return build_image_body(request)
    p, spec = request.params, request.spec
    body: dict[str, Any] = {"model_name": spec.model}
    if p.multi_shot:
        body["multi_shot"] = True
        body["shot_type"] = p.shot_type
        if p.shot_type == "customize":
            body["multi_prompt"] = [
                {"index": i, "prompt": s.prompt, "duration": str(s.duration)} for i, s in enumerate(p.shots, 1)
            ]
    if p.prompt and not (p.multi_shot and p.shot_type == "customize"):  # Kling ignores it for customized shots
        body["prompt"] = p.prompt
    body["aspect_ratio"] = p.aspect_ratio
    if p.camera_control:
        body["camera_control"] = p.camera_control
    return _with_shared_fields(body, request)


def build_image_body(request: SubmitRequest) -> dict[str, Any]:
    """``POST …/image2video``: ``image`` is the start frame and ``image_tail`` the end frame, each a URL or raw base64
    ("without the data:image prefix"). It has no aspect_ratio (the picture sets the shape), no multi-shot, and
    camera_control cannot go with an image on our models (the catalog refuses it)."""
    p, spec = request.params, request.spec
    body: dict[str, Any] = {"model_name": spec.model, "image": p.image_url}
    if p.tail_image_url:
        body["image_tail"] = p.tail_image_url
    if p.prompt:
        body["prompt"] = p.prompt
    return _with_shared_fields(body, request)


def _with_shared_fields(body: dict[str, Any], request: SubmitRequest) -> dict[str, Any]:
    """The fields text2video and image2video share: negative prompt, mode, duration, sound, cfg, watermark, ids."""
    p, spec = request.params, request.spec
    if p.negative_prompt:
        body["negative_prompt"] = p.negative_prompt
    body["mode"] = p.mode
    body["duration"] = str(p.duration)  # a string in Kling's API, an integer everywhere else
    if spec.sound:
        body["sound"] = "on" if p.sound else "off"
    if spec.cfg_scale and p.cfg_scale is not None and not spec.model.startswith("kling-v2"):
        body["cfg_scale"] = p.cfg_scale  # Kling: "kling-v2.x models do not support this parameter"
    if p.watermark:
        body["watermark_info"] = {"enabled": True}
    if request.callback_url:
        body["callback_url"] = request.callback_url
    if request.external_id:
        body["external_task_id"] = request.external_id
    return body


def envelope_ok(data: dict[str, Any]) -> bool:
    # Kling says code 0; new-api's generic envelope (b) says "success"; a bare task object has no code.
    return data.get("code") in (0, "0", "success", None)


def task_of(data: dict[str, Any]) -> Any:
    inner = data.get("data")
    if inner is None and ("task_id" in data and ("task_status" in data or "status" in data)):
        return data  # a gateway that skipped the envelope
    return inner


def parse_task(task: dict[str, Any], raw: dict[str, Any]) -> PollResult:
    status = str(task.get("task_status") or task.get("status") or "").lower()
    state = STATES.get(status, "running")
    if state == "succeeded":
        plain = (
            text_of(dig(task, "task_result", "videos", 0, "url"))
            or text_of(task.get("url"))
            or text_of(task.get("result_url"))
        )
        # Asked for a watermark: Kling adds a watermarked copy next to the plain one, and that is what the member
        # gets. Without a watermarked link the plain video is kept: a paid video is never thrown away.
        marked = text_of(dig(task, "task_result", "videos", 0, "watermark_url"))
        url = marked if marked and dig(task, "watermark_info", "enabled") is True else plain
        if not url:
            return PollResult("failed", raw, status, reason="Kling finished the task but sent no video.")
        return PollResult("succeeded", raw, status, video_url=url)
    if state == "failed":
        words = text_of(task.get("task_status_msg")) or text_of(task.get("fail_reason")) or text_of(task.get("error"))
        reason = (words.rstrip(".") + ".") if words else "Kling reported the task as failed without a reason."
        return PollResult("failed", raw, status, reason=reason)
    return PollResult(state, raw, status)


def is_duplicate(code: Any, words: str) -> bool:
    """A refusal of our reused external_task_id. No source gives its code or wording, so both are read: a
    parameter-error code (1200/1201) whose message names the external id, or says it is taken."""
    lowered = words.lower()
    names_it = "external_task_id" in lowered or "external task id" in lowered
    return code in (1200, 1201) and names_it and (code == 1201 or any(w in lowered for w in DUPLICATE_WORDS))


def describe_error(status: int, data: Any) -> ErrorDetail:
    code = dig(data, "code")
    words = text_of(dig(data, "message")) or text_of(dig(data, "error"))
    if code == TASK_NOT_EXIST:  # a new-api gateway: the task id is unknown there (HTTP 400, not 404)
        return ErrorDetail(words if words != TASK_NOT_EXIST else "no such task", kind="not_found", permanent=True)
    if not isinstance(code, int) or code not in CODES:
        return ErrorDetail(words)
    kind, permanent, meaning = CODES[code]
    if is_duplicate(code, words):
        kind = "duplicate"  # our idempotency key was seen before: the task exists, look it up instead
    return ErrorDetail(f"{words or meaning} [code {code}]", kind=kind, permanent=permanent)


class KlingClient(HttpClient):
    describe_error = staticmethod(describe_error)
    provider = "kling"
    has_external_id = True
    prefix = ""  # gateways mount the same API under a path
    label = "Kling"  # the name in messages; "" takes the catalog's label


    def _auth(self) -> dict[str, str]:
        secrets = self.credential.secrets
        return {"Authorization": f"Bearer {make_token(secrets['access_key'], secrets['secret_key'])}"}

    def submit(self, request: SubmitRequest) -> SubmitResult:
        path = path_for(image=from_image(request))
        reply = self._checked(self.http.post(self.prefix + path, build_body(request)), submit=True)
        task = task_of(reply.data)
        task_id = ident(dig(task, "task_id"))
        if not task_id:
            raise self.http.missing("no task_id in the answer", reply.data)
        return SubmitResult(task_id, self.http.scrub_data(reply.data), text_of(dig(task, "task_status")))

    def poll(self, task_id: str, *, spec: ModelSpec) -> PollResult:
        path = path_for(image=spec.image_task)
        reply = self._checked(self.http.get(f"{self.prefix}{path}/{task_id}"))
        task = task_of(reply.data)
        if not isinstance(task, dict):
            body = self.http.scrub(json.dumps(reply.data, default=str)[:4096])
            raise ProviderError("Kling answered without the task.", permanent=False, kind="malformed", body=body)
        return replace(parse_task(task, reply.data), raw=self.http.scrub_data(reply.data))

    def find_by_external_id(self, external_id: str, *, spec: ModelSpec | None = None) -> SubmitResult | None:
        """``GET …/text2video?external_task_id=…``; Kling identifies a task by either id (the simulator serves this).

        None only when the provider answered that it has no such task. A server that ignores the filter answers
        with its task list: every page is read, and only an exact match counts. A gateway that does not serve
        this route (a new-api gateway answers with its web page) raises: "cannot tell" must never become "not
        found", which would let the pipeline resend and pay twice.
        """
        path = self.prefix + path_for(image=bool(spec and spec.image_task))
        try:
            reply = self._checked(self.http.get(path, params={"external_task_id": external_id}))
        except ProviderError as exc:
            if exc.kind == "not_found" and exc.status_code == 404:
                return None
            if exc.kind == "html":  # the route does not exist here: asking again cannot help
                raise ProviderError(
                    exc.message, permanent=True, status_code=exc.status_code, body=exc.body, kind="html"
                ) from exc
            raise
        found = task_of(reply.data)
        if not isinstance(found, list):
            return self._match([found], external_id, reply, exact=False)
        if (match := self._match(found, external_id, reply, exact=True)) is not None:
            return match
        # The filter was ignored and the first page (of the server's default size, 30 on Kling) had no match:
        # read the whole list with the largest pages Kling allows, until a short page.
        for page in range(1, LIST_MAX_PAGES + 1):
            params = {"external_task_id": external_id, "pageNum": str(page), "pageSize": str(LIST_PAGE_SIZE)}
            reply = self._checked(self.http.get(path, params=params))
            found = task_of(reply.data)
            tasks = found if isinstance(found, list) else [found]
            if (match := self._match(tasks, external_id, reply, exact=True)) is not None:
                return match
            if len(tasks) < LIST_PAGE_SIZE:
                break
        return None

    def _match(self, tasks: list[Any], external_id: str, reply: Reply, *, exact: bool) -> SubmitResult | None:
        for task in tasks:
            if not isinstance(task, dict) or not ident(task.get("task_id")):
                continue
            theirs = dig(task, "task_info", "external_task_id")
            if theirs == external_id or (theirs is None and not exact):
                status = str(task.get("task_status") or task.get("status") or "")
                return SubmitResult(ident(task["task_id"]), self.http.scrub_data(reply.data), status)
        return None

    def check(self) -> str:
        try:
            self._checked(self.http.get(f"{self.prefix}{PATH}/{PROBE_TASK_ID}"))
        except ProviderError as exc:
            if exc.kind != "not_found":  # an unknown task id (404, or new-api's 400 task_not_exist) got past auth
                raise
        return f"{self.http.label} accepted the credentials."

    def _checked(self, reply: Reply, *, submit: bool = False) -> Reply:
        """Kling may answer HTTP 200 with a non-zero business code; treat that like the HTTP error it means."""
        if envelope_ok(reply.data):
            return reply
        raw = json.dumps(reply.data).encode()
        error = self.http.error_for(reply.status, raw, reply.headers, submit=submit)
        raise error


class PowerTokensClient(KlingClient):
    provider = "powertokens"
    prefix = "/kling"
    label = ""

    def _auth(self) -> dict[str, str]:
        return HttpClient._auth(self)
