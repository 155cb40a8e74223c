#!/usr/bin/env node
/**
 * The official MCP TypeScript SDK (npm @modelcontextprotocol/sdk, v1.x) serving Streamable HTTP,
 * with the project's two test tools, as a "peer" for the load generator.
 *
 *   node target/peers/typescript/server.mjs --port P [--host 127.0.0.1] [--stateless]
 *        [--json-response] [--text-size 4096] [--max-sessions 1000] [--idle-ms 1800000]
 *        [--event-store]
 *
 * Install (node_modules never goes under scripts/):
 *   mkdir -p target/peers/typescript
 *   cp scripts/sdk/typescript/package.json scripts/sdk/typescript/package-lock.json \
 *      scripts/sdk/typescript/server.mjs target/peers/typescript/
 *   npm ci --prefix target/peers/typescript
 * (server.mjs is copied next to node_modules so Node's ESM resolver finds the packages.)
 *
 * Tools (same contract as the project's Rust server):
 *   echo  {"text": string} -> content [{"type": "text", "text": <text>}]
 *   text  {}               -> content [{"type": "text", "text": <exactly --text-size bytes, ASCII>}]
 * Neither declares an outputSchema, so results carry only `content`.
 *
 * Prints exactly one line to stdout, `listening on http://HOST:PORT/mcp`, once the listening
 * socket accepts connections; everything else goes to stderr. SIGTERM or SIGINT closes every
 * session transport (as the SDK example's SIGINT handler does), drops open connections and
 * exits 0.
 *
 * The HTTP layer is the SDK's own `createMcpExpressApp({ host })` (express 5 + express.json()
 * + the SDK's localhost Host-header validation when host is 127.0.0.1/localhost/::1), exactly
 * what the SDK's examples use; express comes in as a dependency of the SDK itself.
 *
 * Modes, each a copy of one of the SDK's examples (dist/esm/examples/server/ of 1.32.2):
 *   default (stateful)  simpleStreamableHttp.js / jsonResponseStreamableHttp.js: one McpServer +
 *                       StreamableHTTPServerTransport per session (sessionIdGenerator randomUUID),
 *                       kept in a Map filled by onsessioninitialized and emptied by
 *                       transport.onclose (DELETE, reaper, shutdown); GET opens the standalone
 *                       SSE stream; at most --max-sessions (example: 1000, else 503) and an
 *                       idle reaper every 60 s closing sessions with no open response for
 *                       --idle-ms (example: 30 min).
 *   --stateless         simpleStatelessStreamableHttp.js: a new McpServer + transport
 *                       (sessionIdGenerator: undefined) per POST, closed on res 'close';
 *                       GET and DELETE answer 405.
 *   --json-response     enableJsonResponse: true on every transport (application/json, not SSE).
 *   --event-store       give each stateful transport the example's InMemoryEventStore
 *                       (simpleStreamableHttp.js does; jsonResponseStreamableHttp.js does not).
 *                       Off by default: that store keeps every event until the process exits.
 * The v1.x SDK speaks the initialize-handshake protocol generations only (up to 2025-11-25).
 */

import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import process from 'node:process';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod/v4';

const PATH = '/mcp';
const PATTERN = 'abcdefghijklmnopqrstuvwxyz0123456789';

function usage(message) {
    process.stderr.write(
        `server.mjs: ${message}\n` +
            'usage: server.mjs --port P [--host 127.0.0.1] [--stateless] [--json-response] ' +
            '[--text-size 4096] [--max-sessions 1000] [--idle-ms 1800000] [--event-store]\n'
    );
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
        eventStore: false
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
                args.textSize = intArg('--text-size', next(), 0);
                break;
            case '--max-sessions':
                args.maxSessions = intArg('--max-sessions', next(), 1);
                break;
            case '--idle-ms':
                args.idleMs = intArg('--idle-ms', next(), 1);
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
                process.stdout.write(
                    'usage: server.mjs --port P [--host 127.0.0.1] [--stateless] [--json-response] ' +
                        '[--text-size 4096] [--max-sessions 1000] [--idle-ms 1800000] [--event-store]\n'
                );
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

// The example-only event store is loaded only when asked for.
const InMemoryEventStore = args.eventStore
    ? (await import('@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js')).InMemoryEventStore
    : undefined;

const getServer = () => {
    const server = new McpServer({ name: 'typescript-sdk-echo-server', version: '1.0.0' });
    server.registerTool(
        'echo',
        {
            description: 'Returns its text argument unchanged.',
            inputSchema: { text: z.string() }
        },
        async ({ text }) => ({ content: [{ type: 'text', text }] })
    );
    server.registerTool(
        'text',
        { description: `Returns a text item of exactly ${args.textSize} bytes.` },
        async () => ({ content: [{ type: 'text', text: payload }] })
    );
    return server;
};

const logError = (what, error) => process.stderr.write(`server.mjs: ${what}: ${error?.stack ?? error}\n`);

const internalError = res => {
    if (!res.headersSent) {
        res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null });
    }
};

