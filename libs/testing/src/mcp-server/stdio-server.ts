import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { McpCallLogLine, RecordedMcpCall } from './types';

/** The stdio test MCP server's entry (TypeScript): bundle it before running it. */
export const MCP_STDIO_FIXTURE_ENTRY = join(__dirname, 'stdio-server.fixture.ts');

export interface BundledMcpStdioServer {
  /** The bundled `.js`: start it as `node <entry>`. */
  entry: string;
  /** Deletes the bundle (call in `afterAll`). */
  remove(): void;
}

/**
 * Bundles the stdio test MCP server (with esbuild, a dev dependency, loaded
 * only when this is called) into a `.js` an MCP client can start as
 * `node <entry>`. Environment: `MCP_FIXTURE_CALLS_FILE` (the call log, see
 * `readMcpCallLog`), `MCP_FIXTURE_VERSION`, `MCP_FIXTURE_PAGE_SIZE`,
 * `MCP_FIXTURE_EXTRA_TOOLS`.
 */
export async function bundleMcpStdioServer(): Promise<BundledMcpStdioServer> {
  const { bundleFixture } = await import('../fixtures/bundle-fixture');
  return bundleFixture(MCP_STDIO_FIXTURE_ENTRY);
}

export interface McpCallLog {
  /** Pids of every server process that started with this log, in order. */
  pids: number[];
  calls: RecordedMcpCall[];
  cancelled: RecordedMcpCall[];
}

/** Reads the stdio server's call log; a missing file is an empty log. */
export function readMcpCallLog(file: string): McpCallLog {
  const log: McpCallLog = { pids: [], calls: [], cancelled: [] };
  if (!existsSync(file)) return log;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as McpCallLogLine;
    if (entry.event === 'started') log.pids.push(entry.pid);
    else {
      const { event, ...call } = entry;
      (event === 'call' ? log.calls : log.cancelled).push(call);
    }
  }
  return log;
}
