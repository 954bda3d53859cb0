import { join } from 'node:path';
import { generateApiKey } from '@keel/projections/store';
import { spawnService, type ServiceHandle } from '@keel/testing';

/**
 * `keel up`'s API: started after the four services, with a demo key for
 * tenant `demo` (the demo run's tenant) stored at start-up through
 * KEEL_API_BOOTSTRAP_KEYS and printed here once — the service itself never
 * logs keys. KEEL_API_PORT / KEEL_API_HOST choose where it listens.
 */
export async function startApi(args: {
  root: string;
  env: Record<string, string | undefined>;
  logDir: string;
  out: (line: string) => void;
}): Promise<ServiceHandle> {
  const { key } = generateApiKey();
  const host = args.env.KEEL_API_HOST ?? '127.0.0.1';
  const port = args.env.KEEL_API_PORT ?? '8090';
  const handle = spawnService({
    name: 'api',
    entry: join(args.root, 'dist', 'apps', 'api', 'main.js'),
    env: {
      ...args.env,
      KEEL_API_HOST: host,
      KEEL_API_PORT: port,
      KEEL_API_BOOTSTRAP_KEYS: JSON.stringify([{ tenant: 'demo', key, name: 'keel up demo' }]),
    },
    logDir: args.logDir,
  });
  await handle.waitForLog(/"msg":"service started"/, 60_000);
  args.out(`Service    ${'api'.padEnd(13)} pid ${handle.pid}  (logs: .keel/logs/api.log)`);
  args.out(`API        http://${host}:${port}  (docs/api.md; GET /openapi.json)`);
  args.out(
    `API key    ${key}  (tenant demo; try: curl -H 'Authorization: Bearer <key>' http://${host}:${port}/runs)`,
  );
  return handle;
}
