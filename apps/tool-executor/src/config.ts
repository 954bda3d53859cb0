import { z } from 'zod';
import { BaseConfig } from '@keel/runtime';

export const ToolExecutorConfig = BaseConfig.extend({
  /** In-flight tool calls per pool per replica (the bulkhead). */
  KEEL_POOL_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(32),
  /** PostgreSQL connections of each pool's own database pool (for tools that use one). */
  KEEL_POOL_DB_CONNECTIONS: z.coerce.number().int().min(1).max(100).default(2),
  /** Consecutive transient failures that open a tool's (or dependency's) breaker. */
  KEEL_TOOL_BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
  KEEL_TOOL_BREAKER_COOLDOWN_MS: z.coerce.number().int().min(0).default(30_000),
  /** Retries all tool calls of one run may have together. */
  KEEL_RUN_TOOL_RETRY_BUDGET: z.coerce.number().int().min(0).default(20),
  /** A tool's Retry-After longer than this is not waited for: the call fails. */
  KEEL_TOOL_MAX_RETRY_AFTER_MS: z.coerce.number().int().min(0).default(60_000),
  /** MCP servers whose tools this executor runs, each as its own pool (JSON list; see docs/tools.md). */
  KEEL_MCP_SERVERS: z.string().optional(),
  /** `http_get`: hosts it may fetch (comma-separated; empty: none). */
  KEEL_HTTP_GET_ALLOWED_HOSTS: z.string().default(''),
  /** `webhook_post`: hosts it may post to (comma-separated; empty: none). */
  KEEL_WEBHOOK_ALLOWED_HOSTS: z.string().default(''),
});
export type ToolExecutorConfig = z.infer<typeof ToolExecutorConfig>;
