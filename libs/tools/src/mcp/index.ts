export {
  DEFAULT_MCP_CONNECT_TIMEOUT_MS,
  DEFAULT_MCP_TIMEOUT_MS,
  McpConfigError,
  McpHttpServerSpec,
  McpServerName,
  McpServerSpec,
  McpStdioServerSpec,
  parseMcpServers,
  parseMcpServerSpecs,
  type McpServerSpecInput,
} from './spec';
export {
  connectMcpServers,
  McpStartupError,
  type ConnectMcpOptions,
  type McpToolSet,
} from './connect';
export type { McpLog } from './connection';
export { MCP_META_IDEMPOTENCY_KEY, MCP_META_RUN_ID, McpToolOutput } from './tool-from-mcp';
export { mcpPoolName, mcpToolName } from './names';
export {
  jsonSchemaValidation,
  type JsonSchemaEngine,
  type JsonSchemaValidation,
} from './json-schema-validator';
export type { JsonSchemaIssue } from './json-schema-subset';
