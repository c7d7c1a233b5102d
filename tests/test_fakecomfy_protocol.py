"""The fake ComfyUI replays the recorded workflows frame for frame (scenarios 01-07, 16).

Each test runs the recorded requests against the fake and compares every websocket frame the
sockets receive with the recording of the real ComfyUI 0.3.64: same order, same raw JSON
(prompt ids, client ids and timestamps blanked), same binary headers.
"""

from __future__ import annotations

import io
import json
import struct
import uuid
from collections.abc import Iterator

import httpx
import pytest
import websockets
from PIL import Image

from tests.fakecomfy import FakeComfy
from tests.fakecomfy.recorder import (
    TRANSCRIPTS,
    Recorder,
    load_transcript,
    normalize,
    recorded_client,
    recorded_http,
    recorded_types,
)

SAMPLES = TRANSCRIPTS.parent / "binary_samples"


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeComfy]:
    server = FakeComfy(tmp_path_factory.mktemp("comfy"))
    server.start()
    yield server
    server.stop()


def recorded_stream(client: dict) -> list[str]:
    """Recorded frames as comparable strings: normalized raw JSON or a binary header."""
    out = []
    for message in client["messages"]:
        if message.get("dir") != "recv":
            continue
        if message["kind"] == "binary":
            binary = message["binary"]
            out.append(
                f"BINARY{binary['event_type']}:{binary['first8_hex'][8:]}"
                if binary["event_type"] == 1
                else f"BINARY{binary['event_type']}"
            )
        else:
            out.append(normalize(message["raw"]))
    return out


def fake_stream(recorder: Recorder) -> list[str]:
    out = []
    for frame in recorder.frames:
        if frame.is_binary:
            assert isinstance(frame.raw, bytes)
            event = struct.unpack(">I", frame.raw[:4])[0]
            out.append(f"BINARY{event}:{frame.raw[4:8].hex()}" if event == 1 else f"BINARY{event}")
        else:
            out.append(normalize(frame.raw))  # type: ignore[arg-type]
    return out


def cid() -> str:
    """A clientId shaped like the recorder's (32 hex), so normalization blanks it alike."""
    return uuid.uuid4().hex


async def post_prompt(client: httpx.AsyncClient, body: dict) -> str:
    response = await client.post("/prompt", json=body)
    assert response.status_code == 200, response.text
    return response.json()["prompt_id"]


async def test_01_handshake_sends_status_with_sid_and_negotiates_feature_flags(comfy):
    recording = load_transcript("01")
    anonymous = await Recorder.open(comfy.ws_url)
    flagged = await Recorder.open(
        comfy.ws_url,
        "92fa997894c44c12ba370e2a0684999e",
        feature_flags={"supports_preview_metadata": True, "my_client_flag": 1},
    )
    assert len(anonymous.frames[0].json["data"]["sid"]) == 32
    assert fake_stream(flagged) == recorded_stream(recorded_client(recording, "with_feature_flags"))
    assert flagged.frames[0].raw == recorded_client(recording, "with_feature_flags")["messages"][2]["raw"]

    # feature_flags only counts as the first message; junk is ignored, the socket stays up.
    late = await Recorder.open(comfy.ws_url, "late-flags")
    for text in (
        '{"type": "hello", "data": {}}',
        '{"type": "feature_flags", "data": {"supports_preview_metadata": true}}',
        "this is not json",
    ):
        await late.ws.send(text)
    await late.ws.ping()
    assert late.types() == ["status"]
    state = comfy.control("state")
    assert state["feature_flags"]["late-flags"] == {}
    for recorder in (anonymous, flagged, late):
        await recorder.close()


