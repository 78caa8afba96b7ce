"""A minimal WebDriver BiDi client for Debian's Firefox ESR (headless).

Playwright drives only its own patched Firefox builds, and geckodriver is not packaged by
Debian; Firefox itself speaks WebDriver BiDi (W3C) on `--remote-debugging-port`, so this
talks to it directly over a websocket: open a session, navigate, evaluate scripts, and
collect console errors from `log.entryAdded` events. Used by the browser benchmark and
the browser tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")
LISTENING = re.compile(rb"WebDriver BiDi listening on (ws://\S+)")

# A fake camera (a generated moving picture), no permission prompt, autoplay allowed, and
# ICE on the loopback interface with plain host addresses (Firefox leaves out loopback
# candidates and hides host addresses behind mDNS names by default).
PREFS = {
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.autoplay.default": 0,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
}


class BiDiError(RuntimeError):
    """A command the browser answered with an error."""


class Firefox:
    """Headless Firefox with a fresh profile, driven over WebDriver BiDi (async)."""

    def __init__(self, executable: str | None = FIREFOX) -> None:
        if executable is None:
            raise FileNotFoundError("Firefox is not installed (apt install firefox-esr)")
        self.executable = executable
        self.errors: list[str] = []
        self._next_id = 0
        self._pending: dict[int, asyncio.Future] = {}

    async def __aenter__(self) -> Firefox:
        self._profile = tempfile.TemporaryDirectory(prefix="dancenow-firefox-")
        Path(self._profile.name, "user.js").write_text("".join(
            f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFS.items()))
        self._proc = await asyncio.create_subprocess_exec(
            self.executable, "--headless", "--no-remote", "--profile", self._profile.name,
            "--remote-debugging-port=0", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        url = await asyncio.wait_for(self._listening_url(), 60)
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(url + "/session", max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        await self.command("session.new", {"capabilities": {}})
        await self.command("session.subscribe", {"events": ["log.entryAdded"]})
        tree = await self.command("browsingContext.getTree", {})
        self.context = tree["contexts"][0]["context"]
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(BiDiError, ConnectionError, asyncio.TimeoutError):
            await asyncio.wait_for(self.command("browser.close", {}), 10)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._ws.close()
        await self._http.close()
        try:
            await asyncio.wait_for(self._proc.wait(), 15)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        self._profile.cleanup()

    async def _listening_url(self) -> str:
        assert self._proc.stderr is not None
        while line := await self._proc.stderr.readline():
            if match := LISTENING.search(line):
                asyncio.create_task(self._drain_stderr())
                return match.group(1).decode()
        raise RuntimeError(f"Firefox exited ({await self._proc.wait()}) before listening")

    async def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        while await self._proc.stderr.readline():
            pass

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._pending:
                self._pending.pop(data["id"]).set_result(data)
            elif data.get("method") == "log.entryAdded":
                entry = data["params"]
                if entry.get("level") == "error":
                    self.errors.append(entry.get("text") or json.dumps(entry))
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("the browser closed the connection"))

    async def command(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = fut
        await self._ws.send_str(json.dumps({"id": self._next_id, "method": method,
                                            "params": params}))
        reply = await fut
        if reply.get("type") == "error":
            raise BiDiError(f"{method}: {reply.get('error')}: {reply.get('message')}")
        return reply["result"]

    async def navigate(self, url: str) -> None:
        await self.command("browsingContext.navigate",
                           {"context": self.context, "url": url, "wait": "complete"})

    async def evaluate(self, expression: str, user_gesture: bool = False) -> Any:
        """The JSON value of `expression` (awaited when it is a promise)."""
        result = await self.command("script.evaluate", {
            "expression": f"(async () => JSON.stringify(await ({expression})))()",
            "target": {"context": self.context}, "awaitPromise": True,
            "userActivation": user_gesture})
        if result["type"] == "exception":
            raise BiDiError(f"{expression}: {result['exceptionDetails'].get('text')}")
        value = result["result"]
        return json.loads(value["value"]) if value.get("type") == "string" else None

    async def wait_for(self, expression: str, timeout: float = 60.0) -> None:
        """Poll until `expression` is truthy."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not await self.evaluate(expression):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {expression}")
            await asyncio.sleep(0.2)
