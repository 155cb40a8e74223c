#!/usr/bin/env node
/**
 * The official MCP TypeScript SDK v2 (npm @modelcontextprotocol/server 2.4.0 + @modelcontextprotocol/node
 * 2.1.2) serving Streamable HTTP on Node's http module, with the project's test tools and counter
 * resources, as a "peer" for the load generator. One endpoint serves both protocol generations:
 *   2025-11-25  initialize handshake (Mcp-Session-Id sessions, GET SSE stream, resources/subscribe)
 *   2026-07-28  stateless per-request envelope (server/discover, subscriptions/listen as an SSE stream)
 *
 *   node target/peers/typescript-v2/server.mjs --port P [--host 127.0.0.1] [--stateless]
 *        [--json-response] [--text-size 4096] [--max-sessions 1000] [--idle-ms 1800000]
 *        [--event-store] [--max-subscriptions 1024]
 *   (--result-size is accepted as another name for --text-size.)
 *
 * Install (node_modules never goes under scripts/): copy package.json, package-lock.json and
 * server.mjs into one directory under target/ and run `npm ci` there (server.mjs must sit next to
 * node_modules so Node's ESM resolver finds the packages).
 *
 * Tools (same contract as the project's Rust server):
 *   echo  {"text": string}                  -> content [{"type": "text", "text": <text>}]
 *   text  {}                                -> content [{"type": "text", "text": <exactly --text-size bytes, ASCII>}]
 *   touch {"uri"?: string, "stamp"?: string} -> adds one to the counter resource `uri`
 *         (default mcpbench://counter/0) and sends every subscriber of it
 *         notifications/resources/updated {uri, _meta: {"mcpbench/event": N, "mcpbench/stamp": stamp}}
 *         (stamp only when given; at most 128 characters); answers "<uri> is now <value> (event <N>)".
 * Resources: mcpbench://counter/0 .. /3, text/plain, the counter's value (how often it was touched).
 *
 * Prints exactly one line to stdout, `listening on http://HOST:PORT/mcp`, once the listening socket
 * accepts connections; everything else goes to stderr. SIGTERM or SIGINT closes every listen stream
 * (graceful final result) and every session transport, drops open connections and exits 0.
 *
 * How the two generations share the endpoint (the SDK's own entry points, see the package's
 * dist/createMcpHandler-*.d.mts and @modelcontextprotocol/node's README):
 *   --stateless  `createMcpHandler(factory)` with its default `legacy: 'stateless'`: 2026-07-28 requests go
 *                to a fresh per-request McpServer (PerRequestHTTPServerTransport); 2025-era POSTs to a fresh
 *                McpServer + WebStandardStreamableHTTPServerTransport({sessionIdGenerator: undefined}) per
 *                request; GET/DELETE answer 405. Node side: `toNodeHandler(handler)`.
 *   default      `createMcpHandler(factory, {legacy: 'reject'})` for 2026-07-28 traffic, and in front of it
 *                `isLegacyRequest()` routing 2025-era traffic to a sessionful wiring: one McpServer +
 *                WebStandardStreamableHTTPServerTransport({sessionIdGenerator: randomUUID}) per session,
 *                kept in a Map (onsessioninitialized / onclose), GET opens the standalone SSE stream,
 *                at most --max-sessions (else 503), idle reaper every 60 s for --idle-ms, as the v1 peer
 *                (and the v1 SDK's simpleStreamableHttp example) does. This is the composition the SDK
 *                documents for "an existing sessionful streamable HTTP wiring next to a strict modern
 *                endpoint"; both legs are web-standard handlers behind one `toNodeHandler`.
 *   The 2026-07-28 `subscriptions/listen` streams are served by the SDK itself (its listen router) from
 *   the handler's ServerEventBus; `touch` publishes {kind: 'resource_updated', uri, params: {_meta}} on
 *   it, and the SDK stamps io.modelcontextprotocol/subscriptionId into each stream's copy. 2025-era
 *   subscribers (stateful mode only) get the notification on their session's GET stream.
 *   --json-response  enableJsonResponse on the 2025 session transports, responseMode 'json' on the
 *                2026-07-28 leg (listen streams stay SSE). The SDK's built-in 2025 stateless fallback has no
 *                such option, so with --stateless the 2025 leg keeps its default (SSE) responses.
 *   --event-store    an in-memory EventStore (resumability) on each 2025 session transport; v2 ships no
 *                example store, so a minimal one is defined below. Keeps every event until exit.
 */

import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import process from 'node:process';

