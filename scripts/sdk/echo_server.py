#!/usr/bin/env python3
"""The official MCP Python SDK's own Streamable HTTP server, with the project's two test tools.

    echo_server.py --port P [--host 127.0.0.1] [--stateless] [--json-response] [--text-size 4096]
                   [--session-idle-timeout 1800] [--max-sessions 10000]

Tools (same contract as the project's Rust server):
  echo  {"text": string} -> content [{"type": "text", "text": <text>}]
  text  {}               -> content [{"type": "text", "text": <exactly --text-size bytes, ASCII>}]
  touch {"uri"?: string, "stamp"?: string}
                         -> adds one to the counter resource `uri` (default mcpbench://counter/0)
                            and publishes its update on the SDK's subscription bus: every open
                            2026-07-28 `subscriptions/listen` stream subscribed to `uri` gets
                            notifications/resources/updated {uri, _meta: {subscriptionId,
                            "mcpbench/stamp": stamp}}; answers "<uri> is now <value>".
Resources: mcpbench://counter/0 .. /3, text/plain, the counter's value.

`subscriptions/listen` is the SDK's own (its ListenHandler over an InMemorySubscriptionBus).
One patch: the SDK writes only the subscription id into a listen frame's `_meta`, so
`touch` publishes a ResourceUpdated subclass carrying the stamp, and the module-level
`event_to_notification` the handler calls is wrapped to add it (the load tool times every
delivery from that stamp). The 2025-11-25 GET stream with resources/subscribe is not
wired here (MCPServer has no public subscribe hook).

Both tools are registered with structured_output=False, so results carry only `content`
(no `structuredContent`, no `outputSchema`), like the Rust server.

Prints exactly one line to stdout, `listening on http://HOST:PORT/mcp`, flushed, and only
after uvicorn has finished its lifespan startup and its listening socket accepts
connections; a test waits for that line instead of sleeping. Everything else (logs) goes
to stderr. SIGTERM or SIGINT stops it (exit 0); open SSE streams get at most
--graceful-timeout seconds to finish.

Mode flags map straight onto the SDK:
  --stateless      -> streamable_http_app(stateless_http=True): no Mcp-Session-Id, no GET stream
  --json-response  -> streamable_http_app(json_response=True): application/json, not SSE
  --session-idle-timeout S, --max-sessions N -> the same-named settings (the SDK's defaults)
Requests carrying `MCP-Protocol-Version: 2026-07-28` are routed by the SDK to its
stateless 2026-07-28 handler whatever the flags (it never sets Mcp-Session-Id).

Run it with the venv from scripts/sdk/requirements.txt (target/sdk-venv/bin/python).
"""

from __future__ import annotations

import argparse
import math
import asyncio
import signal
import socket
import sys

_stop: dict = {"requested": False, "server": None}


def _on_stop_signal(*_: object) -> None:
    """Our SIGTERM/SIGINT handler outside uvicorn's serve() window (before it starts, after it ends)."""
    _stop["requested"] = True
    if _stop["server"] is not None:
        _stop["server"].should_exit = True


if __name__ == "__main__":
    # Installed before the SDK import (~1 s) so an early SIGTERM still ends in a clean exit 0.
    # uvicorn swaps in its own handlers while serving, then restores these and re-raises the
    # signal it caught; with these handlers that re-raise is harmless.
    signal.signal(signal.SIGTERM, _on_stop_signal)
    signal.signal(signal.SIGINT, _on_stop_signal)

try:
    import dataclasses
    import uvicorn
    import mcp.server.subscriptions as _subscriptions
    from mcp.server.mcpserver import MCPServer
    from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated
except ImportError as exc:  # pragma: no cover - environment problem, not a test failure
    sys.stderr.write(
        f"echo_server.py: cannot import the MCP Python SDK ({exc}).\n"
        "Set up the venv: python3 -m venv target/sdk-venv && "
        "target/sdk-venv/bin/pip install -r scripts/sdk/requirements.txt\n"
    )
    sys.exit(2)

PATH = "/mcp"
_PATTERN = "abcdefghijklmnopqrstuvwxyz0123456789"


def make_text(size: int) -> str:
    """An ASCII string of exactly `size` bytes (so bytes == characters)."""
    reps = size // len(_PATTERN) + 1
    return (_PATTERN * reps)[:size]


RESOURCES = [f"mcpbench://counter/{i}" for i in range(4)]
MAX_STAMP = 128


@dataclasses.dataclass(frozen=True)
class StampedUpdate(ResourceUpdated):
    """A resource update carrying the trigger's stamp into every listen frame."""

    stamp: str | None = None


_to_notification = _subscriptions.event_to_notification


def _stamped_notification(event, meta):
    if isinstance(event, StampedUpdate) and event.stamp is not None:
        meta = {**meta, "mcpbench/stamp": event.stamp}
    return _to_notification(event, meta)


