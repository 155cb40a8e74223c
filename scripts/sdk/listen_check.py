#!/usr/bin/env python3
"""Prove an MCP server delivers resource updates to the official MCP Python SDK client.

    listen_check.py URL [--mode auto|legacy|2026-07-28] [--uri mcpbench://counter/0] [--stamp check-1]
                        [--wait 10] [--timeout 30] [--expect-protocol VERSION] [--verbose]

Connects with `mcp.Client(streamable_http_client(URL, http_client=...), mode=...)` (SDK `mcp` 2.x;
the httpx2 client is ours only so a response hook can see statuses and content types), subscribes
to --uri, calls the tool `touch` {"uri": URI, "stamp": STAMP}, and waits at most --wait seconds
for `notifications/resources/updated` with params.uri == URI and
params._meta["mcpbench/stamp"] == STAMP.

2026-07-28 (mode `2026-07-28`, or `auto` when server/discover offers 2026-07-28):
  `Client.listen(resource_subscriptions=[URI])`: one POST subscriptions/listen, answered with
  text/event-stream. Entering it returns only once notifications/subscriptions/acknowledged
  arrived with _meta["io.modelcontextprotocol/subscriptionId"] equal to the listen request's id
  (the SDK mints "listen-N"); the SDK drops updates that precede it. Checks: the listen POST
  was answered 200 text/event-stream; the acknowledgement honoured URI; `touch` is sent only
  after it; the stamped update carries the same subscription id (seen through message_handler,
  which also gets the update's _meta); the SDK's own Subscription iterator, which admits only
  frames with that id after the acknowledgement, yielded ResourceUpdated(URI) too.
  Leaving the listen context ends the subscription (the SDK aborts that POST).
2025-11-25 (mode `legacy`, or `auto` falling back to initialize):
  initialize must answer with Mcp-Session-Id and capabilities.resources.subscribe=true. The SDK
  opens the session's GET stream by itself, in the background, when it sends
  notifications/initialized, so the check first waits until that GET is answered 200
  text/event-stream; then `Client.subscribe_resource(URI)` (resources/subscribe) and `touch`.
  The update reaches message_handler as a `ResourceUpdatedNotification`.
`auto` follows the era it negotiated (the ok line names it); pass --expect-protocol 2026-07-28
to require the listen path.

Exit 0 with one line `ok: <mode> protocol=<negotiated> ...`; exit 1 with `FAIL: <mode>: <what
differed>` on stderr; exit 2 on usage/environment errors. The whole run is bounded by --timeout.
Run it with the venv from scripts/sdk/requirements.txt (target/sdk-venv/bin/python).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
import warnings
from contextlib import AsyncExitStack
from typing import Any

try:
    import anyio
    import httpx2
    from mcp import Client, MCPDeprecationWarning, MCPError
    from mcp.client.streamable_http import streamable_http_client
    from mcp.client.subscriptions import ResourceUpdated, Subscription, SubscriptionLost
    from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY
    from mcp.types import ResourceUpdatedNotification, SubscriptionsAcknowledgedNotification
    from mcp.types.version import MODERN_PROTOCOL_VERSIONS
    from pydantic import ValidationError
except ImportError as exc:  # pragma: no cover - environment problem, not a test failure
    sys.stderr.write(
        f"listen_check.py: cannot import the MCP Python SDK ({exc}).\n"
        "Set up the venv: python3 -m venv target/sdk-venv && "
        "target/sdk-venv/bin/pip install -r scripts/sdk/requirements.txt\n"
    )
    sys.exit(2)

try:
    _BaseExceptionGroup = BaseExceptionGroup  # Python 3.11+
except NameError:  # pragma: no cover - Python 3.10, where anyio brings the backport
    from exceptiongroup import BaseExceptionGroup as _BaseExceptionGroup

DEFAULT_URI = "mcpbench://counter/0"
DEFAULT_STAMP = "check-1"
STAMP_KEY = "mcpbench/stamp"
SSE = "text/event-stream"
# The SDK's own defaults for the client it builds for a URL (mcp.shared._httpx_utils):
# 30 s connect/write/pool, 300 s read (streams stay open).
HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)


class CheckFailed(Exception):
    """A server answer differed from what the check expects."""


def _short(value: Any, limit: int = 200) -> str:
    s = repr(value)
    return s if len(s) <= limit else s[:limit] + f"... ({len(s)} chars)"


class HttpLog:
    """What the SDK's HTTP client received: one row per response (headers only, from an httpx2 hook).

    The hook runs when a response's headers arrive, before its body is read, so a GET or listen
    stream shows up here as soon as the server answers it.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.changed = anyio.Event()

    async def on_response(self, response: httpx2.Response) -> None:
        try:
            request = response.request
            rpc: str | None = None
            if request.method == "POST":
                try:
                    body = json.loads(request.content)
                except Exception:  # noqa: BLE001 - an unreadable body just has no method
                    body = None
                if isinstance(body, dict):
                    rpc = body.get("method") if isinstance(body.get("method"), str) else "(response)"
            self.rows.append(
                {
                    "http": request.method,
                    "rpc": rpc,
                    "status": response.status_code,
                    "ctype": response.headers.get("content-type", "").partition(";")[0].strip().lower(),
                    "session": response.headers.get("mcp-session-id"),
                }
            )
        finally:
            changed, self.changed = self.changed, anyio.Event()
            changed.set()

    def find(self, http: str, rpc: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["http"] == http and (rpc is None or r["rpc"] == rpc)]

    @staticmethod
    def describe(row: dict[str, Any] | None) -> str:
        return "no response" if row is None else f"HTTP {row['status']} {row['ctype'] or '(no content-type)'}"