import {
    McpServer,
    WebStandardStreamableHTTPServerTransport,
    createMcpHandler,
    isInitializeRequest,
    isLegacyRequest,
    ResourceNotFoundError
} from '@modelcontextprotocol/server';
import { localhostHostValidation, localhostOriginValidation, toNodeHandler } from '@modelcontextprotocol/node';
import * as z from 'zod/v4';

const PATH = '/mcp';
const PATTERN = 'abcdefghijklmnopqrstuvwxyz0123456789';
const RESOURCES = ['mcpbench://counter/0', 'mcpbench://counter/1', 'mcpbench://counter/2', 'mcpbench://counter/3'];
const MAX_STAMP = 128;
const MAX_BODY = 4 * 1024 * 1024; // the SDK's DEFAULT_MAX_REQUEST_BODY_SIZE
const USAGE =
    'usage: server.mjs --port P [--host 127.0.0.1] [--stateless] [--json-response] ' +
    '[--text-size 4096] [--max-sessions 1000] [--idle-ms 1800000] [--event-store] [--max-subscriptions 1024]\n';

function usage(message) {
    process.stderr.write(`server.mjs: ${message}\n${USAGE}`);
    process.exit(2);
}

function parseArgs(argv) {
    const args = {
        host: '127.0.0.1',
        port: undefined,
        textSize: 4096,
        stateless: false,
        jsonResponse: false,
        maxSessions: 1000,
        idleMs: 30 * 60000,
        eventStore: false,
        maxSubscriptions: undefined
    };
    const intArg = (name, value, min) => {
        if (value === undefined || !/^\d+$/.test(value)) usage(`${name} needs a non-negative integer`);
        const n = Number(value);
        if (!Number.isSafeInteger(n) || n < min) usage(`${name} must be >= ${min}`);
        return n;
    };
    for (let i = 0; i < argv.length; i++) {
        let flag = argv[i];
        let value;
        const eq = flag.indexOf('=');
        if (flag.startsWith('--') && eq > 0) {
            value = flag.slice(eq + 1);
            flag = flag.slice(0, eq);
        }
        const next = () => (value !== undefined ? value : argv[++i]);
        switch (flag) {
            case '--host':
                args.host = next();
                if (!args.host) usage('--host needs a value');
                break;
            case '--port':
                args.port = intArg('--port', next(), 0);
                if (args.port > 65535) usage('--port must be <= 65535');
                break;
            case '--text-size':
            case '--result-size':
                args.textSize = intArg(flag, next(), 0);
                break;
            case '--max-sessions':
                args.maxSessions = intArg('--max-sessions', next(), 1);
                break;
            case '--idle-ms':
                args.idleMs = intArg('--idle-ms', next(), 1);
                break;
            case '--max-subscriptions':
                args.maxSubscriptions = intArg('--max-subscriptions', next(), 1);
                break;
            case '--stateless':
                args.stateless = true;
                break;
            case '--json-response':
                args.jsonResponse = true;
                break;
            case '--event-store':
                args.eventStore = true;
                break;
            case '-h':
            case '--help':
                process.stdout.write(USAGE);
                process.exit(0);
                break;
            default:
                usage(`unknown argument ${JSON.stringify(argv[i])}`);
        }
    }
    if (args.port === undefined) usage('--port is required (0 picks a free one)');
    return args;
}

/** An ASCII string of exactly `size` bytes (so bytes == characters). */
function makeText(size) {
    return PATTERN.repeat(Math.floor(size / PATTERN.length) + 1).slice(0, size);
}

const args = parseArgs(process.argv.slice(2));
const payload = makeText(args.textSize);
const logError = (what, error) => process.stderr.write(`server.mjs: ${what}: ${error?.stack ?? error}\n`);

/** Minimal in-memory EventStore (the interface of the SDK's WebStandardStreamableHTTPServerTransportOptions.eventStore). */
class InMemoryEventStore {
    events = new Map(); // eventId -> { streamId, message }, in insertion order
    async storeEvent(streamId, message) {
        const eventId = `${streamId}_${Date.now()}_${Math.random().toString(36).slice(2, 10)}`;
        this.events.set(eventId, { streamId, message });
        return eventId;
    }
    async getStreamIdForEventId(eventId) {
        return this.events.get(eventId)?.streamId;
    }
    async replayEventsAfter(lastEventId, { send }) {
        const last = this.events.get(lastEventId);
        if (!last) return '';
        let found = false;
        for (const [eventId, { streamId, message }] of this.events) {
            if (streamId !== last.streamId) continue;
            if (eventId === lastEventId) {
                found = true;
                continue;
            }
            if (found) await send(eventId, message);
        }
        return last.streamId;
    }
}

// ---- The counters, and who is told when one changes ----

const counters = RESOURCES.map(() => 0);
let published = 0;