# The SDK's ListenHandler looks this name up in its module at each event.
_subscriptions.event_to_notification = _stamped_notification


def build_server(text_size: int, log_level: str) -> MCPServer:
    bus = InMemorySubscriptionBus()
    server = MCPServer(name="sdk-echo-server", version="1.0.0", log_level=log_level, subscriptions=bus)
    payload = make_text(text_size)
    counters = dict.fromkeys(RESOURCES, 0)

    for uri in RESOURCES:
        server.resource(uri, name=uri.rsplit("/", 1)[-1], mime_type="text/plain")(
            (lambda u: lambda: str(counters[u]))(uri)
        )

    @server.tool(
        name="touch",
        description="Updates a counter resource and notifies its listeners; `stamp` (at most 128 characters) is carried as mcpbench/stamp.",
        structured_output=False,
    )
    async def touch(uri: str = RESOURCES[0], stamp: str | None = None) -> str:
        if uri not in counters:
            raise ValueError(f"unknown resource {uri!r}: one of {', '.join(RESOURCES)}")
        if stamp is not None and len(stamp) > MAX_STAMP:
            raise ValueError(f"stamp of {len(stamp)} characters: at most {MAX_STAMP}")
        counters[uri] += 1
        await bus.publish(StampedUpdate(uri=uri, stamp=stamp))
        return f"{uri} is now {counters[uri]}"

    @server.tool(name="echo", description="Returns its text argument unchanged.", structured_output=False)
    def echo(text: str) -> str:
        return text

    @server.tool(name="text", description=f"Returns a text item of exactly {text_size} bytes.", structured_output=False)
    def text() -> str:
        return payload

    return server


def _bind(host: str, port: int) -> socket.socket:
    """Bind and listen ourselves, so a bind failure is a clear error and --port 0 works."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


async def serve(args: argparse.Namespace) -> int:
    mcp_server = build_server(args.text_size, args.log_level)
    app = mcp_server.streamable_http_app(
        streamable_http_path=PATH,
        json_response=args.json_response,
        stateless_http=args.stateless,
        session_idle_timeout=args.session_idle_timeout,
        max_sessions=args.max_sessions,
        host=args.host,
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level.lower(),
        access_log=False,  # uvicorn's access log goes to stdout; stdout is reserved for the ready line
        lifespan="on",
        timeout_graceful_shutdown=args.graceful_timeout,
    )
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        sys.stderr.write(f"echo_server.py: cannot listen on {args.host}:{args.port}: {exc}\n")
        return 1
    port = sock.getsockname()[1]
    server = uvicorn.Server(config)
    _stop["server"] = server
    if _stop["requested"]:
        sock.close()
        return 0
    task = asyncio.create_task(server.serve(sockets=[sock]))
    # uvicorn sets `started` after the app's lifespan startup (the SDK's session manager is then
    # running) and after it serves on the already-listening socket.
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        try:
            task.result()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            sys.stderr.write(f"echo_server.py: server failed to start (exit {code})\n")
            return code or 1
        if _stop["requested"]:
            return 0
        sys.stderr.write("echo_server.py: server stopped before it was ready\n")
        return 1
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    sys.stdout.write(f"listening on http://{shown_host}:{port}{PATH}\n")
    sys.stdout.flush()
    try:
        await task
    except SystemExit as exc:  # pragma: no cover
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True, help="TCP port; 0 picks a free one (the ready line names it)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--stateless", action="store_true", help="stateless_http=True (no sessions)")
    p.add_argument("--json-response", action="store_true", help="json_response=True (application/json, not SSE)")
    p.add_argument("--text-size", type=int, default=4096, help="bytes returned by the `text` tool (default 4096)")
    p.add_argument(
        "--session-idle-timeout",
        type=float,
        default=1800.0,
        help="seconds a stateful session may be idle before the SDK closes it (the SDK's default: 1800)",
    )
    p.add_argument(
        "--max-sessions",
        type=int,
        default=10_000,
        help="concurrent stateful sessions before the SDK answers 503 (the SDK's default: 10000)",
    )
    p.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="server log level (stderr); default WARNING to keep load-generation overhead low",
    )
    p.add_argument(
        "--graceful-timeout",
        type=float,
        default=2.0,
        help="seconds open connections (e.g. GET SSE streams) get after SIGTERM (default 2)",
    )
    args = p.parse_args()
    if args.text_size < 0:
        p.error("--text-size must be >= 0")
    if not (math.isfinite(args.session_idle_timeout) and args.session_idle_timeout > 0):
        p.error("--session-idle-timeout must be a positive number of seconds")
    if args.max_sessions < 1:
        p.error("--max-sessions must be at least 1")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
