import type { Logger } from 'pino';
import { connectMcpServers, parseMcpServers, type McpToolSet } from '@keel/tools';

/**
 * The tools of the MCP servers in `KEEL_MCP_SERVERS` (JSON; empty: none).
 * A server that cannot be reached stops start-up: a missing tool server is a
 * deployment error, not something to find out in the middle of a run.
 */
export async function loadMcpTools(json: string | undefined, log: Logger): Promise<McpToolSet> {
  const specs = parseMcpServers(json ?? '');
  const set = await connectMcpServers(specs, {
    log: (msg, fields) => log.info({ component: 'mcp', ...fields }, msg),
  });
  if (specs.length > 0)
    log.info(
      { servers: specs.map((s) => s.name), tools: set.tools.map((t) => t.name) },
      'MCP tools loaded',
    );
  return set;
}
