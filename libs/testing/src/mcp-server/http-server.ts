import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { readBody } from '../http-body';
import { closeServer, listen, sendJson } from '../http-server';
import { connectTestMcpServer, createTestMcpServer } from './test-tools';
import type { McpTestServerOptions, RecordedMcpCall } from './types';

export interface McpHttpServerOptions extends McpTestServerOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0 (ephemeral). Pass a closed server's port to "restart" it at the same URL. */
  port?: number;
}

export interface McpHttpServer {
  /** `http://127.0.0.1:<port>/mcp`: the Streamable HTTP endpoint. */
  url: string;
  port: number;
  /** Every `tools/call` received, in arrival order (before the server checks arguments). */
  readonly calls: RecordedMcpCall[];
  /** Calls whose cancellation reached the tool (`slow`). */
  readonly cancelled: RecordedMcpCall[];
  /** Open sessions (one per connected client). */
  sessionCount(): number;
  /** Ends every session and stops listening (open streams are cut). */
  close(): Promise<void>;
}

const PATH = '/mcp';

/**
 * The test MCP server (see `createTestMcpServer`) over Streamable HTTP, in
 * this process: one `McpServer` per session, sessions by `mcp-session-id`,
 * an unknown session answered 404 as the protocol says.
 */
export async function startMcpHttpServer(
  options: McpHttpServerOptions = {},
): Promise<McpHttpServer> {
  const calls: RecordedMcpCall[] = [];
  const cancelled: RecordedMcpCall[] = [];
  const recorder = {
    call: (c: RecordedMcpCall) => calls.push(c),
    cancelled: (c: RecordedMcpCall) => cancelled.push(c),
  };
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; mcp: McpServer }>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== PATH)
      return sendJson(res, 404, { error: 'not found' });
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = sessions.get(sessionId);
      if (!session) return sendJson(res, 404, rpcError(-32001, 'Session not found'));
      return session.transport.handleRequest(req, res);
    }
    if (req.method !== 'POST') return sendJson(res, 400, rpcError(-32000, 'No session'));
    let body: unknown;
    try {
      body = JSON.parse((await readBody(req, 4 * 1024 * 1024)).toString('utf8'));
    } catch {
      return sendJson(res, 400, rpcError(-32700, 'Parse error'));
    }
    if (!isInitializeRequest(body)) return sendJson(res, 400, rpcError(-32000, 'No session'));
    const mcp = createTestMcpServer(recorder, options);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, { transport, mcp }),
      onsessionclosed: (id) => void sessions.delete(id),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await connectTestMcpServer(mcp, transport, recorder);
    await transport.handleRequest(req, res, body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, rpcError(-32603, String(err)));
      else res.end();
    });
  });
  await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}${PATH}`,
    port,
    calls,
    cancelled,
    sessionCount: () => sessions.size,
    close: async () => {
      const open = [...sessions.values()];
      sessions.clear();
      await Promise.all(open.map((s) => s.mcp.close().catch(() => undefined)));
      await closeServer(server);
    },
  };
}

const rpcError = (code: number, message: string) => ({
  jsonrpc: '2.0',
  error: { code, message },
  id: null,
});
