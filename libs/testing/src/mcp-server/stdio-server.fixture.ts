/**
 * Fixture program: the test MCP server (see `createTestMcpServer`) over
 * stdio. Bundle it with `bundleMcpStdioServer()` and let an MCP client start
 * it as `node <bundle>`. It appends JSON lines (`McpCallLogLine`) to the file
 * `MCP_FIXTURE_CALLS_FILE` names: its pid when it starts, then every call and
 * every cancellation, synchronously (each line is on disk before the reply).
 * `MCP_FIXTURE_VERSION`, `MCP_FIXTURE_PAGE_SIZE` and `MCP_FIXTURE_EXTRA_TOOLS`
 * (comma-separated) set the server's options.
 */
import { appendFileSync } from 'node:fs';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { connectTestMcpServer, createTestMcpServer } from './test-tools';
import type { McpCallLogLine, RecordedMcpCall } from './types';

const file = process.env['MCP_FIXTURE_CALLS_FILE'];
const write = (line: McpCallLogLine) => {
  if (file) appendFileSync(file, `${JSON.stringify(line)}\n`);
};
const pageSize = process.env['MCP_FIXTURE_PAGE_SIZE'];
const extraTools = process.env['MCP_FIXTURE_EXTRA_TOOLS'];

const recorder = {
  call: (c: RecordedMcpCall) => write({ event: 'call', ...c }),
  cancelled: (c: RecordedMcpCall) => write({ event: 'cancelled', ...c }),
};
const mcp = createTestMcpServer(recorder, {
  version: process.env['MCP_FIXTURE_VERSION'] ?? '1.0.0',
  ...(pageSize ? { toolsPageSize: Number(pageSize) } : {}),
  ...(extraTools ? { extraTools: extraTools.split(',') } : {}),
});

write({ event: 'started', pid: process.pid });
// stdout is the protocol channel: anything human goes to stderr.
process.stderr.write(`keel test MCP server (stdio) started, pid ${process.pid}\n`);
connectTestMcpServer(mcp, new StdioServerTransport(), recorder).catch((err: unknown) => {
  process.stderr.write(`failed to start: ${String(err)}\n`);
  process.exit(1);
});
