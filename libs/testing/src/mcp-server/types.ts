/** One `tools/call` the test MCP server received, as it arrived. */
export interface RecordedMcpCall {
  readonly tool: string;
  readonly arguments: Record<string, unknown>;
  /** The request's `_meta` (Keel puts `keel/idempotencyKey` and `keel/runId` there). */
  readonly meta: Record<string, unknown>;
}

/** A line of the stdio server's call log (`MCP_FIXTURE_CALLS_FILE`), JSON per line. */
export type McpCallLogLine =
  | { event: 'started'; pid: number }
  | ({ event: 'call' } & RecordedMcpCall)
  /** A call whose cancellation (`notifications/cancelled`) reached the tool. */
  | ({ event: 'cancelled' } & RecordedMcpCall);

export interface McpTestServerOptions {
  /** The version the server gives in `initialize`. Default `1.0.0`. */
  version?: string;
  /** Serve `tools/list` in pages of this many tools (to exercise cursors). Default: one page. */
  toolsPageSize?: number;
  /** More tools, each `{ text }` → the text (e.g. to make names clash, or to be long). */
  extraTools?: string[];
}

/** Where the test server reports what it received. */
export interface McpCallRecorder {
  call(call: RecordedMcpCall): void;
  cancelled(call: RecordedMcpCall): void;
}