class Inbox:
    """The `message_handler`: every server notification the SDK session surfaces, plus transport errors."""

    def __init__(self, uri: str, stamp: str) -> None:
        self.uri = uri
        self.stamp = stamp
        self.updates: list[tuple[float, str, dict[str, Any]]] = []
        self.stray_acks: list[dict[str, Any]] = []
        self.transport_errors: list[Exception] = []
        self.match: tuple[float, dict[str, Any]] | None = None
        self.matched = anyio.Event()

    async def __call__(self, message: Any) -> None:
        if isinstance(message, Exception):
            self.transport_errors.append(message)
            return
        if isinstance(message, SubscriptionsAcknowledgedNotification):
            # The SDK consumes the acknowledgement of an open Client.listen(); one that reaches
            # message_handler matched no open subscription (wrong or missing subscriptionId).
            self.stray_acks.append(dict(message.params.meta or {}))
            return
        if isinstance(message, ResourceUpdatedNotification):
            now = time.monotonic()
            meta = dict(message.params.meta or {})
            self.updates.append((now, message.params.uri, meta))
            if self.match is None and message.params.uri == self.uri and meta.get(STAMP_KEY) == self.stamp:
                self.match = (now, meta)
                self.matched.set()

    def describe_updates(self, limit: int = 5) -> str:
        if not self.updates:
            return "no notifications/resources/updated at all"
        shown = [
            f"{uri} stamp={meta.get(STAMP_KEY)!r} subscription={meta.get(SUBSCRIPTION_ID_META_KEY)!r}"
            for _, uri, meta in self.updates[-limit:]
        ]
        return f"{len(self.updates)} update(s), last: [" + "; ".join(shown) + "]"

    def describe_errors(self) -> str:
        if not self.transport_errors:
            return ""
        return "; transport errors: " + "; ".join(f"{type(e).__name__}: {e}" for e in self.transport_errors[-3:])


async def _touch(client: Client, uri: str, stamp: str) -> None:
    result = await client.call_tool("touch", {"uri": uri, "stamp": stamp})
    if result.is_error:
        raise CheckFailed(f"tools/call touch: isError=true, content={_short(result.content)}")