// 2025-11-25 sessions (stateful mode only): sid -> { transport, server, subs: Set<uri>, open, lastActive }.
const sessions = new Map();

// The 2026-07-28 handler (set below); its bus feeds every open subscriptions/listen stream.
let handler;

/** Tell every subscriber of `uri`, in both generations, that it changed. */
function publishUpdate(uri, meta) {
    // 2026-07-28: the SDK's listen router filters by the stream's resourceSubscriptions and adds
    // io.modelcontextprotocol/subscriptionId to a copy of this _meta for each stream.
    handler.bus.publish({ kind: 'resource_updated', uri, params: { _meta: meta } });
    // 2025-11-25: each subscribed session's standalone GET stream (dropped if it has none open).
    for (const [sid, session] of sessions) {
        if (!session.subs.has(uri)) continue;
        session.server.server
            .sendResourceUpdated({ uri, _meta: meta })
            .catch(error => logError(`notifying session ${sid}`, error));
    }
}

/**
 * One McpServer with the tools and resources. `legacySubs` (a Set) is given for a 2025-11-25
 * session: it then answers resources/subscribe and resources/unsubscribe into that set.
 * The 2026-07-28 instances advertise resources.subscribe so the SDK honours a listen filter's
 * resourceSubscriptions (it narrows the filter to the advertised capabilities).
 */
function getServer({ era }, legacySubs) {
    const subscribe = era === 'modern' || legacySubs !== undefined;
    const server = new McpServer(
        { name: 'typescript-sdk-v2-echo-server', version: '1.0.0' },
        subscribe ? { capabilities: { resources: { subscribe: true } } } : undefined
    );
    server.registerTool(
        'echo',
        {
            description: 'Returns its text argument unchanged.',
            inputSchema: z.object({ text: z.string() })
        },
        async ({ text }) => ({ content: [{ type: 'text', text }] })
    );
    server.registerTool(
        'text',
        { description: `Returns a text item of exactly ${args.textSize} bytes.` },
        async () => ({ content: [{ type: 'text', text: payload }] })
    );
    server.registerTool(
        'touch',
        {
            description:
                'Updates a resource (default mcpbench://counter/0) and notifies its subscribers; `stamp` (at most ' +
                '128 characters) is carried into the notification\'s _meta as mcpbench/stamp.',
            inputSchema: z.object({
                uri: z.enum(RESOURCES).optional(),
                stamp: z.string().max(MAX_STAMP).optional()
            })
        },
        async ({ uri = RESOURCES[0], stamp }) => {
            const i = RESOURCES.indexOf(uri);
            const value = ++counters[i];
            const seq = ++published;
            const meta = { 'mcpbench/event': seq };
            if (stamp !== undefined) meta['mcpbench/stamp'] = stamp;
            publishUpdate(uri, meta);
            return { content: [{ type: 'text', text: `${uri} is now ${value} (event ${seq})` }] };
        }
    );
    RESOURCES.forEach((uri, i) => {
        server.registerResource(
            `counter-${i}`,
            uri,
            { mimeType: 'text/plain', description: `How often touch updated ${uri}.` },
            async () => ({ contents: [{ uri, mimeType: 'text/plain', text: String(counters[i]) }] })
        );
    });
    if (legacySubs !== undefined) {
        const known = uri => {
            if (!RESOURCES.includes(uri)) throw new ResourceNotFoundError(uri);
            return uri;
        };
        server.server.setRequestHandler('resources/subscribe', async request => {
            legacySubs.add(known(request.params.uri));
            return {};
        });
        server.server.setRequestHandler('resources/unsubscribe', async request => {
            legacySubs.delete(request.params.uri);
            return {};
        });
    }
    return server;
}

const jsonError = (status, code, message, id = null) =>
    Response.json({ jsonrpc: '2.0', error: { code, message }, id }, { status });

// ---- 2025-11-25 sessions (stateful mode): the v1 peer's session handling, on web-standard objects ----

async function legacySessionful(request, options) {
    const sessionId = request.headers.get('mcp-session-id') ?? undefined;
    const session = sessionId ? sessions.get(sessionId) : undefined;
    if (session) return session.transport.handleRequest(request, options);
    if (sessionId) return jsonError(404, -32001, 'Session not found');
    if (request.method !== 'POST') {
        return new Response('Missing session ID', { status: 400 });
    }
    if (!isInitializeRequest(options?.parsedBody)) {
        return jsonError(400, -32000, 'Bad Request: No valid session ID provided');
    }
    if (sessions.size >= args.maxSessions) return jsonError(503, -32000, 'Too many open sessions');
    const subs = new Set();
    const server = getServer({ era: 'legacy' }, subs);
    const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: args.jsonResponse,
        eventStore: args.eventStore ? new InMemoryEventStore() : undefined,
        onsessioninitialized: sid => {
            // Stored on initialization, so a request cannot arrive before the session is stored
            sessions.set(sid, { transport, server, subs, open: 0, lastActive: Date.now() });
        }
    });
    transport.onclose = () => {
        const sid = transport.sessionId;
        if (sid && sessions.has(sid)) sessions.delete(sid);
    };
    // Connect the transport to the MCP server BEFORE handling the request
    await server.connect(transport);
    return transport.handleRequest(request, options);
}

