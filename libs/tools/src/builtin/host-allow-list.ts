import { ToolError } from '../tool-definition';

/**
 * Hosts a tool may reach, from a comma-separated list (`example.com`,
 * `127.0.0.1:8080`, `*.example.com`). An empty list allows nothing: tools
 * that reach the network are closed by default.
 */
export class HostAllowList {
  private readonly entries: readonly string[];

  constructor(list: string | readonly string[]) {
    const items = typeof list === 'string' ? list.split(',') : list;
    this.entries = items.map((s) => s.trim().toLowerCase()).filter(Boolean);
  }

  /** The parsed URL if its scheme is http(s) and its host is allowed; else a permanent ToolError. */
  check(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ToolError('INVALID_URL', 'not a valid URL', 'permanent');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new ToolError(
        'SCHEME_NOT_ALLOWED',
        `scheme ${url.protocol} is not allowed`,
        'permanent',
      );
    const host = url.hostname.toLowerCase();
    const hostPort = url.host.toLowerCase();
    const ok = this.entries.some((e) =>
      e.startsWith('*.') ? host.endsWith(e.slice(1)) : e === host || e === hostPort,
    );
    if (!ok)
      throw new ToolError(
        'HOST_NOT_ALLOWED',
        `host ${url.host} is not on the allow-list`,
        'permanent',
      );
    return url;
  }
}