async def _check_listen(client: Client, log: HttpLog, inbox: Inbox, uri: str, stamp: str, wait: float) -> str:
    """2026-07-28: subscriptions/listen, acknowledged first, then the stamped update with the same id."""
    async with AsyncExitStack() as stack:
        try:
            # Client.listen() itself bounds the wait for the acknowledgement by the session's read
            # timeout (this script sets it to --wait); the fail_after makes the bound explicit.
            with anyio.fail_after(wait):
                sub: Subscription = await stack.enter_async_context(client.listen(resource_subscriptions=[uri]))
        except TimeoutError:
            rows = log.find("POST", "subscriptions/listen")
            hint = f"; the listen POST got {HttpLog.describe(rows[-1] if rows else None)}"
            if inbox.stray_acks:
                ids = [m.get(SUBSCRIPTION_ID_META_KEY) for m in inbox.stray_acks]
                hint += (
                    f"; an acknowledgement did arrive, with _meta[{SUBSCRIPTION_ID_META_KEY!r}]={_short(ids)}, "
                    "which is not the listen request's id (the SDK's ids look like 'listen-N')"
                )
            raise CheckFailed(
                f"subscriptions/listen: no notifications/subscriptions/acknowledged for this subscription "
                f"(with params.notifications and the request's id in _meta) within {wait:g}s{hint}"
                f"{inbox.describe_errors()}"
            ) from None
        except SubscriptionLost as exc:
            rows = log.find("POST", "subscriptions/listen")
            raise CheckFailed(
                f"subscriptions/listen: the stream ended before its acknowledgement ({exc}); "
                f"the listen POST got {HttpLog.describe(rows[-1] if rows else None)}{inbox.describe_errors()}"
            ) from None

        # From here on the acknowledgement has arrived: entering Client.listen() waits for it.
        rows = log.find("POST", "subscriptions/listen")
        listen_row = rows[-1] if rows else None
        if listen_row is None or listen_row["status"] != 200 or listen_row["ctype"] != SSE:
            raise CheckFailed(
                f"subscriptions/listen: answered with {HttpLog.describe(listen_row)}, expected HTTP 200 {SSE}"
            )
        honored = list(sub.honored.resource_subscriptions or [])
        if uri not in honored:
            # Also what a listen answered with a plain result (no acknowledgement) looks like:
            # the SDK opens it already closed, with an empty honoured filter.
            raise CheckFailed(
                f"subscriptions/listen: the acknowledgement honoured resourceSubscriptions={honored}, not {uri!r}"
            )
        sub_id = sub.subscription_id

        touched = False
        got_event = anyio.Event()
        done = anyio.Event()
        stream_end: list[str] = []

        async def consume() -> None:
            # The SDK's typed view: ResourceUpdated(uri) events (no _meta), deduplicated.
            try:
                async for event in sub:
                    if touched and isinstance(event, ResourceUpdated) and event.uri == uri:
                        got_event.set()
                stream_end.append("the server closed the subscription (listen result)")
            except SubscriptionLost as exc:
                stream_end.append(f"subscription lost: {exc}")
            finally:
                done.set()

        async def both() -> None:
            await inbox.matched.wait()
            await got_event.wait()
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            tg.start_soon(both)
            touched = True
            sent = time.monotonic()
            await _touch(client, uri, stamp)
            with anyio.move_on_after(wait):
                await done.wait()
            tg.cancel_scope.cancel()
        ended = f"; the listen stream ended early: {stream_end[0]}" if stream_end else ""

        if inbox.match is None:
            raise CheckFailed(
                f"no notifications/resources/updated for {uri!r} with _meta[{STAMP_KEY!r}]={stamp!r} "
                f"within {wait:g}s of touch; {inbox.describe_updates()}{ended}{inbox.describe_errors()}"
            )
        matched_at, meta = inbox.match
        got_id = meta.get(SUBSCRIPTION_ID_META_KEY)
        if got_id != sub_id:
            raise CheckFailed(
                f"the stamped update's _meta[{SUBSCRIPTION_ID_META_KEY!r}] is {got_id!r}; "
                f"the subscription (listen request id) is {sub_id!r}"
            )
        if not got_event.is_set():
            raise CheckFailed(
                f"message_handler got the stamped update, but the SDK's Subscription iterator yielded no "
                f"ResourceUpdated({uri!r}) within {wait:g}s{ended}"
            )
        latency_ms = (matched_at - sent) * 1000.0
    # Leaving the AsyncExitStack left Client.listen(): the SDK cancelled the request and aborted its POST.
    return (
        f"listen=HTTP200/sse subscription={sub_id!r} honored={honored} ack=first "
        f"update=stamped+same-subscription iterator=ResourceUpdated latency={latency_ms:.1f}ms"
    )