// ---- The endpoint ----

const onerror = error => logError('mcp', error);
handler = createMcpHandler(ctx => getServer(ctx), {
    legacy: args.stateless ? 'stateless' : 'reject',
    onerror,
    ...(args.jsonResponse && { responseMode: 'json' }),
    ...(args.maxSubscriptions !== undefined && { maxSubscriptions: args.maxSubscriptions })
});

const face = args.stateless
    ? handler
    : {
          fetch: async (request, options) =>
              (await isLegacyRequest(request, options?.parsedBody))
                  ? legacySessionful(request, options)
                  : handler.fetch(request, options)
      };
const nodeHandler = toNodeHandler(face, { onerror });

// As the SDK's framework app factories do for a loopback bind: Host and Origin guards.
const loopback = ['127.0.0.1', 'localhost', '::1'].includes(args.host);
const validateHost = loopback ? localhostHostValidation() : () => true;
const validateOrigin = loopback ? localhostOriginValidation() : () => true;

const writeJson = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

/** The POST body parsed once (as express.json() did for the v1 peer); `undefined` for an empty body. */
async function readJsonBody(req) {
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
        size += chunk.length;
        if (size > MAX_BODY) throw Object.assign(new Error('too large'), { status: 413 });
        chunks.push(chunk);
    }
    if (size === 0) return undefined;
    return JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
}

// Count open responses so a long-running request or a listening SSE stream is not treated as idle
const trackResponse = (session, res) => {
    session.open++;
    res.on('close', () => {
        session.open--;
        session.lastActive = Date.now();
    });
};
if (!args.stateless) {
    // Close sessions with nothing open and no activity for --idle-ms
    setInterval(() => {
        const cutoff = Date.now() - args.idleMs;
        for (const { transport, open, lastActive } of sessions.values()) {
            if (open === 0 && lastActive < cutoff) transport.close().catch(e => logError('reaper close', e));
        }
    }, 60000).unref();
}

const httpServer = createServer(async (req, res) => {
    try {
        const q = req.url.indexOf('?');
        if ((q < 0 ? req.url : req.url.slice(0, q)) !== PATH) {
            writeJson(res, 404, { jsonrpc: '2.0', error: { code: -32000, message: 'Not found' }, id: null });
            return;
        }
        if (!validateHost(req, res) || !validateOrigin(req, res)) return;
        let body;
        if (req.method === 'POST') {
            try {
                body = await readJsonBody(req);
            } catch (error) {
                if (error.status === 413) {
                    writeJson(res, 413, { jsonrpc: '2.0', error: { code: -32000, message: 'Payload Too Large' }, id: null });
                } else {
                    writeJson(res, 400, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
                }
                return;
            }
        }
        if (!args.stateless) {
            const sid = req.headers['mcp-session-id'];
            const session = typeof sid === 'string' ? sessions.get(sid) : undefined;
            if (session) trackResponse(session, res);
        }
        await nodeHandler(req, res, body);
    } catch (error) {
        logError('error handling MCP request', error);
        if (!res.headersSent) {
            writeJson(res, 500, { jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null });
        }
    }
});

httpServer.on('error', error => {
    process.stderr.write(`server.mjs: cannot listen on ${args.host}:${args.port}: ${error.message}\n`);
    process.exit(1);
});

let stopping = false;
const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
        await handler.close(); // ends every subscriptions/listen stream with its final result
    } catch (error) {
        logError('closing the handler', error);
    }
    for (const [sid, { transport }] of sessions) {
        try {
            await transport.close();
        } catch (error) {
            logError(`closing session ${sid}`, error);
        }
        sessions.delete(sid);
    }
    httpServer.close();
    httpServer.closeAllConnections();
    process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

httpServer.listen({ host: args.host, port: args.port, backlog: 1024 }, () => {
    const { port } = httpServer.address();
    const shownHost = args.host.includes(':') ? `[${args.host}]` : args.host;
    // stdout to a pipe or file is written synchronously on Linux, so the line is out before we go on.
    process.stdout.write(`listening on http://${shownHost}:${port}${PATH}\n`);
});
