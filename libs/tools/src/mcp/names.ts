/** Longest tool name Keel accepts (`ToolName` in @keel/contracts). */
export const MAX_TOOL_NAME_LENGTH = 64;

/**
 * Keel's name for an MCP tool: `mcp_<server>_<tool>`, lower-cased, every
 * character outside `[a-z0-9_]` replaced by `_`, cut to 64 characters. Two
 * tools can end up with the same name (`Get-Order` and `get_order`, or names
 * that differ only past the cut); `connectMcpServers` refuses that.
 */
export function mcpToolName(server: string, tool: string): string {
  const name = `mcp_${server}_${tool}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return name.slice(0, MAX_TOOL_NAME_LENGTH);
}

/** The pool (bulkhead) of a server's tools: each server is its own. */
export const mcpPoolName = (server: string): string => `mcp-${server}`;
