import { z } from 'zod';

/** Default timeout of one tool call. */
export const DEFAULT_MCP_TIMEOUT_MS = 30_000;
/** Default timeout of connecting (the handshake) and of each page of `tools/list`. */
export const DEFAULT_MCP_CONNECT_TIMEOUT_MS = 10_000;

/** A server's name: part of its tools' names (`mcp_<server>_<tool>`) and of its pool (`mcp-<server>`). */
export const McpServerName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,20}$/, 'server name: lowercase letters, digits or _, at most 21');

const common = {
  name: McpServerName,
  /** Timeout of each tool call (the tool's `timeoutMs`). */
  timeoutMs: z.number().int().min(100).max(3_600_000).default(DEFAULT_MCP_TIMEOUT_MS),
  /** Timeout of the handshake (`initialize`) and of each page of `tools/list`. */
  connectTimeoutMs: z.number().int().min(100).max(600_000).default(DEFAULT_MCP_CONNECT_TIMEOUT_MS),
  /**
   * The side effect of every tool of this server. Default: from each tool's
   * annotations, `readOnlyHint: true` → `read`, otherwise `write` (the tool
   * acts on its server directly and gets Keel's idempotency key in `_meta`).
   */
  sideEffect: z.enum(['read', 'write', 'external']).optional(),
};

/** A server Keel starts as a child process and speaks to over stdin/stdout. */
export const McpStdioServerSpec = z.strictObject({
  ...common,
  transport: z.literal('stdio'),
  command: z.string().min(1),
  args: z.array(z.string()).optional(),
  /**
   * Added to the child's environment. The child does NOT inherit the
   * service's environment (only HOME, LOGNAME, PATH, SHELL, TERM and USER),
   * so Keel's own secrets never reach a tool server; pass what it needs here.
   */
  env: z.record(z.string(), z.string()).optional(),
  cwd: z.string().min(1).optional(),
});

/** A server reached over Streamable HTTP. */
export const McpHttpServerSpec = z.strictObject({
  ...common,
  transport: z.literal('http'),
  url: z.url({ protocol: /^https?$/ }),
  /** Sent with every request, e.g. `{ "authorization": "Bearer …" }`. Never logged. */
  headers: z.record(z.string(), z.string()).optional(),
});

export const McpServerSpec = z.discriminatedUnion('transport', [
  McpStdioServerSpec,
  McpHttpServerSpec,
]);
export type McpServerSpec = z.infer<typeof McpServerSpec>;
export type McpServerSpecInput = z.input<typeof McpServerSpec>;
export type McpStdioServerSpec = z.infer<typeof McpStdioServerSpec>;
export type McpHttpServerSpec = z.infer<typeof McpHttpServerSpec>;

export class McpConfigError extends Error {
  override name = 'McpConfigError';
  readonly code = 'MCP_CONFIG_INVALID';
}

const McpServerList = z.array(McpServerSpec);

/**
 * Validates MCP server specs (e.g. `KEEL_MCP_SERVERS`, or a JSON array
 * already parsed): defaults applied, duplicate names refused. Throws
 * `McpConfigError` listing every problem with its place (`[1].url: …`).
 */
export function parseMcpServerSpecs(value: unknown, source = 'MCP servers'): McpServerSpec[] {
  const parsed = McpServerList.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
    throw new McpConfigError(`${source}: ${problems.join('; ')}`);
  }
  const seen = new Set<string>();
  for (const [i, spec] of parsed.data.entries()) {
    if (seen.has(spec.name)) {
      throw new McpConfigError(`${source}: [${i}].name: server '${spec.name}' is listed twice`);
    }
    seen.add(spec.name);
  }
  return parsed.data;
}

/**
 * Parses a JSON array of MCP server specs, e.g. the value of `KEEL_MCP_SERVERS`.
 * An empty or blank string means no servers.
 */
export function parseMcpServers(json: string, source = 'KEEL_MCP_SERVERS'): McpServerSpec[] {
  if (json.trim() === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    // Not the parser's message: it quotes the text, which may hold secrets (env, headers).
    const at = /position (\d+)/.exec(err instanceof Error ? err.message : '');
    throw new McpConfigError(`${source}: not valid JSON${at ? ` (at position ${at[1]})` : ''}`);
  }
  return parseMcpServerSpecs(value, source);
}

const formatPath = (path: readonly PropertyKey[]): string =>
  path.length === 0
    ? '(root)'
    : path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
        .join('')
        .replace(/^\./, '');