async def _wait_get_stream(log: HttpLog, wait: float) -> dict[str, Any]:
    """Wait until the SDK's background GET stream is answered 200 text/event-stream."""
    with anyio.move_on_after(wait):
        while True:
            changed = log.changed
            gets = log.find("GET")
            for row in gets:
                if row["status"] == 200 and row["ctype"] == SSE:
                    return row
            # The SDK tries the GET twice (MAX_RECONNECTION_ATTEMPTS) and then gives up silently.
            refused = [r for r in gets if r["status"] >= 400]
            if len(refused) >= 2:
                raise CheckFailed(f"the session's GET stream was refused: {HttpLog.describe(refused[-1])}")
            await changed.wait()
    gets = log.find("GET")
    raise CheckFailed(
        f"the SDK's GET stream was not answered 200 {SSE} within {wait:g}s "
        f"(last GET: {HttpLog.describe(gets[-1] if gets else None)})"
    )


async def _check_legacy(client: Client, log: HttpLog, inbox: Inbox, uri: str, stamp: str, wait: float) -> str:
    """2025-11-25: resources/subscribe in an Mcp-Session-Id session, the update on its GET stream."""
    resources = client.server_capabilities.resources
    if resources is None or resources.subscribe is not True:
        raise CheckFailed(f"initialize: capabilities.resources.subscribe is not true (resources={_short(resources)})")
    init = log.find("POST", "initialize")
    if not init or not init[-1]["session"]:
        raise CheckFailed("initialize was answered without Mcp-Session-Id: the SDK opens no GET stream without one")
    await _wait_get_stream(log, wait)

    await client.subscribe_resource(uri)  # deprecated in the SDK (removed at 2026-07-28); warning filtered
    sent = time.monotonic()
    await _touch(client, uri, stamp)
    with anyio.move_on_after(wait):
        await inbox.matched.wait()
    if inbox.match is None:
        raise CheckFailed(
            f"no notifications/resources/updated for {uri!r} with _meta[{STAMP_KEY!r}]={stamp!r} "
            f"within {wait:g}s of touch; {inbox.describe_updates()}{inbox.describe_errors()}"
        )
    matched_at, _ = inbox.match
    # The SDK does not say which HTTP stream a notification came on; if touch's own reply was
    # plain JSON it cannot have carried it, so it came on the GET stream.
    touch_rows = log.find("POST", "tools/call")
    touch_ctype = touch_rows[-1]["ctype"] if touch_rows else ""
    via = "GET" if touch_ctype == "application/json" else f"GET-or-touch-reply({touch_ctype or '?'})"
    latency_ms = (matched_at - sent) * 1000.0
    return f"get=HTTP200/sse subscribe=ok update=stamped via={via} latency={latency_ms:.1f}ms"


