import { join } from 'node:path';
import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { Pool } from 'pg';
import { DeadLetter, keelNames, type KeelNames } from '@keel/contracts';
import {
  spawnService,
  stopAll,
  testNamespace,
  type ServiceHandle,
  type TestNamespace,
} from '@keel/testing';

export const ROOT = join(__dirname, '..', '..');
export const DATABASE_URL =
  process.env.KEEL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const NATS_URL = process.env.KEEL_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

export const SERVICES = ['planner', 'tool-executor', 'budget-guard', 'outbox'] as const;
export type ServiceName = (typeof SERVICES)[number];
/** Started only when a test asks (`services: [...SERVICES, 'api']` or `stack.start('api')`). */
export const OPTIONAL_SERVICES = ['api'] as const;
export type StartableService = ServiceName | (typeof OPTIONAL_SERVICES)[number];

export const entryOf = (service: StartableService) =>
  join(ROOT, 'dist', 'apps', service, 'main.js');

/**
 * Keel's services as separate processes against the real NATS and PostgreSQL,
 * isolated by a fresh schema and subject/stream prefix. `stop()` stops the
 * processes and removes the schema and streams.
 */
export interface KeelStack {
  readonly ns: TestNamespace;
  readonly names: KeelNames;
  readonly env: Record<string, string>;
  /** A pool on the stack's schema, for assertions. */
  readonly pool: Pool;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly services: Map<string, ServiceHandle>;
  start(
    service: StartableService,
    instance?: string,
    extraEnv?: Record<string, string>,
  ): Promise<ServiceHandle>;
  stop(): Promise<void>;
}

export async function startStack(opts: {
  modelBaseUrl?: string;
  otlpEndpoint?: string;
  env?: Record<string, string>;
  /** Extra env per service (e.g. its own NATS user). */
  serviceEnv?: (service: ServiceName) => Record<string, string>;
  services?: readonly StartableService[];
  onFail?: () => void;
  /** Node options for every service, e.g. `['--cpu-prof', '--cpu-prof-dir=/tmp/prof']`. */
  nodeArgs?: string[];
  /** Another PostgreSQL (e.g. a dedicated cluster the test crashes). */
  databaseUrl?: string;
  /** Another NATS server, and how the test itself connects to it. */
  nats?: { url: string; prefix: string; user?: string; pass?: string; inboxPrefix?: string };
}): Promise<KeelStack> {
  const fresh = testNamespace();
  const ns = opts.nats ? { ...fresh, prefix: opts.nats.prefix } : fresh;
  const natsUrl = opts.nats?.url ?? NATS_URL;
  const names = keelNames(ns.prefix);
  const env: Record<string, string> = {
    KEEL_DATABASE_URL: opts.databaseUrl ?? DATABASE_URL,
    KEEL_DB_SCHEMA: ns.schema,
    KEEL_DB_POOL_SIZE: '4',
    KEEL_NATS_URL: natsUrl,
    KEEL_PREFIX: ns.prefix,
    KEEL_LOG_LEVEL: 'info',
    KEEL_RELAY_POLL_MS: '200',
    ...(opts.modelBaseUrl ? { KEEL_MODEL_BASE_URL: opts.modelBaseUrl } : {}),
    ...(opts.otlpEndpoint ? { OTEL_EXPORTER_OTLP_ENDPOINT: opts.otlpEndpoint } : {}),
    ...opts.env,
  };
  const pool = new Pool({
    connectionString: opts.databaseUrl ?? DATABASE_URL,
    max: 4,
    options: `-c search_path=${ns.schema}`,
  });
  pool.on('error', () => undefined); // idle clients die when a test crashes its database
  const nc = await connect({
    servers: natsUrl,
    name: `e2e-${ns.prefix}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...(opts.nats?.user ? { user: opts.nats.user } : {}),
    ...(opts.nats?.pass ? { pass: opts.nats.pass } : {}),
    ...(opts.nats?.inboxPrefix ? { inboxPrefix: opts.nats.inboxPrefix } : {}),
  });
  const services = new Map<string, ServiceHandle>();

  const start = async (
    service: StartableService,
    instance: string = service,
    extraEnv: Record<string, string> = {},
  ) => {
    const handle = spawnService({
      name: instance,
      entry: entryOf(service),
      ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
      // `serviceEnv` is typed for the default services but is called for 'api' too.
      env: { ...env, ...opts.serviceEnv?.(service as ServiceName), ...extraEnv },
      ...(process.env.KEEL_E2E_LOG_DIR ? { logDir: process.env.KEEL_E2E_LOG_DIR } : {}),
    });
    services.set(instance, handle);
    await handle.waitForLog(/"msg":"service started"/, 30_000);
    return handle;
  };

  const stack: KeelStack = {
    ns,
    names,
    env,
    pool,
    nc,
    js: nc.jetstream(),
    jsm: await nc.jetstreamManager({ checkAPI: !opts.nats }),
    services,
    start,
    async stop() {
      await stopAll([...services.values()]);
      if (!opts.nats)
        for (const s of [...Object.values(names.streams), `KV_${names.buckets.breakers}`])
          await stack.jsm.streams.delete(s).catch(() => undefined);
      await pool.query(`DROP SCHEMA IF EXISTS ${ns.schema} CASCADE`).catch(() => undefined);
      await pool.end();
      await nc.close();
    },
  };
  try {
    // Start one service first so migrations and streams exist before the rest race them.
    const [first, ...rest] = opts.services ?? SERVICES;
    if (first) await start(first);
    await Promise.all(rest.map((s) => start(s)));
  } catch (err) {
    opts.onFail?.();
    for (const h of services.values())
      process.stderr.write(`--- ${h.name} ---\n${h.logs().slice(-4000)}\n`);
    await stack.stop();
    throw err;
  }
  return stack;
}

/** The types of a stream's events, in version order, straight from PostgreSQL. */
export async function streamTypes(pool: Pool, streamId: string): Promise<string[]> {
  const { rows } = await pool.query<{ type: string }>(
    'SELECT type FROM events WHERE stream_id = $1 ORDER BY stream_version',
    [streamId],
  );
  return rows.map((r) => r.type);
}

/** The dead letters a consumer of the stack has written so far, oldest first. */
export async function deadLettersOf(stack: KeelStack, consumer: string): Promise<DeadLetter[]> {
  const subject = stack.names.subjects.dlq.build(consumer);
  const found: DeadLetter[] = [];
  const info = await stack.jsm.streams.info(stack.names.streams.dlq);
  if (info.state.messages === 0) return found;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await stack.jsm.streams
      .getMessage(stack.names.streams.dlq, { seq })
      .catch(() => undefined);
    if (m?.subject === subject) found.push(DeadLetter.parse(m.json()));
  }
  return found;
}
