import type { Readable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerSpec } from './spec';

/** Structured log sink: a message and its fields (never arguments, results or secrets). */
export type McpLog = (msg: string, fields: Record<string, unknown>) => void;

/** How Keel introduces itself in `initialize`. */
const CLIENT_INFO = { name: 'keel', version: '1.0.0' };
/** How long `close()` waits for an HTTP server to end the session. */
const TERMINATE_SESSION_MS = 1000;
/** Start-up errors quote this much of a stdio server's last stderr output. */
const STDERR_TAIL_CHARS = 2000;

/**
 * One server's connection. It is opened at start-up and re-opened, on the next
 * call, after it was lost (a stdio child that died is started again; an HTTP
 * session the server forgot is initialised again). Calls in flight when it is
 * lost fail as transient; concurrent calls share one reconnect.
 */
export class McpConnection {
  private current: Client | undefined;
  private opening: Promise<Client> | undefined;
  private closed = false;
  private stderrTail = '';
  private serverInfo: Implementation | undefined;

  constructor(
    readonly spec: McpServerSpec,
    private readonly log?: McpLog,
  ) {}

  /** `name`/`version` the server gave in `initialize` (set once connected). */
  get server(): Implementation {
    if (!this.serverInfo) throw new Error(`MCP server '${this.spec.name}' is not connected`);
    return this.serverInfo;
  }

  /** A description for messages: transport and where, without secrets (no env, headers or query). */
  get target(): string {
    if (this.spec.transport === 'stdio') return `stdio: ${this.spec.command}`;
    const url = new URL(this.spec.url);
    return `http: ${url.origin}${url.pathname}`;
  }

  /** What the server last wrote to stderr (stdio), for start-up errors. */
  get recentStderr(): string {
    return this.stderrTail.trim();
  }

  /** The connected client, connecting first if needed. */
  client(): Promise<Client> {
    if (this.closed) {
      return Promise.reject(new Error(`connection to MCP server '${this.spec.name}' is closed`));
    }
    if (this.current) return Promise.resolve(this.current);
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  /** Forgets `client` after a failure that left it unusable; the next call reconnects. */
  async reset(client: Client | undefined): Promise<void> {
    if (!client || client !== this.current) return;
    this.current = undefined;
    this.log?.('mcp connection lost; reconnecting on next call', { server: this.spec.name });
    await client.close().catch(() => undefined);
  }

  /** Ends the session and the connection; a stdio child is stopped (stdin closed, then SIGTERM, SIGKILL). */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.current ?? (await this.opening?.catch(() => undefined));
    this.current = undefined;
    if (!client) return;
    const transport = client.transport;
    if (transport instanceof StreamableHTTPClientTransport) {
      await withTimeout(transport.terminateSession(), TERMINATE_SESSION_MS).catch(() => undefined);
    }
    await client.close().catch(() => undefined);
  }

  private async open(): Promise<Client> {
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    const transport = this.createTransport();
    client.onclose = () => {
      if (this.current !== client) return;
      this.current = undefined;
      if (!this.closed) this.log?.('mcp connection closed', { server: this.spec.name });
    };
    client.onerror = (err) =>
      this.log?.('mcp transport error', { server: this.spec.name, error: err.message });
    try {
      await client.connect(transport, { timeout: this.spec.connectTimeoutMs });
    } catch (err) {
      await transport.close().catch(() => undefined);
      throw err;
    }
    const info = client.getServerVersion();
    if (this.serverInfo && info && info.version !== this.serverInfo.version) {
      this.log?.('mcp server version changed; tool definitions are from start-up', {
        server: this.spec.name,
        was: this.serverInfo.version,
        now: info.version,
      });
    }
    this.serverInfo ??= info ?? { name: this.spec.name, version: '0.0.0' };
    if (this.closed) {
      await client.close().catch(() => undefined);
      throw new Error(`connection to MCP server '${this.spec.name}' is closed`);
    }
    this.current = client;
    return client;
  }

  private createTransport(): StdioClientTransport | StreamableHTTPClientTransport {
    const spec = this.spec;
    if (spec.transport === 'http') {
      return new StreamableHTTPClientTransport(new URL(spec.url), {
        ...(spec.headers ? { requestInit: { headers: spec.headers } } : {}),
      });
    }
    const transport = new StdioClientTransport({
      command: spec.command,
      ...(spec.args ? { args: spec.args } : {}),
      ...(spec.env ? { env: spec.env } : {}),
      ...(spec.cwd ? { cwd: spec.cwd } : {}),
      // Piped, not inherited: forwarded line by line to the log (and always
      // read, so a chatty server never blocks on a full pipe).
      stderr: 'pipe',
    });
    this.forwardStderr(transport.stderr as Readable | null);
    return transport;
  }

  private forwardStderr(stream: Readable | null): void {
    if (!stream) return;
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.logStderr(line);
    });
    stream.on('end', () => this.logStderr(partial));
  }

  private logStderr(line: string): void {
    const text = line.trimEnd();
    if (!text) return;
    if (this.log)
      this.log('mcp server stderr', { server: this.spec.name, line: text.slice(0, 2000) });
    else process.stderr.write(`[mcp ${this.spec.name}] ${text}\n`);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
