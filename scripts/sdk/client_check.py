#!/usr/bin/env python3
"""Prove an MCP server speaks Streamable HTTP to the official MCP Python SDK client.

    client_check.py URL [--mode auto|legacy|2026-07-28] [--text-size 4096] [--timeout 30]
                        [--expect-protocol VERSION]

Connects with `mcp.Client(URL, mode=...)` (SDK `mcp` 2.x) and checks:
  1. tools/list names both `echo` and `text`;
  2. tools/call echo {"text": "hello from the python sdk"} returns exactly one text content
     item whose text equals the argument (and isError is not true);
  3. tools/call text {} returns exactly one text content item of exactly --text-size bytes
     (UTF-8 encoded length).

Modes (the SDK's `Client(mode=...)`):
  auto        POST server/discover at 2026-07-28 first; on any JSON-RPC/HTTP-status error, an
              unparseable result, or no 2026-07-28 in supportedVersions, fall back to the
              2025-11-25 initialize handshake.
  legacy      initialize handshake only (2025-11-25), Mcp-Session-Id session, GET stream, DELETE.
  2026-07-28  adopt 2026-07-28 directly, no probe and no handshake.
--expect-protocol additionally asserts the negotiated version (e.g. 2026-07-28 for `auto`
against a server that implements server/discover).

Exit 0 with one line `ok: <mode> protocol=<negotiated> ...`; exit 1 with `FAIL: <mode>: <what
differed>` on stderr; exit 2 on usage/environment errors. The whole run is bounded by --timeout.
Run it with the venv from scripts/sdk/requirements.txt (target/sdk-venv/bin/python).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Any

try:
    import anyio
    from mcp import Client, MCPError
    from pydantic import ValidationError
except ImportError as exc:  # pragma: no cover - environment problem, not a test failure
    sys.stderr.write(
        f"client_check.py: cannot import the MCP Python SDK ({exc}).\n"
        "Set up the venv: python3 -m venv target/sdk-venv && "
        "target/sdk-venv/bin/pip install -r scripts/sdk/requirements.txt\n"
    )
    sys.exit(2)

try:
    _BaseExceptionGroup = BaseExceptionGroup  # Python 3.11+
except NameError:  # pragma: no cover - Python 3.10, where anyio brings the backport
    from exceptiongroup import BaseExceptionGroup as _BaseExceptionGroup

ECHO_TEXT = "hello from the python sdk"


class CheckFailed(Exception):
    """A server answer differed from what the check expects."""


def _short(value: Any, limit: int = 200) -> str:
    s = repr(value)
    return s if len(s) <= limit else s[:limit] + f"... ({len(s)} chars)"


def _describe_content(content: list[Any]) -> str:
    parts = []
    for item in content:
        kind = getattr(item, "type", type(item).__name__)
        if kind == "text":
            parts.append(f"text({len(item.text.encode('utf-8'))}B)")
        else:
            parts.append(str(kind))
    return "[" + ", ".join(parts) + "]"


def _single_text(tool: str, result: Any) -> str:
    if result.is_error:
        raise CheckFailed(f"tools/call {tool}: isError=true, content={_short(result.content)}")
    content = list(result.content)
    if len(content) != 1:
        raise CheckFailed(
            f"tools/call {tool}: expected exactly 1 content item, got {len(content)}: {_describe_content(content)}"
        )
    item = content[0]
    if getattr(item, "type", None) != "text":
        raise CheckFailed(f"tools/call {tool}: expected a text content item, got type={getattr(item, 'type', None)!r}")
    return item.text


async def run_check(url: str, mode: str, text_size: int, timeout: float, expect_protocol: str | None) -> str:
    # read_timeout_seconds bounds each request; the caller's fail_after bounds the whole run.
    async with Client(url, mode=mode, read_timeout_seconds=timeout) as client:
        protocol = client.protocol_version
        if expect_protocol is not None and protocol != expect_protocol:
            raise CheckFailed(f"negotiated protocol {protocol!r}, expected {expect_protocol!r}")
        info = client.server_info
        server = f"{info.name}/{info.version}" if info is not None else "anonymous"

        listed = await client.list_tools()
        names = [t.name for t in listed.tools]
        missing = [n for n in ("echo", "text") if n not in names]
        if missing:
            raise CheckFailed(f"tools/list: missing {missing}; server listed {names}")

        echoed = _single_text("echo", await client.call_tool("echo", {"text": ECHO_TEXT}))
        if echoed != ECHO_TEXT:
            raise CheckFailed(f"tools/call echo: text {_short(echoed)} != {ECHO_TEXT!r}")

        big = _single_text("text", await client.call_tool("text", {}))
        size = len(big.encode("utf-8"))
        if size != text_size:
            raise CheckFailed(f"tools/call text: text is {size} bytes, expected {text_size}")

    return f"ok: {mode} protocol={protocol} server={server} tools={sorted(names)} echo=ok text={size}B url={url}"


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
            texts.append(f"server result failed the SDK's schema validation: {leaf}")
        else:
            texts.append(f"{type(leaf).__name__}: {leaf}")
    return "; ".join(texts)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", help="Streamable HTTP endpoint, e.g. http://127.0.0.1:8080/mcp")
    p.add_argument("--mode", default="auto", choices=["auto", "legacy", "2026-07-28"])
    p.add_argument("--text-size", type=int, default=4096, help="expected byte length of the `text` tool's text")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole check (default 30)")
    p.add_argument("--expect-protocol", default=None, help="also require this negotiated protocol version")
    p.add_argument("--verbose", action="store_true", help="print a traceback on failure")
    args = p.parse_args()

    async def bounded() -> str:
        with anyio.fail_after(args.timeout):
            return await run_check(args.url, args.mode, args.text_size, args.timeout, args.expect_protocol)

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
