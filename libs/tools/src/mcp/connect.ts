import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { ToolDefinition } from '../tool-definition';
import { McpConnection, type McpLog } from './connection';
import { errorText } from './errors';
import { parseMcpServerSpecs, type McpServerSpecInput } from './spec';
import { toolFromMcp } from './tool-from-mcp';

/** The tools of a deployment's MCP servers, and the connections behind them. */
export interface McpToolSet {
  readonly tools: ToolDefinition[];
  /** Closes every connection: HTTP sessions are ended, stdio children stopped. */
  close(): Promise<void>;
}

export interface ConnectMcpOptions {
  log?: McpLog;
}

/** A server could not be reached, or its tools cannot be used: the service must not start. */
export class McpStartupError extends Error {
  override name = 'McpStartupError';
  readonly code = 'MCP_STARTUP_FAILED';
}

/** More pages than this from one `tools/list` means a server that never stops paging. */
const MAX_LIST_PAGES = 100;

/**
 * Connects to every server (in parallel), lists its tools (all pages) and
 * builds a `ToolDefinition` per tool. Fails — after closing whatever it had
 * opened — if any server cannot be reached or listed, or two tools end up with
 * the same Keel name: a missing tool server is a deployment error.
 */
export async function connectMcpServers(
  specs: readonly McpServerSpecInput[],
  opts: ConnectMcpOptions = {},
): Promise<McpToolSet> {
  const connections = parseMcpServerSpecs(specs).map((s) => new McpConnection(s, opts.log));
  const closeAll = async () => {
    await Promise.all(connections.map((c) => c.close()));
  };

  const listed = await Promise.allSettled(connections.map((c) => listAllTools(c)));
  const failures = listed.flatMap((r, i) =>
    r.status === 'rejected' ? [startupFailure(connections[i]!, r.reason)] : [],
  );
  if (failures.length > 0) {
    await closeAll();
    throw new McpStartupError(failures.join('; '));
  }

  const tools: ToolDefinition[] = [];
  const origin = new Map<string, string>();
  try {
    for (const [i, result] of listed.entries()) {
      const connection = connections[i]!;
      const before = tools.length;
      for (const tool of (result as PromiseFulfilledResult<Tool[]>).value) {
        if (tool.execution?.taskSupport === 'required') {
          opts.log?.('mcp tool skipped: it requires task-based calls, which Keel does not make', {
            server: connection.spec.name,
            tool: tool.name,
          });
          continue;
        }
        const def = toolFromMcp(tool, connection, opts.log);
        const from = `'${tool.name}' of MCP server '${connection.spec.name}'`;
        const clash = origin.get(def.name);
        if (clash) {
          throw new McpStartupError(
            `tool name '${def.name}' is given to both ${clash} and ${from}; rename one of them`,
          );
        }
        origin.set(def.name, from);
        tools.push(def);
      }
      opts.log?.('mcp server connected', {
        server: connection.spec.name,
        transport: connection.spec.transport,
        version: connection.server.version,
        tools: tools.length - before,
      });
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { tools, close: closeAll };
}

async function listAllTools(connection: McpConnection): Promise<Tool[]> {
  const client = await connection.client();
  const tools: Tool[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const result = await client.listTools(cursor === undefined ? undefined : { cursor }, {
      timeout: connection.spec.connectTimeoutMs,
    });
    tools.push(...result.tools);
    cursor = result.nextCursor;
    if (cursor === undefined) return tools;
    if (seen.has(cursor)) throw new Error(`tools/list repeated the cursor '${cursor}'`);
    seen.add(cursor);
  }
  throw new Error(`tools/list returned more than ${MAX_LIST_PAGES} pages`);
}

function startupFailure(connection: McpConnection, reason: unknown): string {
  const message = errorText(reason);
  const stderr = connection.recentStderr;
  return (
    `MCP server '${connection.spec.name}' (${connection.target}) could not be reached: ${message}` +
    (stderr ? ` — its stderr ends: ${stderr.slice(-500)}` : '')
  );
}
