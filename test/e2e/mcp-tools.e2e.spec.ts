import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bundleMcpStdioServer,
  finalReply,
  readMcpCallLog,
  startMcpHttpServer,
  startScriptedModel,
  toolCallsReply,
  type BundledMcpStdioServer,
  type McpHttpServer,
  type ScriptedModel,
} from '@keel/testing';
import {
  eventsOfRun,
  requestsOf,
  Scenarios,
  submitRun,
  textOf,
  waitForEvent,
} from '../support/scenarios';
import { startStack, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

/**
 * Tools from real MCP servers — one a child process over stdio, one over
 * streamable HTTP — listed into both services' registries, offered to the
 * model with their own JSON schemas, run by the tool executor in their own
 * pools under the same rules as built-in tools.
 */
describe('MCP tools', () => {
  const scenarios = new Scenarios();
  const callsFile = join(mkdtempSync(join(tmpdir(), 'keel-mcp-')), 'calls.jsonl');
  let fixture: BundledMcpStdioServer;
  let remote: McpHttpServer;
  let model: ScriptedModel;
  let stack: KeelStack;

  beforeAll(async () => {
    fixture = await bundleMcpStdioServer();
    remote = await startMcpHttpServer();
    model = await startScriptedModel(scenarios.script);
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      env: {
        KEEL_REVIEW_ENABLED: 'false',
        KEEL_MCP_SERVERS: JSON.stringify([
          {
            name: 'shop',
            transport: 'stdio',
            command: process.execPath,
            args: [fixture.entry],
            env: { MCP_FIXTURE_CALLS_FILE: callsFile },
          },
          { name: 'remote', transport: 'http', url: remote.url },
        ]),
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
    await remote?.close();
    fixture?.remove();
  });

  const oneCall = (name: string, tool: string, input: Record<string, unknown>) =>
    scenarios.add(name, (req) =>
      req.messages.some((m) => m.role === 'tool')
        ? finalReply(`tool said: ${textOf(req.messages.at(-1))}`)
        : toolCallsReply([{ name: tool, arguments: input }]),
    );

  it('a stdio MCP tool is offered with its schema, runs in its own pool and gets the idempotency key', async () => {
    const name = oneCall('mcp-add', 'mcp_shop_add', { a: 2, b: 3 });
    const run = await submitRun(stack, name, { tools: ['mcp_shop_add'] });
    const events = await waitForEvent(stack.pool, run.runId);
    expect(events.at(-1)!.type).toBe('RunCompleted');
    const requested = events.find((e) => e.type === 'ToolCallRequested')!.data;
    expect(requested).toMatchObject({ tool: 'mcp_shop_add', pool: 'mcp-shop' });
    const calls = await eventsOfRun(stack.pool, run.runId, 'toolcall');
    expect(calls.at(-1)).toMatchObject({
      type: 'ToolCallSucceeded',
      data: { output: { structuredContent: { sum: 5 } } },
    });
    // The model saw the server's own JSON schema.
    const offered = requestsOf(model, name)[0]!.body.tools![0]!.function;
    expect(offered.name).toBe('mcp_shop_add');
    expect(offered.parameters).toMatchObject({ properties: { a: {}, b: {} } });
    // The server got the call with Keel's idempotency key for the logical step.
    const log = readMcpCallLog(callsFile);
    const call = log.calls.find((c) => c.tool === 'add' && c.arguments.a === 2);
    expect(call?.arguments).toEqual({ a: 2, b: 3 });
    expect(call?.meta['keel/idempotencyKey']).toBe(`${run.runId}:1:0`);
    expect(call?.meta['keel/runId']).toBe(run.runId);
  });

  it('invalid input for an MCP tool is rejected before it reaches the server', async () => {
    const before = readMcpCallLog(callsFile).calls.length;
    const name = oneCall('mcp-bad', 'mcp_shop_add', { a: 'two', b: 3 });
    const run = await submitRun(stack, name, { tools: ['mcp_shop_add'] });
    await waitForEvent(stack.pool, run.runId);
    const calls = await eventsOfRun(stack.pool, run.runId, 'toolcall');
    expect(calls.at(-1)).toMatchObject({
      type: 'ToolCallRejected',
      data: { error: { code: 'INVALID_INPUT' } },
    });
    expect(readMcpCallLog(callsFile).calls).toHaveLength(before);
  });

  it('an MCP tool over streamable HTTP works the same way', async () => {
    const name = oneCall('mcp-remote', 'mcp_remote_lookup_order', { orderId: 'ord_1234' });
    const run = await submitRun(stack, name, { tools: ['mcp_remote_lookup_order'] });
    const events = await waitForEvent(stack.pool, run.runId);
    expect(events.at(-1)!.type).toBe('RunCompleted');
    expect(remote.calls).toContainEqual(
      expect.objectContaining({ tool: 'lookup_order', arguments: { orderId: 'ord_1234' } }),
    );
  });
});
