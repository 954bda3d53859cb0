import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// A test-only dependency on the test kit (which does not depend on @keel/tools).
// eslint-disable-next-line @nx/enforce-module-boundaries
import {
  bundleMcpStdioServer,
  MCP_FAIL_TEXT,
  readMcpCallLog,
  startMcpHttpServer,
  waitFor,
  type BundledMcpStdioServer,
  type McpHttpServer,
  type RecordedMcpCall,
} from '@keel/testing';
import {
  ToolError,
  type PoolResources,
  type ToolContext,
  type ToolDefinition,
} from '../tool-definition';
import { connectMcpServers, type McpToolSet } from './connect';
import type { McpServerSpecInput } from './spec';

/**
 * MCP tools against the real test server, over stdio (a child process) and
 * Streamable HTTP (in this process): listing, validation, calls, failures.
 */

const SERVER_VERSION = '1.2.3';

interface Harness {
  spec(extra?: Partial<McpServerSpecInput>): McpServerSpecInput;
  /** What the server received so far. */
  received(): { calls: RecordedMcpCall[]; cancelled: RecordedMcpCall[] };
  /** The server goes away abruptly (stdio: SIGKILL; HTTP: the server closes). */
  kill(): Promise<void>;
  /** It is back (stdio: nothing to do, the client starts a new child; HTTP: listens again, same port). */
  revive(): Promise<void>;
  /**
   * What a call in flight when the server dies fails with. stdio: the pipe
   * closes at once. HTTP: the SDK does not notice a cut response stream, so
   * the call waits for its timeout.
   */
  midCallFailure: 'MCP_UNAVAILABLE' | 'MCP_TIMEOUT';
  /** Whether the connection's server side is gone after `close()` (stdio: child exited; HTTP: session ended). */
  closedProperly(): Promise<boolean>;
  teardown(): Promise<void>;
}

