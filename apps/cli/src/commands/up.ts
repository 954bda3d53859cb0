import { mkdirSync } from 'node:fs';
import { inspect } from 'node:util';
import { join } from 'node:path';
import {
  spawnService,
  startOtlpReceiver,
  startScriptedModel,
  stopAll,
  type ServiceHandle,
} from '@keel/testing';
import { demoScript } from '../demo-script';
import { ensureNats, ensurePostgres, type Started } from '../platform/ensure-infra';
import { demoRun } from './demo-run';
import { startApi } from '../runs/start-api';

const SERVICES = ['outbox', 'budget-guard', 'tool-executor', 'planner'] as const;
const ROOT = join(__dirname, '..', '..', '..');

/**
 * `npm start`: bring the platform up on this machine and run the demo.
 * Uses NATS/PostgreSQL from KEEL_NATS_URL / KEEL_DATABASE_URL when reachable,
 * else starts local ones; serves the scripted model unless KEEL_MODEL_BASE_URL
 * points at a real provider; stays up until Ctrl-C, then stops everything.
 */
export async function up(opts: { demo: boolean; env: NodeJS.ProcessEnv }): Promise<number> {
  const out = (s: string) => console.log(s);
  const stateDir = join(ROOT, '.keel');
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  const natsUrl = opts.env.KEEL_NATS_URL ?? 'nats://127.0.0.1:4222';
  const databaseUrl = opts.env.KEEL_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/keel';
  const prefix = opts.env.KEEL_PREFIX ?? 'keel';

  const started: Started[] = [];
  const services: ServiceHandle[] = [];
  const cleanup: (() => Promise<void>)[] = [];
  const shutdown = async () => {
    out('\nstopping …');
    await stopAll(services, { graceMs: 15_000 });
    for (const c of cleanup) await c();
    for (const s of started.reverse()) await s.stop();
    out('stopped.');
  };

  try {
    const nats = await ensureNats(natsUrl, stateDir, out);
    if (nats) started.push(nats);
    const pg = await ensurePostgres(databaseUrl, stateDir, out);
    if (pg) started.push(pg);

    const env: Record<string, string | undefined> = {
      ...opts.env,
      KEEL_NATS_URL: natsUrl,
      KEEL_DATABASE_URL: databaseUrl,
      KEEL_PREFIX: prefix,
    };
    if (!opts.env.KEEL_MODEL_BASE_URL) {
      // The platform stays up after the demo: keep no requests, or memory grows with each call.
      const model = await startScriptedModel(demoScript(), { keepRequests: 0 });
      cleanup.push(() => model.close());
      env.KEEL_MODEL_BASE_URL = model.baseUrl;
      out(
        `Model      scripted OpenAI-compatible model at ${model.baseUrl} (set KEEL_MODEL_BASE_URL for a real one)`,
      );
    }
    // The demo prints its run's trace from here; after it, the platform keeps serving, so the
    // sink keeps only recent spans (ample for the demo's ~140) and no raw exports.
    const otlp = opts.env.OTEL_EXPORTER_OTLP_ENDPOINT
      ? undefined
      : await startOtlpReceiver({ keepSpans: 10_000, keepRawExports: 0 });
    if (otlp) {
      cleanup.push(() => otlp.close());
      env.OTEL_EXPORTER_OTLP_ENDPOINT = otlp.endpoint;
      out(
        `Traces     local OTLP sink at ${otlp.endpoint} (set OTEL_EXPORTER_OTLP_ENDPOINT to export to Jaeger)`,
      );
    }

    for (const name of SERVICES) {
      const handle = spawnService({
        name,
        entry: join(ROOT, 'dist', 'apps', name, 'main.js'),
        env,
        logDir: join(stateDir, 'logs'),
      });
      services.push(handle);
      await handle.waitForLog(/"msg":"service started"/, 60_000);
      out(`Service    ${name.padEnd(13)} pid ${handle.pid}  (logs: .keel/logs/${name}.log)`);
    }
    services.push(await startApi({ root: ROOT, env, logDir: join(stateDir, 'logs'), out }));

    let exitCode = 0;
    if (opts.demo) {
      const jaegerUi = opts.env.OTEL_EXPORTER_OTLP_ENDPOINT
        ? (opts.env.KEEL_JAEGER_UI ?? 'http://localhost:16686')
        : undefined;
      const result = await demoRun({
        natsUrl,
        prefix,
        out,
        ...(otlp ? { otlp } : {}),
        ...(jaegerUi ? { jaegerUi } : {}),
      });
      exitCode = result.ok ? 0 : 1;
    }
    if (opts.env.KEEL_EXIT_AFTER_DEMO === '1') {
      await shutdown();
      return exitCode;
    }
    out('\nKeel is up. Publish run requests on NATS (see README). Ctrl-C stops everything.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await shutdown();
    return 0;
  } catch (err) {
    console.error(`\nkeel up: ${err instanceof Error && err.message ? err.message : inspect(err)}`);
    for (const s of services)
      console.error(`--- ${s.name} (last lines) ---\n${s.logs().slice(-2000)}`);
    await shutdown();
    return 1;
  }
}
