"""Render our HTML pages in headless Chromium and list what went wrong.

    from browser import check_page        # tests/ is on sys.path, like synthetic.py
    assert check_page(folder / "index.html") == []

A page is fine when it loads from the file system with no console error, no uncaught
exception, no failed resource load, no request leaving the machine (anything but file:, data:,
about: and blob: URLs) and every ``<img>`` decoded (``complete && naturalWidth > 0``).

Chromium (Debian's ``chromium`` package; ``.ci/run`` installs it when missing) is driven over
the DevTools protocol with the ``websockets`` package: no Playwright, no driver download. Set
``CHROMIUM`` to use another binary. Without a browser, :func:`require_chromium` FAILS the test
under CI=true and skips it elsewhere, like the shared-data fixtures of ``conftest.py``.

To check many pages, start the browser once: ``with Browser() as b: b.check(p1); b.check(p2)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

TIMEOUT_S = 60.0  # per page: a generous limit for a slow machine, not a timed assertion
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--remote-debugging-port=0",
    "--remote-debugging-address=127.0.0.1",
)
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
WS_LINE = re.compile(r"DevTools listening on (ws://\S+)")

# Evaluated after the load event: images not decoded, and resources pointing off the machine.
PAGE_CHECK = """(() => {
  const problems = [];
  for (const img of document.images) {
    if (!(img.complete && img.naturalWidth > 0)) {
      problems.push('image not loaded: ' + (img.getAttribute('src') || '(no src)'));
    }
  }
  const refs = document.querySelectorAll(
    'link[href], script[src], img[src], iframe[src], source[src], video[src], audio[src]');
  for (const el of refs) {
    if (el.tagName === 'LINK' && !/(icon|stylesheet|preload|manifest)/i.test(el.rel)) continue;
    const url = el.src || el.href || '';
    if (!/^(file|data|about|blob):/.test(url)) {
      problems.push('resource not available offline: <' + el.tagName.toLowerCase() + '> ' + url);
    }
  }
  return problems;
})()"""


class BrowserError(RuntimeError):
    """Chromium could not be started or stopped answering."""


def chromium_path() -> str | None:
    """The Chromium binary: $CHROMIUM, else chromium / chromium-browser / google-chrome on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if shutil.which(explicit) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium binary; when there is none, FAIL under CI=true and skip elsewhere."""
    path = chromium_path()
    if path:
        return path
    message = "chromium is not installed (apt-get install chromium, or set CHROMIUM)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "; CI=true requires it", pytrace=False)
    pytest.skip(message)


class Browser:
    """One headless Chromium process with a fresh profile, spoken to over the DevTools protocol.

    Use as a context manager; the process and its profile folder are removed on exit.
    """

    def __init__(self, binary: str | None = None, timeout: float = TIMEOUT_S):
        self.binary = binary or require_chromium()
        self.timeout = timeout
        self._process: subprocess.Popen | None = None
        self._profile: str | None = None
        self._ws: Any = None
        self._next_id = 0
        self._stderr: list[str] = []
        self._stack = contextlib.ExitStack()

    # -- process ------------------------------------------------------------------------------

    def __enter__(self) -> Browser:
        from websockets.sync.client import connect

        self._profile = tempfile.mkdtemp(prefix="capex-chromium-")
        try:
            self._process = subprocess.Popen(
                [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                start_new_session=True,  # its own process group: helpers are stopped with it
            )
            found: queue.Queue[str] = queue.Queue()
            threading.Thread(target=self._drain, args=(found,), daemon=True).start()
            try:
                url = found.get(timeout=self.timeout)
            except queue.Empty:
                raise BrowserError(
                    "chromium printed no DevTools address; stderr:\n" + "\n".join(self._stderr)
                ) from None
            if not url:
                raise BrowserError("chromium exited early; stderr:\n" + "\n".join(self._stderr))
            self._ws = self._stack.enter_context(
                connect(url, proxy=None, max_size=None, max_queue=None, open_timeout=self.timeout)
            )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drain(self, found: queue.Queue[str]) -> None:
        """Read Chromium's stderr to the end (a full pipe would block it); report the ws URL."""
        assert self._process is not None and self._process.stderr is not None
        reported = False
        for line in self._process.stderr:
            self._stderr.append(line.rstrip())
            match = WS_LINE.search(line)
            if match and not reported:
                found.put(match.group(1))
                reported = True
        if not reported:
            found.put("")

    def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._stack.close()
            self._ws = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)  # renderers left behind, if any
            self._process = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    # -- protocol -----------------------------------------------------------------------------

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        return self._next_id

    def _receive(self, deadline: float) -> dict:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return json.loads(self._ws.recv(timeout=remaining))

    def _call(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        events: list[dict] | None = None,
        deadline: float | None = None,
    ) -> dict:
        """Send a command and wait for its answer; events arriving meanwhile go to ``events``."""
        deadline = deadline or time.monotonic() + self.timeout
        wanted = self._send(method, params, session)
        while True:
            try:
                message = self._receive(deadline)
            except TimeoutError:
                raise BrowserError(f"no answer to {method} within {self.timeout:g} s") from None
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            if events is not None and "method" in message:
                events.append(message)

    # -- pages --------------------------------------------------------------------------------

    def check(self, path: Path | str, expression: str | None = None) -> list[str]:
        """Load ``path`` from the file system and return its problems (empty: the page is fine)."""
        return self.inspect(path, expression)[0]

    def inspect(self, path: Path | str, expression: str | None = None) -> tuple[list[str], Any]:
        """Like :meth:`check`, and also the value of the JavaScript ``expression`` after load."""
        if self._ws is None:
            raise BrowserError("use Browser as a context manager")
        url = Path(path).resolve().as_uri()
        deadline = time.monotonic() + self.timeout
        events: list[dict] = []
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        try:
            session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            for domain in ("Runtime", "Log", "Network", "Page"):
                self._call(f"{domain}.enable", session=session, events=events, deadline=deadline)
            events.clear()  # about:blank's own
            navigation = self._call(
                "Page.navigate", {"url": url}, session=session, events=events, deadline=deadline
            )
            problems: list[str] = []
            if navigation.get("errorText"):
                problems.append(f"navigation to {url} failed: {navigation['errorText']}")
            else:
                self._wait_for_load(session, events, deadline, url)
            # A command sent after the load answers after every event emitted before it.
            found = self._evaluate(PAGE_CHECK, session, events, deadline)
            problems.extend(found or [])
            value = self._evaluate(expression, session, events, deadline) if expression else None
            problems[:0] = _problems(events)
            return problems, value
        finally:
            with contextlib.suppress(Exception):
                self._call("Target.closeTarget", {"targetId": target})

    def _wait_for_load(self, session: str, events: list[dict], deadline: float, url: str) -> None:
        def loaded() -> bool:
            return any(
                e.get("method") == "Page.loadEventFired" and e.get("sessionId") == session
                for e in events
            )

        while not loaded():
            try:
                message = self._receive(deadline)
            except TimeoutError:
                raise BrowserError(f"{url} did not load within {self.timeout:g} s") from None
            if "method" in message:
                events.append(message)

    def _evaluate(self, expression: str, session: str, events: list[dict], deadline: float) -> Any:
        result = self._call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=session,
            events=events,
            deadline=deadline,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"evaluating the check failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")


