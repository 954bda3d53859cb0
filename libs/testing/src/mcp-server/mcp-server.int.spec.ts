import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { waitFor } from '../wait-for';
import { startMcpHttpServer, type McpHttpServer } from './http-server';
import { bundleMcpStdioServer, readMcpCallLog, type BundledMcpStdioServer } from './stdio-server';
import { MCP_FAIL_TEXT, MCP_TEST_TOOLS } from './test-tools';

/** The test MCP server, seen through the SDK's own client. */

describe('startMcpHttpServer', () => {
  let server: McpHttpServer;
  let client: Client;
  beforeEach(async () => {
    server = await startMcpHttpServer({ version: '9.9.9' });
    client = new Client({ name: 'probe', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  });
  afterEach(async () => {
    await client.close();
    await server.close();
  });

  it('offers the test tools and says its version', async () => {
    expect(client.getServerVersion()).toMatchObject({ version: '9.9.9' });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual([...MCP_TEST_TOOLS]);
    expect(tools.find((t) => t.name === 'lookup_order')!.annotations).toEqual({
      readOnlyHint: true,
    });
    expect(server.sessionCount()).toBe(1);
  });

  it('answers calls and records each as it arrived, _meta included', async () => {
    const sum = await client.callTool({
      name: 'add',
      arguments: { a: 2, b: 5 },
      _meta: { 'x/k': 'v' },
    });
    expect(sum).toMatchObject({
      content: [{ type: 'text', text: '7' }],
      structuredContent: { sum: 7 },
    });
    const failed = await client.callTool({ name: 'fail', arguments: {} });
    expect(failed).toMatchObject({
      isError: true,
      content: [{ type: 'text', text: MCP_FAIL_TEXT }],
    });
    // Recorded even though the server rejects the arguments.
    const bad = await client.callTool({ name: 'lookup_order', arguments: { orderId: 'nope' } });
    expect(bad.isError).toBe(true);
    expect(server.calls).toEqual([
      { tool: 'add', arguments: { a: 2, b: 5 }, meta: { 'x/k': 'v' } },
      { tool: 'fail', arguments: {}, meta: {} },
      { tool: 'lookup_order', arguments: { orderId: 'nope' }, meta: {} },
    ]);
  });

  it('records a cancelled call', async () => {
    const controller = new AbortController();
    const call = client.callTool({ name: 'slow', arguments: { ms: 30_000 } }, undefined, {
      signal: controller.signal,
    });
    await waitFor(() => server.calls.length === 1, { description: 'the call to arrive' });
    controller.abort();
    await expect(call).rejects.toThrow();
    await waitFor(() => server.cancelled.length === 1, { description: 'the cancellation' });
    expect(server.cancelled[0]).toMatchObject({ tool: 'slow', arguments: { ms: 30_000 } });
  });

  it('pages tools/list when asked to', async () => {
    const paged = await startMcpHttpServer({ toolsPageSize: 2 });
    const c = new Client({ name: 'probe', version: '0' });
    try {
      await c.connect(new StreamableHTTPClientTransport(new URL(paged.url)));
      const first = await c.listTools();
      expect(first.tools.map((t) => t.name)).toEqual(['add', 'lookup_order']);
      expect(first.nextCursor).toBe('2');
      const last = await c.listTools({ cursor: '4' });
      expect(last.tools.map((t) => t.name)).toEqual(['Echo-Text.v2']);
      expect(last.nextCursor).toBeUndefined();
      // The paged listing shows the same schemas McpServer lists.
      const full = await client.listTools();
      expect(first.tools[0]).toEqual(full.tools[0]);
    } finally {
      await c.close();
      await paged.close();
    }
  });

  it('answers an unknown session with 404', async () => {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': 'no-such-session',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(404);
  });
});

describe('the stdio test MCP server', () => {
  let bundle: BundledMcpStdioServer;
  let dir: string;
  beforeAll(async () => {
    bundle = await bundleMcpStdioServer();
    dir = mkdtempSync(join(tmpdir(), 'keel-mcp-stdio-'));
  }, 60_000);
  afterAll(() => {
    bundle?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs as `node <bundle>` and logs its pid, calls and cancellations to the call log', async () => {
    const file = join(dir, 'calls.jsonl');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [bundle.entry],
      env: { MCP_FIXTURE_CALLS_FILE: file, MCP_FIXTURE_VERSION: '3.0.0' },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'probe', version: '0' });
    await client.connect(transport);
    try {
      expect(client.getServerVersion()).toMatchObject({ version: '3.0.0' });
      await client.callTool({
        name: 'add',
        arguments: { a: 1, b: 1 },
        _meta: { 'keel/runId': 'r' },
      });
      const controller = new AbortController();
      const slow = client.callTool({ name: 'slow', arguments: { ms: 30_000 } }, undefined, {
        signal: controller.signal,
      });
      await waitFor(() => readMcpCallLog(file).calls.length === 2, {
        description: 'the slow call',
      });
      controller.abort();
      await expect(slow).rejects.toThrow();
      await waitFor(() => readMcpCallLog(file).cancelled.length === 1, {
        description: 'the cancellation',
      });
      const log = readMcpCallLog(file);
      expect(log.pids).toEqual([transport.pid]);
      expect(log.calls[0]).toEqual({
        tool: 'add',
        arguments: { a: 1, b: 1 },
        meta: { 'keel/runId': 'r' },
      });
    } finally {
      await client.close();
    }
  });
});
