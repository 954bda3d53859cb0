import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical-json';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { SideEffect, ToolError, type ToolDefinition } from '../tool-definition';
import type { McpConnection, McpLog } from './connection';
import { classifyMcpError, toolErrorText } from './errors';
import { jsonSchemaValidation } from './json-schema-validator';
import { mcpPoolName, mcpToolName } from './names';

/** `_meta` keys Keel adds to every `tools/call`. */
export const MCP_META_IDEMPOTENCY_KEY = 'keel/idempotencyKey';
export const MCP_META_RUN_ID = 'keel/runId';

/** What an MCP tool returns in Keel: the call result's content, and its structured content if any. */
export const McpToolOutput = z.looseObject({
  content: z.array(z.unknown()),
  structuredContent: z.record(z.string(), z.unknown()).optional(),
});
export type McpToolOutput = z.infer<typeof McpToolOutput>;

/**
 * The `ToolDefinition` of one tool a server listed. Input is checked against
 * the server's JSON Schema before any call; the JSON Schema itself is what
 * the model is offered (`inputJsonSchema`).
 */
export function toolFromMcp(
  tool: Tool,
  connection: McpConnection,
  log?: McpLog,
): ToolDefinition<z.ZodType<Record<string, unknown>>, z.ZodType<McpToolOutput>> {
  const { spec } = connection;
  const name = mcpToolName(spec.name, tool.name);
  const inputJsonSchema = tool.inputSchema as Record<string, unknown>;
  const input = jsonSchemaValidation(inputJsonSchema);
  if (input.engine === 'subset') {
    log?.('mcp tool input schema: zod cannot convert it; checking a subset of it', {
      server: spec.name,
      tool: tool.name,
      reason: input.fallbackReason,
    });
  }
  const timeoutMs = spec.timeoutMs;

  return {
    name,
    version: `${connection.server.version}+${schemaHash(tool)}`,
    description: tool.description ?? tool.title ?? tool.annotations?.title ?? '',
    pool: mcpPoolName(spec.name),
    // Every tool of a server depends on that server: one breaker for all of them.
    breakerKey: mcpPoolName(spec.name),
    sideEffect:
      spec.sideEffect ??
      (tool.annotations?.readOnlyHint === true ? SideEffect.Read : SideEffect.Write),
    timeoutMs,
    input: input.schema,
    output: outputSchema(tool),
    inputJsonSchema,
    async execute(args, ctx) {
      let client: Client | undefined;
      try {
        client = await connection.client();
        const result = await client.callTool(
          {
            name: tool.name,
            arguments: args,
            _meta: { [MCP_META_IDEMPOTENCY_KEY]: ctx.idempotencyKey, [MCP_META_RUN_ID]: ctx.runId },
          },
          undefined,
          { signal: ctx.signal, timeout: timeoutMs },
        );
        const content = Array.isArray(result.content) ? (result.content as unknown[]) : [];
        if (result.isError === true) {
          throw new ToolError('MCP_TOOL_ERROR', toolErrorText(content), 'permanent');
        }
        const structured = result.structuredContent;
        return structured === undefined
          ? { content }
          : { content, structuredContent: structured as Record<string, unknown> };
      } catch (err) {
        const failure = classifyMcpError(err, {
          server: spec.name,
          tool: name,
          timeoutMs,
          signal: ctx.signal,
        });
        if (failure.reconnect) await connection.reset(client);
        throw failure.error;
      }
    },
  };
}

/**
 * A short hash of what the model sees of a tool (description and input
 * schema), so that a change shows in the tool versions recorded with each
 * decision even when the server's own version stays the same.
 */
export function schemaHash(tool: Pick<Tool, 'description' | 'inputSchema'>): string {
  const text = canonicalJson({ description: tool.description ?? null, input: tool.inputSchema });
  return createHash('sha256').update(text).digest('hex').slice(0, 10);
}

/** The loose output shape; with the tool's `outputSchema`, `structuredContent` is required and checked. */
function outputSchema(tool: Tool): z.ZodType<McpToolOutput> {
  if (!tool.outputSchema) return McpToolOutput;
  return McpToolOutput.extend({
    structuredContent: jsonSchemaValidation(tool.outputSchema as Record<string, unknown>).schema,
  });
}