def _problems(events: list[dict]) -> list[str]:
    """The problems the protocol events report, in order."""
    urls = {
        e["params"]["requestId"]: e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
    }
    return [p for p in (_problem(e, urls) for e in events) if p]


def _problem(event: dict, urls: dict[str, str]) -> str | None:
    """The problem one event reports, or None."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        return f"console {params['type']}: {text}"
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        description = details.get("exception", {}).get("description") or details.get("text")
        return f"uncaught exception: {description}"
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        where = f" ({entry['url']})" if entry.get("url") else ""
        return f"console error [{entry.get('source')}]: {entry.get('text')}{where}"
    if method == "Network.loadingFailed":
        url = urls.get(params.get("requestId"), "?")
        return f"resource failed to load: {url} ({params.get('errorText')})"
    if method == "Network.requestWillBeSent":
        url = params.get("request", {}).get("url", "")
        if not url.startswith(LOCAL_SCHEMES):
            return f"network request leaves the machine: {url}"
    if method == "Network.responseReceived":
        response = params.get("response", {})
        status = response.get("status", 0)
        if status >= 400:
            return f"HTTP {status} for {response.get('url')}"
    return None


def check_page(path: Path | str, timeout: float = TIMEOUT_S) -> list[str]:
    """Render ``path`` in a fresh headless Chromium; return its problems (empty: fine)."""
    with Browser(timeout=timeout) as browser:
        return browser.check(path)


def assert_page_ok(path: Path | str, browser: Browser | None = None) -> None:
    """Fail the test with the list of the page's problems, if any."""
    problems = browser.check(path) if browser else check_page(path)
    assert not problems, f"{path}:\n  " + "\n  ".join(problems)
