import { setTimeout as sleep } from 'node:timers/promises';
import { McpServer, type RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  isJSONRPCRequest,
  ListToolsRequestSchema,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { McpCallRecorder, McpTestServerOptions } from './types';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** The tools every test MCP server offers (stdio and HTTP alike). */
export const MCP_TEST_TOOLS = ['add', 'lookup_order', 'fail', 'slow', 'Echo-Text.v2'] as const;

/** The text the `fail` tool returns with `isError: true`. */
export const MCP_FAIL_TEXT = 'the warehouse refused the request';

/**
 * A real MCP server (the SDK's `McpServer`) with the test tools:
 * - `add` {a, b: number} → text and structuredContent `{ sum }` (declares an output schema);
 * - `lookup_order` {orderId: `ord_` + 4 digits}, `readOnlyHint: true` → an order;
 * - `fail` {} → `isError: true` with `MCP_FAIL_TEXT`;
 * - `slow` {ms} → waits, ending early (and recording it) when the call is cancelled;
 * - `Echo-Text.v2` {text} → the text (a name Keel must sanitise).
 * Connect it with `connectTestMcpServer`, which records every call as it
 * arrives, before the server checks its arguments.
 */
export function createTestMcpServer(
  recorder: McpCallRecorder,
  options: McpTestServerOptions = {},
): McpServer {
  const mcp = new McpServer({ name: 'keel-test-mcp', version: options.version ?? '1.0.0' });
  const text = (t: string) => ({ type: 'text' as const, text: t });
  const tools: Record<string, RegisteredTool> = {};

  tools['add'] = mcp.registerTool(
    'add',
    {
      description: 'Add two numbers.',
      inputSchema: z.object({ a: z.number(), b: z.number() }),
      outputSchema: z.object({ sum: z.number() }),
    },
    (args) => {
      const sum = args.a + args.b;
      return { content: [text(String(sum))], structuredContent: { sum } };
    },
  );
  tools['lookup_order'] = mcp.registerTool(
    'lookup_order',
    {
      description: 'Look up an order by its id.',
      inputSchema: z.object({ orderId: z.string().regex(/^ord_[0-9]{4}$/) }).strict(),
      annotations: { readOnlyHint: true },
    },
    (args) => ({
      content: [text(JSON.stringify({ orderId: args.orderId, status: 'shipped' }))],
    }),
  );
  tools['fail'] = mcp.registerTool(
    'fail',
    { description: 'Always fails.', inputSchema: z.object({}) },
    () => ({ content: [text(MCP_FAIL_TEXT)], isError: true }),
  );
  tools['slow'] = mcp.registerTool(
    'slow',
    {
      description: 'Wait `ms` milliseconds, or until the call is cancelled.',
      inputSchema: z.object({ ms: z.number().int().min(0).max(600_000) }),
    },
    async (args, extra: Extra) => {
      try {
        await sleep(args.ms, undefined, { signal: extra.signal });
      } catch {
        recorder.cancelled({ tool: 'slow', arguments: args, meta: { ...(extra._meta ?? {}) } });
        return { content: [text('cancelled')], isError: true };
      }
      return { content: [text(`waited ${args.ms} ms`)] };
    },
  );
  tools['Echo-Text.v2'] = mcp.registerTool(
    'Echo-Text.v2',
    { description: 'Echo a text.', inputSchema: z.object({ text: z.string().max(1000) }) },
    (args) => ({ content: [text(args.text)] }),
  );

  for (const name of options.extraTools ?? []) {
    tools[name] = mcp.registerTool(
      name,
      { description: 'Echo a text.', inputSchema: z.object({ text: z.string() }) },
      (args) => ({ content: [text(args.text)] }),
    );
  }
  if (options.toolsPageSize !== undefined) paginateToolList(mcp, tools, options.toolsPageSize);
  return mcp;
}

/**
 * Connects `mcp` to `transport`, recording each `tools/call` request as it
 * arrives (before `McpServer` validates it: a call with bad arguments that
 * reaches the server is recorded too).
 */
export async function connectTestMcpServer(
  mcp: McpServer,
  transport: Transport,
  recorder: McpCallRecorder,
): Promise<void> {
  // `connect` keeps a handler already set and calls it before its own.
  transport.onmessage = (message) => {
    if (!isJSONRPCRequest(message) || message.method !== 'tools/call') return;
    const params = (message.params ?? {}) as {
      name?: unknown;
      arguments?: Record<string, unknown>;
      _meta?: Record<string, unknown>;
    };
    recorder.call({
      tool: String(params.name),
      arguments: params.arguments ?? {},
      meta: params._meta ?? {},
    });
  };
  await mcp.connect(transport);
}

/**
 * Replaces `McpServer`'s one-page `tools/list` with a paged one (cursor = the
 * next offset), listing the tools the way `McpServer` does.
 */
function paginateToolList(
  mcp: McpServer,
  tools: Record<string, RegisteredTool>,
  pageSize: number,
): void {
  const listed: Tool[] = Object.entries(tools).map(([name, t]) => ({
    name,
    description: t.description,
    inputSchema: jsonSchemaOf(t.inputSchema, 'input') as Tool['inputSchema'],
    ...(t.outputSchema
      ? { outputSchema: jsonSchemaOf(t.outputSchema, 'output') as Tool['inputSchema'] }
      : {}),
    ...(t.annotations ? { annotations: t.annotations } : {}),
    ...(t.execution ? { execution: t.execution } : {}),
  }));
  mcp.server.removeRequestHandler('tools/list');
  mcp.server.setRequestHandler(ListToolsRequestSchema, (request) => {
    const start = Number(request.params?.cursor ?? 0);
    const end = start + pageSize;
    return {
      tools: listed.slice(start, end),
      ...(end < listed.length ? { nextCursor: String(end) } : {}),
    };
  });
}

/** How `McpServer` turns a zod v4 schema into the JSON Schema it lists. */
const jsonSchemaOf = (schema: unknown, io: 'input' | 'output'): Record<string, unknown> =>
  z.toJSONSchema(schema as z.ZodType, { target: 'draft-7', io });