async def test_01_websocket_upgrade_with_foreign_origin_is_refused(comfy):
    host = f"127.0.0.1:{comfy.port}"
    ok = await Recorder.open(comfy.ws_url, "origin-test", headers={"Origin": f"http://{host}"})
    assert ok.frames[0].json["data"]["sid"] == "origin-test"
    await ok.close()
    for origin in ("http://evil.example", f"http://localhost:{comfy.port}"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(comfy.ws_url, additional_headers={"Origin": origin})
        assert refused.value.response.status_code == 403


async def test_02_save_then_identical_then_changed_prompt_match_the_recording(comfy):
    recording = load_transcript("02")
    observer02_id = cid()
    owner02_id = cid()
    owner = await Recorder.open(comfy.ws_url, owner02_id)
    observer = await Recorder.open(comfy.ws_url, observer02_id)
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        for body in (recording["workflow"], recording["workflow"], recording["workflow_changed"]):
            prompt_id = await post_prompt(client, {"prompt": body, "client_id": owner02_id})
            await owner.wait_done(prompt_id)
        expected_observer = recorded_stream(recorded_client(recording, "observer"))
        await observer.wait_for(lambda f: True, start=len(expected_observer) - 1)

        assert fake_stream(owner) == recorded_stream(recorded_client(recording, "owner"))
        assert fake_stream(observer) == expected_observer
        # The cached re-run wrote no file; the changed prompt got the next counter.
        assert sorted(p.name for p in (comfy.output_dir / "probe").iterdir()) == [
            "empty_00001_.png",
            "empty_00002_.png",
        ]

        first = recorded_http(recording, "history for this prompt")
        ours = await client.get(f"/history/{owner.texts('execution_start')[0]['data']['prompt_id']}")
        assert normalize(ours.text) == normalize(json.dumps(first["response"]["json"]))
        assert ours.headers["content-length"] == first["response"]["headers"]["content-length"]


async def test_02_view_answers_like_the_real_server(comfy):
    recording = load_transcript("02")
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        await post_prompt(client, {"prompt": recording["workflow"]})
        await _wait_history_count(client, 1)
        for exchange in recording["http"]:
            request, response = exchange["request"], exchange["response"]
            if request["path"] != "/view":
                continue
            ours = await client.get("/view", params=request.get("params"))
            assert ours.status_code == response["status"], exchange["note"]
            for header in ("content-type", "content-disposition"):
                assert ours.headers.get(header) == response["headers"].get(header), exchange["note"]
            if "binary" in response:
                image = Image.open(io.BytesIO(ours.content))
                assert list(image.size) == response["binary"]["size_wh"]
                assert image.mode == response["binary"]["mode"]
            else:
                assert ours.content == b""


async def _wait_history_count(client: httpx.AsyncClient, count: int) -> dict:
    for _ in range(500):
        history = (await client.get("/history")).json()
        if len(history) >= count:
            return history
        await __import__("asyncio").sleep(0.01)
    raise AssertionError("history did not fill")


async def test_03_preview_image_goes_to_temp_and_is_not_an_output(comfy):
    recording = load_transcript("03")
    owner03_id = cid()
    owner = await Recorder.open(comfy.ws_url, owner03_id)
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        prompt_id = await post_prompt(client, {"prompt": recording["workflow"], "client_id": owner03_id})
        await owner.wait_done(prompt_id)
        assert fake_stream(owner) == recorded_stream(recorded_client(recording, "owner"))
        image = owner.texts("executed")[0]["data"]["output"]["images"][0]
        assert image["type"] == "temp" and image["filename"].startswith("ComfyUI_temp_")
        params = {"filename": image["filename"], "subfolder": "", "type": "temp"}
        assert (await client.get("/view", params=params)).status_code == 200
        assert (await client.get("/view", params={**params, "type": "output"})).status_code == 404
    await owner.close()


def png_bytes(color: tuple[int, int, int], size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, format="PNG")
    return out.getvalue()


async def test_04_uploads_dedupe_rename_overwrite_and_refuse_escapes(comfy):
    recording = load_transcript("04")
    first, other = png_bytes((255, 0, 0)), png_bytes((0, 0, 255))
    cases = [
        ({"image": ("probe_upload.png", first)}, {}, "upload new PNG"),
        ({"image": ("probe_upload.png", first)}, {}, "same name, identical bytes"),
        ({"image": ("probe_upload.png", other)}, {}, "same name, different bytes"),
        ({"image": ("probe_upload_ow.png", first)}, {"overwrite": "true"}, "overwrite=true ->"),
        ({"image": ("probe_upload_ow.png", other)}, {"overwrite": "true"}, "overwrite=true again"),
        (
            {"image": ("probe_sub.png", first)},
            {"subfolder": "probe_sub", "type": "input"},
            "subfolder + type=input",
        ),
        ({"image": ("probe_tmp.png", first)}, {"type": "temp"}, "type=temp"),
        ({"notimage": ("x.png", first)}, {}, "no image field"),
        ({"image": ("esc.png", first)}, {"subfolder": "../.."}, "subfolder escaping"),
    ]
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        for files, data, note in cases:
            expected = recorded_http(recording, note)["response"]
            ours = await client.post("/upload/image", files=files, data=data)
            assert ours.status_code == expected["status"], note
            if "json" in expected:
                assert ours.text == json.dumps(expected["json"]), note
            else:
                assert ours.content == b"" and "content-type" not in ours.headers, note
        assert (comfy.input_dir / "probe_upload_ow.png").read_bytes() == other
        assert (comfy.input_dir / "probe_sub" / "probe_sub.png").exists()


async def test_04_load_invert_save_and_unreadable_upload_fails_at_run_time(comfy):
    recording = load_transcript("04")
    owner04_id = cid()
    owner = await Recorder.open(comfy.ws_url, owner04_id)
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        await client.post(
            "/upload/image",
            files={"image": ("probe_upload.png", png_bytes((10, 20, 30), 32))},
            data={"overwrite": "1"},
        )
        await client.post("/upload/image", files={"image": ("not_an_image.png", b"hello")})
        prompt_id = await post_prompt(client, {"prompt": recording["workflow"], "client_id": owner04_id})
        await owner.wait_done(prompt_id)
        saved = owner.texts("executed")[-1]["data"]["output"]["images"][0]
        out = Image.open(comfy.output_dir / saved["subfolder"] / saved["filename"])
        assert out.getpixel((0, 0)) == (245, 235, 225)  # inverted

        broken = {
            **recording["workflow"],
            "10": {"class_type": "LoadImage", "inputs": {"image": "not_an_image.png"}},
        }
        prompt_id = await post_prompt(client, {"prompt": broken, "client_id": owner04_id})
        await owner.wait_done(prompt_id)
        error = owner.texts("execution_error")[-1]["data"]
        assert error["exception_type"] == "PIL.UnidentifiedImageError"
        assert error["node_type"] == "LoadImage" and error["executed"] == []
    await owner.close()


async def test_05_save_image_websocket_frames_depend_on_feature_flags(comfy):
    recording = load_transcript("05")
    legacy05_id = cid()
    modern05_id = cid()
    legacy = await Recorder.open(comfy.ws_url, legacy05_id)
    modern = await Recorder.open(comfy.ws_url, modern05_id, feature_flags={"supports_preview_metadata": True})
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        for socket, client_id in ((legacy, legacy05_id), (modern, modern05_id)):
            prompt_id = await post_prompt(client, {"prompt": recording["workflow"], "client_id": client_id})
            await socket.wait_done(prompt_id)
    assert legacy.types() == recorded_types(recorded_client(recording, "legacy_no_flags"))
    assert modern.types() == recorded_types(recorded_client(recording, "modern_with_flags"))

    event1 = next(f.raw for f in legacy.frames if f.is_binary)
    assert event1[:8] == (SAMPLES / "event1_PNG_legacy_no_flags.bin").read_bytes()[:8]
    assert Image.open(io.BytesIO(event1[8:])).size == (16, 8)

    event4 = next(f.raw for f in modern.frames if f.is_binary)
    sample = (SAMPLES / "event4_PNG_modern_with_flags.bin").read_bytes()
    length = struct.unpack(">I", event4[4:8])[0]
    assert event4[:8] == sample[:8]  # same metadata length: same JSON layout
    assert normalize(event4[8 : 8 + length].decode()) == normalize(sample[8 : 8 + length].decode())
    assert event4[8 + length :].startswith(b"\x89PNG")
    await legacy.close()
    await modern.close()


async def test_06_slow_progress_sends_progress_and_512px_jpeg_previews(comfy):
    recording = load_transcript("06")
    legacy06_id = cid()
    modern06_id = cid()
    legacy = await Recorder.open(comfy.ws_url, legacy06_id)
    modern = await Recorder.open(comfy.ws_url, modern06_id, feature_flags={"supports_preview_metadata": True})
    bodies = [h["request"]["json"] for h in recording["http"] if h["request"]["path"] == "/prompt"]
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        for body, (socket, client_id) in zip(
            bodies,
            [(legacy, legacy06_id), (modern, modern06_id), (modern, modern06_id)],
            strict=True,
        ):
            body["prompt"]["2"]["inputs"]["delay_s"] = 0.01  # shortened from 0.2-0.25 s
            prompt_id = await post_prompt(client, {**body, "client_id": client_id})
            await socket.wait_done(prompt_id)
    assert legacy.types() == recorded_types(recorded_client(recording, "legacy_no_flags"))
    assert modern.types() == recorded_types(recorded_client(recording, "modern_with_flags"))
    jpeg = next(f.raw for f in legacy.frames if f.is_binary)
    assert jpeg[:8] == (SAMPLES / "event1_JPEG_legacy_no_flags.bin").read_bytes()[:8]
    assert Image.open(io.BytesIO(jpeg[8:])).size == (512, 512)
    progress = [m["data"]["value"] for m in legacy.texts("progress")]
    assert progress == [1, 2, 3, 4, 5, 6]
    await legacy.close()
    await modern.close()


async def test_07_text_frames_reach_every_socket(comfy):
    recording = load_transcript("07")
    observer07_id = cid()
    owner07_id = cid()
    owner = await Recorder.open(comfy.ws_url, owner07_id)
    observer = await Recorder.open(comfy.ws_url, observer07_id)
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        prompt_id = await post_prompt(client, {"prompt": recording["workflow"], "client_id": owner07_id})
        await owner.wait_done(prompt_id)
    await observer.wait_for(
        lambda f: f.type == "status" and f.json["data"]["status"]["exec_info"]["queue_remaining"] == 0,
        start=3,
    )
    sample = (SAMPLES / "event3_text_owner.bin").read_bytes()
    assert [f.raw for f in owner.frames if f.is_binary] == [sample]
    assert [f.raw for f in observer.frames if f.is_binary] == [sample]
    assert fake_stream(owner) == recorded_stream(recorded_client(recording, "owner"))
    assert observer.types() == recorded_types(recorded_client(recording, "observer"))
    await owner.close()
    await observer.close()


async def test_16_partial_execution_runs_only_the_targets(comfy):
    recording = load_transcript("16")
    owner16_id = cid()
    owner = await Recorder.open(comfy.ws_url, owner16_id)
    async with httpx.AsyncClient(base_url=comfy.url) as client:
        for exchange in [h for h in recording["http"] if h["request"]["path"] == "/prompt"]:
            body = {**exchange["request"]["json"], "client_id": owner16_id}
            prompt_id = await post_prompt(client, body)
            await owner.wait_done(prompt_id)
            ours = (await client.get(f"/history/{prompt_id}")).json()[prompt_id]
            assert list(ours["outputs"]) == (["3"] if "partial_execution_targets" in body else ["2", "3"])
    assert fake_stream(owner) == recorded_stream(recorded_client(recording, "owner"))
    await owner.close()