function stdioHarness(bundle: BundledMcpStdioServer): Harness & { pids(): number[] } {
  const dir = mkdtempSync(join(tmpdir(), 'keel-mcp-'));
  const file = join(dir, 'calls.jsonl');
  const log = () => readMcpCallLog(file);
  const lastPid = () => log().pids.at(-1);
  return {
    midCallFailure: 'MCP_UNAVAILABLE',
    pids: () => log().pids,
    spec: (extra = {}) =>
      ({
        name: 'shop',
        transport: 'stdio',
        command: process.execPath,
        args: [bundle.entry],
        env: { MCP_FIXTURE_CALLS_FILE: file, MCP_FIXTURE_VERSION: SERVER_VERSION },
        ...extra,
      }) as McpServerSpecInput,
    received: () => log(),
    kill: async () => {
      const pid = lastPid()!;
      process.kill(pid, 'SIGKILL');
      await waitFor(() => !alive(pid), { description: `stdio server ${pid} to die` });
    },
    revive: () => Promise.resolve(),
    closedProperly: async () => {
      const pid = lastPid()!;
      await waitFor(() => !alive(pid), { description: `stdio server ${pid} to exit` });
      return true;
    },
    teardown: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

async function httpHarness(): Promise<Harness> {
  let server: McpHttpServer = await startMcpHttpServer({ version: SERVER_VERSION });
  const port = server.port;
  let calls: RecordedMcpCall[] = [];
  let cancelled: RecordedMcpCall[] = [];
  return {
    midCallFailure: 'MCP_TIMEOUT',
    spec: (extra = {}) =>
      ({ name: 'shop', transport: 'http', url: server.url, ...extra }) as McpServerSpecInput,
    received: () => ({
      calls: [...calls, ...server.calls],
      cancelled: [...cancelled, ...server.cancelled],
    }),
    kill: async () => {
      calls = [...calls, ...server.calls];
      cancelled = [...cancelled, ...server.cancelled];
      await server.close();
    },
    revive: async () => {
      server = await startMcpHttpServer({ version: SERVER_VERSION, port });
    },
    closedProperly: async () => {
      await waitFor(() => server.sessionCount() === 0, { description: 'the HTTP session to end' });
      return true;
    },
    teardown: () => server.close(),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Swallows the connections' logs (stdio servers' stderr included). */
const quiet = (): void => undefined;

let seq = 0;
function ctx(overrides: Partial<ToolContext> = {}): ToolContext {
  seq += 1;
  return {
    signal: new AbortController().signal,
    idempotencyKey: `run-mcp:${seq}:0`,
    runId: 'run-mcp',
    tenant: 'acme',
    attempt: 1,
    resources: {} as PoolResources,
    deliver: () => {
      throw new Error('MCP tools do not ask for deliveries');
    },
    ...overrides,
  };
}

const byName = (set: McpToolSet, name: string): ToolDefinition => {
  const tool = set.tools.find((t) => t.name === name);
  if (!tool) throw new Error(`no tool ${name} in ${set.tools.map((t) => t.name).join(', ')}`);
  return tool;
};

async function failure(promise: Promise<unknown>): Promise<ToolError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ToolError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/**
 * Retries transient failures the way the executor does (a few attempts): the
 * first call after a server came back may still meet a connection the old
 * one left behind.
 */
async function withRetries<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !(err instanceof ToolError) || err.errorClass !== 'transient') throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

let bundle: BundledMcpStdioServer;
beforeAll(async () => {
  bundle = await bundleMcpStdioServer();
}, 60_000);
afterAll(() => bundle?.remove());

describe.each([
  ['stdio', () => Promise.resolve(stdioHarness(bundle))],
  ['http', () => httpHarness()],
] as const)('MCP tools over %s', (_transport, makeHarness) => {
  let h: Harness;
  let set: McpToolSet;
  const logs: { msg: string; fields: Record<string, unknown> }[] = [];
  const log = (msg: string, fields: Record<string, unknown>) => logs.push({ msg, fields });

  beforeEach(async () => {
    h = await makeHarness();
    set = await connectMcpServers([h.spec()], { log });
  });
  afterEach(async () => {
    await set?.close();
    await h.teardown();
  });

  it('lists every tool with its Keel name, pool, version, side effect and JSON Schema', () => {
    expect(set.tools.map((t) => t.name)).toEqual([
      'mcp_shop_add',
      'mcp_shop_lookup_order',
      'mcp_shop_fail',
      'mcp_shop_slow',
      'mcp_shop_echo_text_v2',
    ]);
    for (const t of set.tools) {
      expect(t.pool).toBe('mcp-shop');
      expect(t.breakerKey).toBe('mcp-shop');
      expect(t.timeoutMs).toBe(30_000);
      expect(t.version).toMatch(/^1\.2\.3\+[0-9a-f]{10}$/);
    }
    expect(new Set(set.tools.map((t) => t.version)).size).toBe(set.tools.length);
    const lookup = byName(set, 'mcp_shop_lookup_order');
    expect(lookup.sideEffect).toBe('read');
    expect(lookup.description).toBe('Look up an order by its id.');
    expect(lookup.inputJsonSchema).toMatchObject({
      type: 'object',
      properties: { orderId: { type: 'string', pattern: '^ord_[0-9]{4}$' } },
      required: ['orderId'],
      additionalProperties: false,
    });
    expect(byName(set, 'mcp_shop_add').sideEffect).toBe('write');
    expect(byName(set, 'mcp_shop_add').inputJsonSchema).toMatchObject({
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number' } },
      required: ['a', 'b'],
    });
  });

  it('validates input against the JSON Schema, with paths, before anything reaches the server', () => {
    const add = byName(set, 'mcp_shop_add');
    expect(add.input.safeParse({ a: 1, b: 2 }).success).toBe(true);
    const bad = add.input.safeParse({ a: 'one' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path)).toEqual([['a'], ['b']]);

    const lookup = byName(set, 'mcp_shop_lookup_order');
    expect(lookup.input.safeParse({ orderId: 'ord_1234' }).success).toBe(true);
    const wrong = lookup.input.safeParse({ orderId: 'secret-value', extra: 1 });
    expect(wrong.error!.issues.map((i) => i.path)).toEqual([['orderId'], []]);
    expect(JSON.stringify(wrong.error!.issues)).not.toContain('secret-value');
    expect(lookup.input.safeParse('not an object').success).toBe(false);

    expect(h.received().calls).toEqual([]);
  });

  it('calls the tool and returns content and structured content; _meta carries the idempotency key', async () => {
    const add = byName(set, 'mcp_shop_add');
    const c = ctx();
    const output = await add.execute(add.input.parse({ a: 2, b: 3 }), c);
    expect(output).toEqual({
      content: [{ type: 'text', text: '5' }],
      structuredContent: { sum: 5 },
    });
    expect(add.output.safeParse(output).success).toBe(true);

    const lookup = byName(set, 'mcp_shop_lookup_order');
    const found = (await lookup.execute({ orderId: 'ord_0042' }, ctx())) as { content: unknown[] };
    expect(found.content).toEqual([
      { type: 'text', text: JSON.stringify({ orderId: 'ord_0042', status: 'shipped' }) },
    ]);

    const calls = h.received().calls;
    expect(calls).toHaveLength(2);
    expect(calls[0]).toEqual({
      tool: 'add',
      arguments: { a: 2, b: 3 },
      meta: { 'keel/idempotencyKey': c.idempotencyKey, 'keel/runId': 'run-mcp' },
    });
    expect(calls[1]!.tool).toBe('lookup_order');
  });

  it('calls a tool by its server name even when Keel renamed it', async () => {
    const echo = byName(set, 'mcp_shop_echo_text_v2');
    await expect(echo.execute({ text: 'hi' }, ctx())).resolves.toEqual({
      content: [{ type: 'text', text: 'hi' }],
    });
    expect(h.received().calls.map((c) => c.tool)).toEqual(['Echo-Text.v2']);
  });

  it('turns an isError result into a permanent MCP_TOOL_ERROR with the tool’s text', async () => {
    const err = await failure(byName(set, 'mcp_shop_fail').execute({}, ctx()));
    expect(err.code).toBe('MCP_TOOL_ERROR');
    expect(err.errorClass).toBe('permanent');
    expect(err.message).toBe(MCP_FAIL_TEXT);
  });

  it('aborts a call past its timeout (transient) and the server sees the cancellation', async () => {
    await set.close();
    set = await connectMcpServers([h.spec({ timeoutMs: 300 })], { log });
    const started = Date.now();
    const err = await failure(byName(set, 'mcp_shop_slow').execute({ ms: 20_000 }, ctx()));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err.code).toBe('MCP_TIMEOUT');
    expect(err.errorClass).toBe('transient');
    await waitFor(() => h.received().cancelled.length === 1, {
      description: 'the server to see the cancellation',
    });
    // The connection is still good after a timeout.
    await expect(byName(set, 'mcp_shop_add').execute({ a: 1, b: 1 }, ctx())).resolves.toMatchObject(
      { structuredContent: { sum: 2 } },
    );
  });

  it('stops when the call’s signal aborts (the executor’s timeout): transient', async () => {
    const signal = AbortSignal.timeout(200);
    const err = await failure(
      byName(set, 'mcp_shop_slow').execute({ ms: 20_000 }, ctx({ signal })),
    );
    expect(err.code).toBe('MCP_ABORTED');
    expect(err.errorClass).toBe('transient');
    await waitFor(() => h.received().cancelled.length === 1, {
      description: 'the server to see the cancellation',
    });
  });

  it('fails transiently when the server dies mid-call, and works again once it is back', async () => {
    await set.close();
    set = await connectMcpServers([h.spec({ timeoutMs: 1500 })], { log });
    const call = byName(set, 'mcp_shop_slow').execute({ ms: 20_000 }, ctx());
    await waitFor(() => h.received().calls.length === 1, { description: 'the call to arrive' });
    await h.kill();
    const err = await failure(call);
    expect(err.errorClass).toBe('transient');
    expect(err.code).toBe(h.midCallFailure);

    await h.revive();
    const add = byName(set, 'mcp_shop_add');
    await expect(withRetries(() => add.execute({ a: 1, b: 2 }, ctx()))).resolves.toMatchObject({
      structuredContent: { sum: 3 },
    });
  });

  it('close() ends the connection on the server side', async () => {
    await byName(set, 'mcp_shop_add').execute({ a: 1, b: 2 }, ctx());
    await set.close();
    await expect(h.closedProperly()).resolves.toBe(true);
    const err = await failure(byName(set, 'mcp_shop_add').execute({ a: 1, b: 2 }, ctx()));
    expect(err.errorClass).toBe('transient');
  });
});

describe('MCP tools over stdio: the child process', () => {
  it('starts a new child on the next call after the old one died', async () => {
    const h = stdioHarness(bundle);
    const set = await connectMcpServers([h.spec()], { log: quiet });
    try {
      const add = byName(set, 'mcp_shop_add');
      await add.execute({ a: 1, b: 1 }, ctx());
      await h.kill();
      await expect(add.execute({ a: 2, b: 2 }, ctx())).resolves.toMatchObject({
        structuredContent: { sum: 4 },
      });
      expect(h.received().calls).toHaveLength(2);
      expect(h.pids()).toHaveLength(2);
    } finally {
      await set.close();
      await h.teardown();
    }
  });
});

describe('MCP tools over HTTP: the server is down', () => {
  it('fails transiently while the server does not answer', async () => {
    const h = await httpHarness();
    const set = await connectMcpServers([h.spec()], { log: quiet });
    try {
      await h.kill();
      const err = await failure(byName(set, 'mcp_shop_add').execute({ a: 1, b: 2 }, ctx()));
      expect(err.code).toBe('MCP_UNAVAILABLE');
      expect(err.errorClass).toBe('transient');
      expect(err.message).toContain("MCP server 'shop'");
      expect(err.message).not.toContain('{');
    } finally {
      await set.close();
      await h.teardown();
    }
  });
});

describe('connectMcpServers', () => {
  let http: McpHttpServer | undefined;
  afterEach(async () => {
    await http?.close();
    http = undefined;
  });

  it('follows tools/list cursors across pages (stdio)', async () => {
    const set = await connectMcpServers(
      [
        {
          name: 'paged',
          transport: 'stdio',
          command: process.execPath,
          args: [bundle.entry],
          env: { MCP_FIXTURE_PAGE_SIZE: '2' },
        },
      ],
      { log: quiet },
    );
    try {
      expect(set.tools.map((t) => t.name)).toEqual([
        'mcp_paged_add',
        'mcp_paged_lookup_order',
        'mcp_paged_fail',
        'mcp_paged_slow',
        'mcp_paged_echo_text_v2',
      ]);
      const add = byName(set, 'mcp_paged_add');
      await expect(add.execute({ a: 4, b: 5 }, ctx())).resolves.toMatchObject({
        structuredContent: { sum: 9 },
      });
    } finally {
      await set.close();
    }
  });

  it('refuses to start when a server cannot be reached, naming it', async () => {
    http = await startMcpHttpServer();
    const deadUrl = http.url;
    await http.close();
    http = undefined;
    const attempt = connectMcpServers(
      [
        { name: 'gone', transport: 'http', url: `${deadUrl}?token=secret` },
        {
          name: 'broken',
          transport: 'stdio',
          command: process.execPath,
          args: ['-e', 'console.error("boom: no config"); process.exit(3)'],
        },
      ],
      { log: quiet },
    );
    await expect(attempt).rejects.toMatchObject({ name: 'McpStartupError' });
    const message = ((await attempt.catch((e: unknown) => e)) as Error).message;
    expect(message).toContain("MCP server 'gone' (http: http://127.0.0.1:");
    expect(message).toContain("MCP server 'broken' (stdio: ");
    expect(message).toContain('boom: no config');
    expect(message).not.toContain('secret');
  });

  it('refuses two tools that end up with the same Keel name', async () => {
    http = await startMcpHttpServer({ extraTools: ['echo_text_v2'] });
    await expect(
      connectMcpServers([{ name: 'dup', transport: 'http', url: http.url }], { log: quiet }),
    ).rejects.toThrow(
      "tool name 'mcp_dup_echo_text_v2' is given to both 'Echo-Text.v2' of MCP server 'dup' and 'echo_text_v2' of MCP server 'dup'",
    );
    await waitFor(() => http!.sessionCount() === 0, { description: 'the refused session to end' });
  });

  it('cuts long names to the ToolName limit and applies a configured side effect', async () => {
    http = await startMcpHttpServer({ extraTools: ['x'.repeat(80)] });
    const set = await connectMcpServers(
      [{ name: 'long', transport: 'http', url: http.url, sideEffect: 'read' }],
      { log: quiet },
    );
    try {
      const long = set.tools.find((t) => t.name.startsWith('mcp_long_x'))!;
      expect(long.name).toHaveLength(64);
      expect(long.name).toMatch(/^[a-z][a-z0-9_]{0,63}$/);
      expect(set.tools.every((t) => t.sideEffect === 'read')).toBe(true);
      await expect(long.execute({ text: 'ok' }, ctx())).resolves.toEqual({
        content: [{ type: 'text', text: 'ok' }],
      });
    } finally {
      await set.close();
    }
  });
});
