"""A stub ComfyUI with a real /ws websocket on aiohttp (the server library ComfyUI runs on), for
the unit tier's client tests: it plays ComfyUI's event sequence for each queued prompt."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

SNAPSHOT = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "object_info.json").read_text())


class WsComfy:
    """ComfyUI's HTTP routes and its /ws event channel on aiohttp (what ComfyUI's server runs
    on), in a thread. After POST /prompt it plays ComfyUI's event sequence for that prompt to
    the client's websocket (a binary preview and another prompt's event mixed in), then the
    /history entry completes. `drop_after_first_step`: the websocket closes mid-run.
    `store_after`: ComfyUI's own order at the end (execution_success, the /history entry stored
    `store_after` seconds later, then executing None) instead of the entry first."""

    def __init__(self, drop_after_first_step: bool = False, steps: int = 2, store_after: float | None = None) -> None:
        from aiohttp import web

        self.web = web
        self.drop = drop_after_first_step
        self.steps = steps
        self.store_after = store_after
        self.sockets: dict[str, Any] = {}
        self.history: dict[str, Any] = {}
        self.posts: list[tuple[str, bytes]] = []
        self.interrupted: list[Any] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    # -- routes
    async def ws(self, request: Any) -> Any:
        ws = self.web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "")
        self.sockets[sid] = ws
        await ws.send_json({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": sid}})
        async for _msg in ws:
            pass
        return ws

    async def prompt(self, request: Any) -> Any:
        body = await request.read()
        self.posts.append(("/prompt", body))
        payload = json.loads(body)
        pid = f"pid-{len(self.posts)}"
        asyncio.ensure_future(self._play(payload["client_id"], pid, payload["prompt"]))
        return self.web.json_response({"prompt_id": pid, "number": 0, "node_errors": {}})

    async def _play(self, sid: str, pid: str, prompt: dict[str, Any]) -> None:
        ws = self.sockets.get(sid)
        sampler = next((k for k, v in prompt.items() if v["class_type"] == "Wan22MoESampler"), next(iter(prompt)))
        first = next(iter(prompt))
        events: list[Any] = [("execution_start", {}), ("execution_cached", {"nodes": [first]}),
                             ("executing", {"node": sampler, "display_node": sampler})]
        for i in range(1, self.steps + 1):
            events.append(("progress", {"value": i, "max": self.steps, "node": sampler}))
            events.append(b"\x00\x00\x00\x01\x00\x00\x00\x02preview-jpeg")
            events.append(("progress", {"value": 7, "max": 9, "node": sampler, "prompt_id": "someone-else"}))
        events.append(("executed", {"node": sampler, "output": None}))
        if self.store_after is not None:
            events.append(("execution_success", {"timestamp": 0}))
        else:
            events.append(("executing", {"node": None}))
        for ev in events:
            await asyncio.sleep(0.02)
            if ws is None or ws.closed:
                break
            if isinstance(ev, bytes):
                await ws.send_bytes(ev)
                continue
            kind, data = ev
            await ws.send_json({"type": kind, "data": {"prompt_id": pid, **data}})
            if self.drop and kind == "progress":
                await ws.close()
        await asyncio.sleep(0.3 if self.drop else 0.0)
        await asyncio.sleep(self.store_after or 0.0)
        self.history[pid] = {"prompt": [0, pid, prompt],
                             "outputs": {sampler: {"videos": [{"filename": "out_00001_.mp4", "subfolder": "", "type": "output"}],
                                                   "images": [{"filename": "preview.png", "subfolder": "", "type": "temp"}]}},
                             "status": {"status_str": "success", "completed": True,
                                        "messages": [["execution_start", {"prompt_id": pid}],
                                                     ["execution_cached", {"nodes": [first], "prompt_id": pid}]]}}
        last = ("executing", {"node": None}) if self.store_after is not None else ("execution_success", {"timestamp": 0})
        if ws is not None and not ws.closed:
            await ws.send_json({"type": last[0], "data": {"prompt_id": pid, **last[1]}})

    async def get_history(self, request: Any) -> Any:
        pid = request.match_info["pid"]
        return self.web.json_response({pid: self.history[pid]} if pid in self.history else {})

    async def upload(self, request: Any) -> Any:
        form = await request.post()
        self.posts.append(("/upload/image", json.dumps({k: str(v) if isinstance(v, str) else v.filename
                                                        for k, v in form.items()}).encode()))
        return self.web.json_response({"name": form["image"].filename, "subfolder": "", "type": "input"})

    async def view(self, request: Any) -> Any:
        return self.web.Response(body=b"\x00\x00\x00\x18ftypmp42 " + request.rel_url.query["filename"].encode())

    async def queue(self, request: Any) -> Any:
        return self.web.json_response({"queue_running": [], "queue_pending": []})

    async def interrupt(self, request: Any) -> Any:
        self.interrupted.append(await request.json())
        return self.web.Response(status=200)

    async def object_info(self, request: Any) -> Any:
        return self.web.json_response(SNAPSHOT)

    # -- server
    def _serve(self) -> None:
        web = self.web
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.add_routes([web.get("/ws", self.ws), web.post("/prompt", self.prompt), web.get("/history/{pid}", self.get_history),
                        web.post("/upload/image", self.upload), web.get("/view", self.view), web.get("/queue", self.queue),
                        web.post("/interrupt", self.interrupt), web.get("/object_info", self.object_info)])
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> WsComfy:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    async def _stop(self) -> None:
        for ws in list(self.sockets.values()):
            await ws.close()
        await self.runner.cleanup()

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
