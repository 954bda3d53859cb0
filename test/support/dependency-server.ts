import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server standing in for an API a tool calls. Each path answers
 * as its script says for the n-th request to it (0-based); every request is
 * recorded. Unscripted paths answer 404.
 */
export type PathScript = (n: number) => {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
};

export interface DependencyServer {
  readonly base: string;
  readonly host: string;
  readonly requests: { path: string; at: Date }[];
  on(path: string, script: PathScript): string;
  count(path: string): number;
  close(): Promise<void>;
}

export async function startDependencyServer(): Promise<DependencyServer> {
  const scripts = new Map<string, PathScript>();
  const requests: { path: string; at: Date }[] = [];
  const server = createServer((req, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const n = requests.filter((r) => r.path === path).length;
    requests.push({ path, at: new Date() });
    const script = scripts.get(path);
    const reply = script ? script(n) : { status: 404, body: { error: 'not found' } };
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(JSON.stringify(reply.body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  return {
    base: `http://${host}`,
    host,
    requests,
    on(path, script) {
      scripts.set(path, script);
      return `http://${host}${path}`;
    },
    count: (path) => requests.filter((r) => r.path === path).length,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
