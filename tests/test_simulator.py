"""The simulator speaks each protocol as documented: auth answers, state progression, Kling callbacks and
external ids, Segmind expiry, file serving, the fault admin endpoint, and the standalone command."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import httpx
import jwt
import pytest

from generations.management.commands.simulator import Command, _Options
from generations.providers.base import ProviderError
from generations.providers.kling import make_token
from generations.simulator import Simulator
from generations.simulator.cli import build
from generations.simulator.faults import FaultError, markdown_table, markers_in, parse
from tests.fixtures_simulator import client_for, download, first_spec, make_request, png, probe, unique

ROOT = Path(__file__).resolve().parent.parent
MULERUN = "/vendors/klingai/v1/kling-v2.5-turbo/text-to-video/generation"
KLING = "/v1/videos/text2video"
BODY = {"prompt": "a paper boat", "mode": "std", "aspect_ratio": "16:9", "duration": 5}


def call(sim: Simulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, sim.base_url + path, timeout=5, trust_env=False, **kwargs)


def kling_auth(sim: Simulator, **claims: Any) -> dict[str, str]:
    keys = sim.keys["kling"]
    now = int(time.time())
    payload = {"iss": keys["access_key"], "exp": now + 1800, "nbf": now - 5, **claims}
    return {"Authorization": "Bearer " + jwt.encode(payload, keys["secret_key"], algorithm="HS256")}


# -- auth ------------------------------------------------------------------------------------------------------


def test_a_wrong_bearer_key_gets_each_providers_401_shape(sim: Simulator) -> None:
    wrong = {"Authorization": "Bearer nope"}
    mulerun = call(sim, "POST", MULERUN, json=BODY, headers=wrong)
    assert mulerun.status_code == 401 and "detail" in mulerun.json()
    aiml = call(sim, "POST", "/v2/video/generations", json={}, headers=wrong)
    assert aiml.status_code == 401 and aiml.json()["statusCode"] == "401" and "valid API key" in aiml.json()["message"]
    gateway = call(sim, "POST", "/kling" + KLING, json={}, headers=wrong)
    assert gateway.status_code == 401 and gateway.json()["code"] == 1002


def test_segmind_wants_its_key_in_x_api_key_not_a_bearer_header(sim: Simulator) -> None:
    key = sim.keys["segmind"]
    for headers in ({"x-api-key": "nope"}, {"Authorization": f"Bearer {key}"}):
        response = call(sim, "POST", "/v2/kling-2.5-turbo", json={"prompt": "x"}, headers=headers)
        assert response.status_code == 401
        assert "Invalid API key" in response.json()["error"]


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 1001),
        ({"Authorization": "Basic abc"}, 1002),
        ({"Authorization": "Bearer not.a.jwt"}, 1002),
        ("wrong-secret", 1002),
        ("wrong-issuer", 1002),
        ("expired", 1004),
        ("not-yet-valid", 1003),
    ],
)
def test_kling_verifies_the_jwt(headers: Any, code: int, sim: Simulator) -> None:
    keys = sim.keys["kling"]
    now = int(time.time())
    if headers == "wrong-secret":
        headers = {"Authorization": "Bearer " + make_token(keys["access_key"], "another-secret")}
    elif headers == "wrong-issuer":
        headers = {"Authorization": "Bearer " + make_token("someone-else", keys["secret_key"])}
    elif headers == "expired":
        headers = kling_auth(sim, exp=now - 10, nbf=now - 1900)
    elif headers == "not-yet-valid":
        headers = kling_auth(sim, nbf=now + 600)
    response = call(sim, "GET", KLING + "/123", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == code and response.json()["request_id"]


def test_a_fresh_client_token_is_accepted(sim: Simulator) -> None:
    assert client_for(sim, "kling").check() == "Kling accepted the credentials."


@pytest.mark.parametrize("provider", ["mulerun", "aimlapi", "powertokens", "segmind", "segmind_v1"])
def test_check_reports_accepted_and_rejected_keys(provider: str, sim: Simulator) -> None:
    assert "accepted" in client_for(sim, provider).check()
    with pytest.raises(ProviderError) as raised:
        client_for(sim, provider, api_key="wrong").check()
    assert (raised.value.kind, raised.value.permanent) == ("auth", True)


def test_check_rejects_a_wrong_kling_secret(sim: Simulator) -> None:
    with pytest.raises(ProviderError) as raised:
        client_for(sim, "kling", secret_key="wrong").check()
    assert raised.value.kind == "auth"
    assert "[code 1002]" in raised.value.message


# -- documented envelopes and state progression ----------------------------------------------------------------


def test_tasks_move_through_each_providers_own_states(sim: Simulator) -> None:
    sim.task_seconds = 2.0
    clients = {p: client_for(sim, p) for p in ("mulerun", "aimlapi", "kling", "powertokens", "segmind")}
    tasks = {p: c.submit(make_request(first_spec(p), unique())) for p, c in clients.items()}
    started = time.monotonic()
    assert {p: t.status for p, t in tasks.items()} == {
        "mulerun": "pending",
        "aimlapi": "queued",
        "kling": "submitted",
        "powertokens": "submitted",
        "segmind": "QUEUED",
    }
    seen = {p: [t.status] for p, t in tasks.items()}  # the create answer is the first state we see
    while time.monotonic() - started < 4:
        for p, c in clients.items():
            result = c.poll(tasks[p].task_id, spec=first_spec(p))
            if not seen[p] or seen[p][-1] != result.status:
                seen[p].append(result.status)
        if all(s[-1] in ("completed", "succeed", "COMPLETED") for s in seen.values()):
            break
        time.sleep(0.1)
    assert seen == {
        "mulerun": ["pending", "processing", "completed"],
        "aimlapi": ["queued", "generating", "completed"],
        "kling": ["submitted", "processing", "succeed"],
        "powertokens": ["submitted", "processing", "succeed"],
        "segmind": ["QUEUED", "PROCESSING", "COMPLETED"],
    }


def test_the_envelopes_look_as_documented(sim: Simulator) -> None:
    headers = {"Authorization": f"Bearer {sim.keys['mulerun']}"}
    created = call(sim, "POST", MULERUN, json=BODY, headers=headers)
    assert created.status_code == 202
    info = created.json()["task_info"]
    assert len(info["id"]) == 36 and info["created_at"].endswith("Z") and "." in info["created_at"]

    kling = call(sim, "POST", KLING, json={"model_name": "kling-v2-5-turbo", "prompt": "x"}, headers=kling_auth(sim))
    assert kling.status_code == 200
    body = kling.json()
    assert (body["code"], body["message"]) == (0, "SUCCEED")
    assert body["data"]["task_id"].isdigit() and body["data"]["created_at"] > 10**12  # milliseconds

    aiml_key = {"Authorization": f"Bearer {sim.keys['aimlapi']}"}
    model = "klingai/v2.5-turbo/pro/text-to-video"
    aiml = call(
        sim, "POST", "/v2/generate/video/kling/generation", json={"model": model, "prompt": "x"}, headers=aiml_key
    )
    generation_id = aiml.json()["id"]
    assert generation_id.endswith(":" + model)
    # The legacy URL and the universal one are the same API; the id must be URL-encoded in the query.
    polled = call(sim, "GET", "/v2/video/generations", params={"generation_id": generation_id}, headers=aiml_key)
    assert polled.json()["id"] == generation_id


def test_a_kling_body_error_uses_a_business_code(sim: Simulator) -> None:
    body = {"model_name": "kling-v2-5-turbo", "prompt": "x", "cfg_scale": 0.5}
    response = call(sim, "POST", KLING, json=body, headers=kling_auth(sim))
    assert response.status_code == 400
    assert response.json()["code"] == 1201 and "cfg_scale" in response.json()["message"]
    duration_int = {"model_name": "kling-v2-5-turbo", "prompt": "x", "duration": 5}
    assert call(sim, "POST", KLING, json=duration_int, headers=kling_auth(sim)).json()["code"] == 1201


def test_mulerun_rejects_a_string_duration(sim: Simulator) -> None:
    headers = {"Authorization": f"Bearer {sim.keys['mulerun']}"}
    response = call(sim, "POST", MULERUN, json={**BODY, "duration": "5"}, headers=headers)
    assert response.status_code == 400 and "integer" in response.json()["detail"]


# -- Kling: external ids and callbacks -------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["kling", "powertokens"])
def test_an_external_task_id_is_unique_per_account_and_finds_the_task(provider: str, sim: Simulator) -> None:
    client = client_for(sim, provider)
    spec = first_spec(provider)
    request = make_request(spec, unique())
    first = client.submit(request)
    with pytest.raises(ProviderError) as raised:
        client.submit(request)
    assert (raised.value.kind, raised.value.permanent) == ("duplicate", True)
    assert "external_task_id" in raised.value.message
    if provider == "powertokens":
        # A new-api gateway has no route to look a task up by our id: its web page means "cannot tell", never
        # "not found" (QuantumNous/new-api router/web-router.go NoRoute), so the pipeline cannot resend blindly.
        for external_id in (request.external_id, "gen-never-sent"):
            with pytest.raises(ProviderError) as raised:
                client.find_by_external_id(external_id, spec=spec)
            assert raised.value.kind == "html" and raised.value.permanent  # asking again cannot help
        return
    found = client.find_by_external_id(request.external_id, spec=spec)
    assert found is not None and found.task_id == first.task_id
    assert client.find_by_external_id("gen-never-sent", spec=spec) is None


def test_powertokens_answers_an_unknown_task_as_new_api_does(sim: Simulator) -> None:
    """QuantumNous/new-api relay/relay_task.go: an unknown task id is HTTP 400 task_not_exist, not a 404; the
    client reads it as "not found", and Test connection as proof that the key got past authentication."""
    headers = {"Authorization": f"Bearer {sim.keys['powertokens']}"}
    answer = call(sim, "GET", "/kling" + KLING + "/task_unknown", headers=headers)
    assert answer.status_code == 400 and answer.json()["code"] == "task_not_exist"
    client = client_for(sim, "powertokens")
    with pytest.raises(ProviderError) as raised:
        client.poll("task_unknown", spec=first_spec("powertokens"))
    assert (raised.value.kind, raised.value.status_code) == ("not_found", 400)
    assert client.check() == "PowerTokens accepted the credentials."
    page = call(sim, "GET", "/kling" + KLING, headers=headers)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]]
    done: threading.Event

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if body.get("task_status") in ("succeed", "failed"):
            self.done.set()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]], threading.Event]]:
    handler = type("Receiver", (_Receiver,), {"bodies": [], "done": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/kling", handler.bodies, handler.done
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("marker", ["", "[sim:moderation]"])
def test_kling_posts_a_flat_callback_on_each_status_change(marker: str, sim: Simulator, receiver: Any) -> None:
    url, bodies, done = receiver
    client = client_for(sim, "kling")
    request = make_request(first_spec("kling"), unique(marker), callback_url=url)
    task = client.submit(request)
    assert done.wait(10), "no final callback arrived"
    final = "failed" if marker else "succeed"
    assert [b["task_status"] for b in bodies] == ["submitted", "processing", final]
    last = bodies[-1]
    assert "code" not in last and "data" not in last  # flat, not the {code, data} envelope
    assert last["task_id"] == task.task_id
    assert last["task_info"]["external_task_id"] == request.external_id
    if marker:
        assert last["task_status_msg"]
    else:
        assert last["task_result"]["videos"][0]["url"].startswith(sim.base_url)


# -- Segmind: expiry and the synchronous call ---------------------------------------------------------------


def test_segmind_forgets_a_request_after_its_result_lifetime(sim: Simulator) -> None:
    sim.result_ttl = 0.3
    client = client_for(sim, "segmind")
    task = client.submit(make_request(first_spec("segmind"), unique()))
    assert client.poll(task.task_id, spec=first_spec("segmind")).state in ("queued", "running")
    time.sleep(0.4)
    response = call(sim, "GET", f"/v2/requests/{task.task_id}/status", headers={"x-api-key": sim.keys["segmind"]})
    assert response.status_code == 404 and "expired" in response.json()["error"]
    with pytest.raises(ProviderError) as raised:
        client.poll(task.task_id, spec=first_spec("segmind"))
    assert (raised.value.kind, raised.value.permanent) == ("expired", True)


def test_segmind_failed_is_http_422_with_a_valid_body(sim: Simulator) -> None:
    sim.task_seconds = 0
    client = client_for(sim, "segmind")
    task = client.submit(make_request(first_spec("segmind"), unique("[sim:moderation]")))
    headers = {"x-api-key": sim.keys["segmind"]}
    for path in (f"/v2/requests/{task.task_id}/status", f"/v2/requests/{task.task_id}"):
        response = call(sim, "GET", path, headers=headers)
        assert response.status_code == 422
        assert response.json()["status"] == "FAILED" and response.json()["error"]


def test_segmind_v1_answers_with_the_mp4_itself(sim: Simulator, tmp_path: Path) -> None:
    sim.task_seconds = 0.2
    body = {"prompt": "x", "duration": "5", "aspect_ratio": "1:1"}  # the examples send a string duration
    response = call(sim, "POST", "/v1/kling-2.5-turbo", json=body, headers={"x-api-key": sim.keys["segmind"]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4" and response.headers["x-remaining-credits"]
    (tmp_path / "v.mp4").write_bytes(response.content)
    info = probe(tmp_path / "v.mp4")
    assert (info.width, info.height, round(info.duration)) == (1080, 1080, 5)


# -- files -----------------------------------------------------------------------------------------------------


def test_videos_are_faststart_mp4s_with_range_support(sim: Simulator, tmp_path: Path) -> None:
    sim.task_seconds = 0
    client = client_for(sim, "mulerun")
    task = client.submit(make_request(first_spec("mulerun"), unique()))
    url = client.poll(task.task_id, spec=first_spec("mulerun")).video_url
    whole = download(url, tmp_path / "v.mp4")
    data = (tmp_path / "v.mp4").read_bytes()
    assert whole.headers["accept-ranges"] == "bytes"
    assert data.find(b"moov") < data.find(b"mdat")  # moov first: playable before the download ends
    part = httpx.get(url, headers={"Range": "bytes=10-109"}, trust_env=False)
    assert part.status_code == 206 and part.content == data[10:110]
    assert part.headers["content-range"] == f"bytes 10-109/{len(data)}"
    tail = httpx.get(url, headers={"Range": "bytes=-50"}, trust_env=False)
    assert tail.content == data[-50:]
    assert httpx.get(url.replace(".mp4", "x.mp4"), trust_env=False).status_code == 404


def test_the_video_cache_keys_on_duration_size_sound_caption_and_picture(sim: Simulator) -> None:
    path = sim.videos.get((5, 720, 720, False, "", ""))
    assert path.name == "5s-720x720-silent.mp4"
    assert sim.videos.get((5, 720, 720, False, "", "")) == path
    assert sim.videos.path_for((5, 720, 720, True, "", "")).name == "5s-720x720-sound.mp4"
    demo = sim.videos.path_for((5, 720, 720, False, "A RED KITE", "")).name
    assert demo.startswith("5s-720x720-silent-")
    assert demo != sim.videos.path_for((5, 720, 720, False, "A FOX", "")).name
    # Two start images never share a file, even with the same caption: the picture is part of the key.
    red, green = (sim.videos.add_picture(png(colours=(c,))) for c in ((200, 30, 40), (20, 170, 60)))
    assert red != green
    from_red = sim.videos.get((1, 720, 720, False, "", red))
    from_green = sim.videos.get((1, 720, 720, False, "", green))
    assert from_red != from_green and from_red != path
    with av.open(str(from_red)) as a, av.open(str(from_green)) as b:
        first_a, first_b = next(a.decode(video=0)).to_image(), next(b.decode(video=0)).to_image()
    assert first_a.getpixel((360, 360))[0] > 150 and first_b.getpixel((360, 360))[1] > 120


# -- faults: grammar and the admin endpoint -------------------------------------------------------------------


def test_fault_specs_parse_with_phase_and_count() -> None:
    assert str(parse("429x2")) == "create:429x2"
    assert str(parse("poll:503")) == "poll:503"
    assert str(parse("expired")) == "download:expired"
    assert [str(f) for f in markers_in("a [sim:429x1,poll:reset] b [sim:never]")] == [
        "create:429x1",
        "poll:reset",
        "task:never",
    ]
    for bad in ("teapot", "poll:never", "create:truncated", "poll:submit_timeout"):
        with pytest.raises(FaultError):
            parse(bad)


def test_an_unknown_marker_is_a_loud_400(sim: Simulator) -> None:
    headers = {"Authorization": f"Bearer {sim.keys['mulerun']}"}
    response = call(sim, "POST", MULERUN, json={**BODY, "prompt": "x [sim:teapot]"}, headers=headers)
    assert response.status_code == 400 and "teapot" in response.json()["detail"]


def test_global_faults_can_be_set_over_http(sim: Simulator) -> None:
    assert call(sim, "POST", "/_sim/faults", json={"faults": ["poll:500x1"], "provider": "mulerun"}).json() == {
        "faults": ["mulerun/poll:500x1"]
    }
    client = client_for(sim, "mulerun")
    task = client.submit(make_request(first_spec("mulerun"), unique()))
    with pytest.raises(ProviderError) as raised:
        client.poll(task.task_id, spec=first_spec("mulerun"))
    assert raised.value.status_code == 500
    assert call(sim, "GET", "/_sim/faults").json() == {"faults": []}  # used up
    assert call(sim, "POST", "/_sim/faults", json={"faults": ["bogus"]}).status_code == 400
    call(sim, "POST", "/_sim/faults", json={"faults": ["503"]})
    assert call(sim, "DELETE", "/_sim/faults").json() == {"faults": []}


# -- running it standalone ------------------------------------------------------------------------------------


def test_it_runs_standalone_without_django(tmp_path: Path) -> None:
    code = (
        "import sys, generations.simulator.cli as m; assert 'django' not in sys.modules; sys.exit(m.main(sys.argv[1:]))"
    )
    args = [sys.executable, "-c", code, "--port", "0", "--task-seconds", "0.1", "--fault", "poll:503x1",
            "--key", "kling=ak:sk", "--cache-dir", str(tmp_path)]  # fmt: skip
    with subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            banner = proc.stdout.readline()
            base_url = banner.split(" on ")[1].split(" ")[0]
            health = httpx.get(base_url + "/_sim/health", timeout=5, trust_env=False).json()
            assert health == {"ok": True, "task_seconds": 0.1, "faults": ["poll:503x1"]}
            keys = [proc.stdout.readline().strip() for _ in range(5)]
            assert "kling: {'access_key': 'ak', 'secret_key': 'sk'}" in keys
        finally:
            proc.terminate()
            proc.wait(timeout=5)


def test_the_management_command_reads_the_sites_keys_and_flags(settings: Any, tmp_path: Path) -> None:
    settings.SIMULATOR_KEYS = {**settings.SIMULATOR_KEYS, "segmind": "from-settings"}
    parser = Command().create_parser("manage.py", "simulator")
    parsed = parser.parse_args(["--port", "0", "--task-seconds", "2", "--fault", "poll:503x1", "--key", "aimlapi=k"])
    options = {**vars(parsed), "cache_dir": str(tmp_path)}
    sim = build(_Options(options), settings.SIMULATOR_KEYS)
    assert (sim.keys["segmind"], sim.keys["aimlapi"], sim.task_seconds) == ("from-settings", "k", 2.0)
    assert sim.faults.active() == ["poll:503x1"]


def test_the_docs_list_every_fault_kind() -> None:
    docs = (ROOT / "docs" / "providers.md").read_text()
    assert (
        markdown_table() in docs
    )  # regenerate with: python -c "from generations.simulator.faults import *; print(markdown_table())"