async def run_check(url: str, mode: str, uri: str, stamp: str, wait: float, expect_protocol: str | None) -> str:
    log = HttpLog()
    inbox = Inbox(uri, stamp)
    async with httpx2.AsyncClient(timeout=HTTP_TIMEOUT, event_hooks={"response": [log.on_response]}) as http:
        # What Client(url) builds itself, with our httpx2 client (which it then does not close).
        transport = streamable_http_client(url, http_client=http)
        # read_timeout_seconds bounds each request, and Client.listen()'s wait for the acknowledgement.
        async with Client(transport, mode=mode, read_timeout_seconds=wait, message_handler=inbox) as client:
            protocol = client.protocol_version
            if expect_protocol is not None and protocol != expect_protocol:
                raise CheckFailed(f"negotiated protocol {protocol!r}, expected {expect_protocol!r}")
            info = client.server_info
            server = f"{info.name}/{info.version}" if info is not None else "anonymous"

            listed = await client.list_tools()
            names = [t.name for t in listed.tools]
            if "touch" not in names:
                raise CheckFailed(f"tools/list: no `touch`; server listed {names}")

            if protocol in MODERN_PROTOCOL_VERSIONS:
                detail = await _check_listen(client, log, inbox, uri, stamp, wait)
            else:
                detail = await _check_legacy(client, log, inbox, uri, stamp, wait)

    return f"ok: {mode} protocol={protocol} server={server} uri={uri} stamp={stamp} {detail} url={url}"


def _flatten(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, _BaseExceptionGroup):
        out: list[BaseException] = []
        for sub in exc.exceptions:
            out.extend(_flatten(sub))
        return out
    return [exc]


def _explain(exc: BaseException) -> str:
    leaves = _flatten(exc)
    # Prefer our own verdict if one is buried in a task-group ExceptionGroup.
    for leaf in leaves:
        if isinstance(leaf, CheckFailed):
            return str(leaf)
    texts = []
    for leaf in leaves:
        if isinstance(leaf, MCPError):
            data = f" data={_short(leaf.error.data)}" if leaf.error.data is not None else ""
            texts.append(f"MCP error {leaf.code}: {leaf.error.message}{data}")
        elif isinstance(leaf, ValidationError):
            texts.append(f"server message failed the SDK's schema validation: {leaf}")
        else:
            texts.append(f"{type(leaf).__name__}: {leaf}")
    return "; ".join(texts)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", help="Streamable HTTP endpoint, e.g. http://127.0.0.1:8080/mcp")
    p.add_argument("--mode", default="auto", choices=["auto", "legacy", "2026-07-28"])
    p.add_argument("--uri", default=DEFAULT_URI, help=f"resource to subscribe to and touch (default {DEFAULT_URI})")
    p.add_argument("--stamp", default=DEFAULT_STAMP, help=f"touch's stamp to wait for (default {DEFAULT_STAMP})")
    p.add_argument("--wait", type=float, default=10.0, help="seconds for each wait: ack, GET stream, update (10)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole check (default 30)")
    p.add_argument("--expect-protocol", default=None, help="also require this negotiated protocol version")
    p.add_argument("--verbose", action="store_true", help="print a traceback on failure")
    args = p.parse_args()

    # Client.subscribe_resource is deprecated (resources/subscribe is gone at 2026-07-28) but is
    # exactly what the 2025-11-25 path exercises.
    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

    async def bounded() -> str:
        with anyio.fail_after(args.timeout):
            return await run_check(args.url, args.mode, args.uri, args.stamp, args.wait, args.expect_protocol)

    try:
        line = anyio.run(bounded)
    except TimeoutError:
        sys.stderr.write(f"FAIL: {args.mode}: timed out after {args.timeout:g}s against {args.url}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # noqa: BLE001 - every failure becomes one clear line
        if isinstance(exc, SystemExit):
            raise
        if args.verbose:
            traceback.print_exception(exc)
        sys.stderr.write(f"FAIL: {args.mode}: {_explain(exc)} (url {args.url})\n")
        return 1
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