const app = createMcpExpressApp({ host: args.host });

// Session map (stateful mode only), as in the SDK's examples.
const sessions = new Map();

if (args.stateless) {
    // --- simpleStatelessStreamableHttp.js ---
    app.post(PATH, async (req, res) => {
        const server = getServer();
        try {
            const transport = new StreamableHTTPServerTransport({
                sessionIdGenerator: undefined,
                enableJsonResponse: args.jsonResponse
            });
            await server.connect(transport);
            await transport.handleRequest(req, res, req.body);
            res.on('close', () => {
                transport.close();
                server.close();
            });
        } catch (error) {
            logError('error handling MCP request', error);
            internalError(res);
        }
    });
    const methodNotAllowed = (req, res) => {
        res.writeHead(405).end(
            JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null })
        );
    };
    app.get(PATH, methodNotAllowed);
    app.delete(PATH, methodNotAllowed);
} else {
    // --- simpleStreamableHttp.js (session handling, GET, DELETE, reaper) ---
    // Count open responses so a long-running request or a listening SSE stream is not treated as idle
    const trackResponse = (session, res) => {
        if (!res.socket || res.destroyed) return;
        session.open++;
        res.on('close', () => {
            session.open--;
            session.lastActive = Date.now();
        });
    };
    // Close sessions with nothing open and no activity for --idle-ms
    setInterval(() => {
        const cutoff = Date.now() - args.idleMs;
        for (const { transport, open, lastActive } of sessions.values()) {
            if (open === 0 && lastActive < cutoff) transport.close().catch(e => logError('reaper close', e));
        }
    }, 60000).unref();

    app.post(PATH, async (req, res) => {
        const sessionId = req.headers['mcp-session-id'];
        try {
            const session = sessionId ? sessions.get(sessionId) : undefined;
            let transport;
            if (session) {
                transport = session.transport;
                trackResponse(session, res);
            } else if (!sessionId && isInitializeRequest(req.body)) {
                if (sessions.size >= args.maxSessions) {
                    res.status(503).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Too many open sessions' }, id: null });
                    return;
                }
                transport = new StreamableHTTPServerTransport({
                    sessionIdGenerator: () => randomUUID(),
                    enableJsonResponse: args.jsonResponse,
                    eventStore: InMemoryEventStore ? new InMemoryEventStore() : undefined,
                    onsessioninitialized: sid => {
                        // Stored on initialization, so a request cannot arrive before the session is stored
                        sessions.set(sid, { transport, open: 0, lastActive: Date.now() });
                    }
                });
                transport.onclose = () => {
                    const sid = transport.sessionId;
                    if (sid && sessions.has(sid)) sessions.delete(sid);
                };
                // Connect the transport to the MCP server BEFORE handling the request
                const server = getServer();
                await server.connect(transport);
                await transport.handleRequest(req, res, req.body);
                return;
            } else if (sessionId) {
                res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
                return;
            } else {
                res.status(400).json({
                    jsonrpc: '2.0',
                    error: { code: -32000, message: 'Bad Request: No valid session ID provided' },
                    id: null
                });
                return;
            }
            await transport.handleRequest(req, res, req.body);
        } catch (error) {
            logError('error handling MCP request', error);
            internalError(res);
        }
    });

    app.get(PATH, async (req, res) => {
        const sessionId = req.headers['mcp-session-id'];
        if (!sessionId) {
            res.status(400).send('Missing session ID');
            return;
        }
        const session = sessions.get(sessionId);
        if (!session) {
            res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
            return;
        }
        trackResponse(session, res);
        await session.transport.handleRequest(req, res);
    });

    app.delete(PATH, async (req, res) => {
        const sessionId = req.headers['mcp-session-id'];
        if (!sessionId) {
            res.status(400).send('Missing session ID');
            return;
        }
        const session = sessions.get(sessionId);
        if (!session) {
            res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
            return;
        }
        try {
            trackResponse(session, res);
            await session.transport.handleRequest(req, res);
        } catch (error) {
            logError('error handling session termination', error);
            if (!res.headersSent) res.status(500).send('Error processing session termination');
        }
    });
}

const httpServer = createServer(app);

httpServer.on('error', error => {
    process.stderr.write(`server.mjs: cannot listen on ${args.host}:${args.port}: ${error.message}\n`);
    process.exit(1);
});

let stopping = false;
const stop = async () => {
    if (stopping) return;
    stopping = true;
    // As the SDK example's SIGINT handler: close every session transport first.
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
