import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeelAttr } from '@keel/telemetry';
import { spawnService, startOtlpReceiver, stopAll, type OtlpReceiver } from '@keel/testing';
import { ROOT, startStack } from '../support/stack';
import { scaling, sequential, soak, throughput } from './phases';
import { writeReport, renderHops, renderTable } from './report';
import { PEERS, type BenchResults } from './results';
import { calibrate, type Calibration } from './calibrate';
import { measureFloor } from './floor-run';
import { RunSubmitter } from './run-submitter';
import { renderWaterfall } from './waterfall';

/**
 * `npm run bench` — the agent-run-10 workload through the whole system.
 *   (default)   (a) sequential, (b) throughput, (c) cost
 *   --smoke     a short (a)-(c) that only proves the bench works (CI)
 *   --scaling   (d) 1 vs 2 tool-executor replicas, I/O-bound tool
 *   --soak      (e) steady rate for --minutes N (default 10)
 *   --profile DIR  write a CPU profile of every service into DIR (node --cpu-prof)
 *   --waterfall  sample every trace; print the last sequential run's spans (no throughput phase)
 *   --sequential-only  run (a) and skip (b): profile or strace a lone run's path
 *   --slowest    print the event timeline of the slowest run of the throughput phase
 *   --env K=V    a service setting for this run (repeatable), to compare with and without a change
 *   --node-arg F  a Node/V8 flag for every service (repeatable), e.g. a GC setting to compare
 *   --planners N  run N planner replicas (default 1): the planner is the busiest service under load
 *   --no-floor   skip measuring the architecture's floor after (a)-(c) (bench:floor, ~30 s)
 * Starts its own stack (fresh schema and stream prefix) on the local NATS and
 * PostgreSQL, the scripted model as a separate process, and a local OTLP sink.
 */
const TRACE_SAMPLE_RATIO = 0.05;

async function main(argv: string[]): Promise<void> {
  // --waterfall: sample every trace and print the last sequential run's spans (diagnosis only).
  const waterfall = argv.includes('--waterfall');
  // --sequential-only: run (a) and skip (b), e.g. to profile a lone run's path.
  const sequentialOnly = waterfall || argv.includes('--sequential-only');
  const sampleRatio = waterfall ? 1 : TRACE_SAMPLE_RATIO;
  const mode: BenchResults['mode'] = argv.includes('--scaling')
    ? 'scaling'
    : argv.includes('--soak')
      ? 'soak'
      : argv.includes('--smoke')
        ? 'smoke'
        : 'default';
  const arg = (name: string, fallback: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  // (a) and (b) as issue 3 defines them; the smoke's are only long enough to prove the bench works.
  const shape =
    mode === 'smoke'
      ? { warmupRuns: 5, sequentialRuns: 20, throughputRuns: 200, inFlight: 16 }
      : { warmupRuns: 20, sequentialRuns: 200, throughputRuns: 2000, inFlight: 64 };
  const startedAt = new Date().toISOString();
  const model = spawnService({
    name: 'scripted-model',
    entry: join(ROOT, 'dist', 'apps', 'cli', 'main.js'),
    args: ['model-server', '--port', '0', '--host', '127.0.0.1', '--script', 'agent-run-10'],
  });
  const [, modelUrl] = await model.waitForLog(/listening at (\S+)/, 10_000);
  // Bounded: a soak exports for many minutes. --waterfall reads the last sequential run's spans
  // right after (a), when at most ~220 runs of ~140 spans have arrived.
  const sink = await startOtlpReceiver({ keepSpans: 50_000, keepRawExports: 0 });
  const config = {
    KEEL_TRACE_SAMPLE_RATIO: String(sampleRatio),
    KEEL_DB_POOL_SIZE: '16',
    KEEL_PLANNER_CONCURRENCY: '64',
    KEEL_POOL_CONCURRENCY: '64',
    KEEL_LOG_LEVEL: 'info',
    KEEL_STATS_INTERVAL_MS: mode === 'soak' ? '10000' : '0',
    // --no-tracing: measure what tracing costs (the required configuration keeps it on).
    ...(argv.includes('--no-tracing') ? { OTEL_SDK_DISABLED: 'true' } : {}),
    // --env K=V (repeatable): a service setting to compare, e.g. an optimisation turned off.
    ...Object.fromEntries(
      argv.flatMap((a, i): [string, string][] => {
        if (a !== '--env') return [];
        const kv = argv[i + 1] ?? '';
        const at = kv.indexOf('='); // the value may itself hold '=' (NODE_OPTIONS=--flag=1)
        return at > 0 ? [[kv.slice(0, at), kv.slice(at + 1)]] : [];
      }),
    ),
  };
  const profileDir = argv.includes('--profile') ? argv[argv.indexOf('--profile') + 1] : undefined;
  // --node-arg FLAG (repeatable): a V8/Node flag for every service, e.g. to A/B a GC setting
  // (flags NODE_OPTIONS refuses, such as --single-threaded-gc, are accepted here).
  const nodeArgs = [
    ...argv.flatMap((a, i) => (a === '--node-arg' && argv[i + 1] ? [argv[i + 1]!] : [])),
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
  ];
  const stack = await startStack({
    modelBaseUrl: modelUrl!,
    otlpEndpoint: sink.endpoint,
    env: config,
    ...(nodeArgs.length > 0 ? { nodeArgs } : {}),
  });
  // --planners N: N planner replicas (one consumer group): does scaling the busiest service help?
  const planners = arg('--planners', 1);
  if (!Number.isInteger(planners) || planners < 1) throw new Error('--planners must be >= 1');
  for (let r = 2; r <= planners; r++) await stack.start('planner', `planner-${r}`);
  const submitter = new RunSubmitter(stack.nc, stack.js, stack.names);
  submitter.start();

  const results: { -readonly [K in keyof BenchResults]: BenchResults[K] } = {
    workload: 'agent-run-10',
    startedAt,
    mode,
    machine: machine(),
    config: {
      ...config,
      traceSampleRatio: sampleRatio,
      plannerReplicas: planners,
      ...(nodeArgs.length > 0 ? { nodeArgs: nodeArgs.join(' ') } : {}),
      postgresSynchronousCommit: pgSetting('synchronous_commit'),
      jetstreamStorage: 'file',
    },
    peers: PEERS,
  };
  const calStream = `${stack.names.streams.events}_CALIBRATION`;
  const calSubject = `${calStream.toLowerCase()}.x`;
  const measureMachine = async (): Promise<Calibration> => {
    await stack.jsm.streams.add({ name: calStream, subjects: [calSubject] });
    try {
      return await calibrate(stack.pool, 'bench_calibration', stack.js, calSubject);
    } finally {
      await stack.jsm.streams.delete(calStream);
    }
  };
  try {
    if (mode === 'default' || mode === 'smoke') {
      log('machine speed now: PostgreSQL commits and JetStream publish+acks, one at a time');
      const before = await measureMachine();
      results.calibration = { before, after: before };
      log(`(a) sequential: ${shape.warmupRuns} warm-up + ${shape.sequentialRuns} runs`);
      results.sequential = await sequential(
        stack,
        submitter,
        shape.warmupRuns,
        shape.sequentialRuns,
        model.pid,
      );
      if (waterfall) await printWaterfall(sink, submitter.lastRunId);
    }
    if ((mode === 'default' || mode === 'smoke') && !sequentialOnly) {
      log(`(b) throughput: ${shape.throughputRuns} runs, ${shape.inFlight} in flight`);
      const t = await throughput(stack, submitter, shape.throughputRuns, shape.inFlight);
      results.throughput = t.throughput;
      results.cost = t.cost;
    }
    if (results.calibration)
      results.calibration = { ...results.calibration, after: await measureMachine() };
    if (mode === 'scaling') {
      const poolConcurrency = arg('--pool-concurrency', 4);
      log(
        `(d) scaling: sleep 50 ms, pool concurrency ${poolConcurrency} per replica, 1 then 2 replicas`,
      );
      results.scaling = await scaling(stack, submitter, {
        sleepMs: 50,
        poolConcurrency,
        runs: arg('--runs', 300),
        inFlight: 96,
      });
    }
    if (mode === 'soak') {
      const minutes = arg('--minutes', 10);
      // 200 steps/s: below saturation even when this machine kind runs at half its usual speed.
      const rate = arg('--rate', 20);
      log(`(e) soak: ${rate} runs/s for ${minutes} min`);
      results.soak = await soak(stack, submitter, {
        durationS: minutes * 60,
        ratePerS: rate,
        statsIntervalMs: 10_000,
      });
    }
  } finally {
    submitter.stop();
    const warnings = warningsOf(stack.services);
    if (warnings) console.log(`\nWarnings and errors the services logged:\n${warnings}`);
    await stack.stop();
    await stopAll([model]);
    await sink.close();
  }
  // After Keel's stack has stopped, so that its idle services do not share the machine with it.
  if ((mode === 'default' || mode === 'smoke') && !sequentialOnly && !argv.includes('--no-floor')) {
    log(
      `the floor: the same hops without Keel, at 1 then ${shape.inFlight} in flight (npm run bench:floor)`,
    );
    results.floor = await measureFloor(shape).catch((err: unknown) => {
      // A yardstick, not part of the workload: the run's own figures stand without it.
      log(`the floor could not be measured: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    });
  }
  if (results.sequential?.hops) console.log(`\n${renderHops(results.sequential.hops)}`);
  console.log(`\n${renderTable(results)}`);
  const files = writeReport(results, join(ROOT, 'bench', 'results'));
  console.log(`\nwrote ${files.json}\n      ${files.markdown}`);
}

function machine(): BenchResults['machine'] {
  const version = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0] ?? '?';
    } catch {
      return '?';
    }
  };
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '?',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: pgSetting('server_version'),
    natsServer: version('nats-server', ['--version']),
  };
}

function pgSetting(name: string): string {
  try {
    return execFileSync(
      'psql',
      ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-Atc', `SHOW ${name}`],
      { encoding: 'utf8' },
    ).trim();
  } catch {
    return '?';
  }
}

async function printWaterfall(sink: OtlpReceiver, runId: string | undefined): Promise<void> {
  const span = await sink.waitForSpan((s) => s.attributes[KeelAttr.runId] === runId, 10_000);
  await sleep(2_000); // the services export in batches
  console.log(`\nThe last sequential run's trace (ms from its first span):\n`);
  console.log(renderWaterfall(sink.spans(), span.traceId));
}

/** Count of warn/error log lines per service and message: a slow run usually says why here. */
function warningsOf(services: ReadonlyMap<string, { logs(): string }>): string {
  const lines: string[] = [];
  for (const [name, h] of services) {
    const counts = new Map<string, number>();
    for (const line of h.logs().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string };
        if ((entry.level ?? 0) >= 40)
          counts.set(entry.msg ?? '?', (counts.get(entry.msg ?? '?') ?? 0) + 1);
      } catch {
        // not a log line
      }
    }
    for (const [msg, n] of counts) lines.push(`  ${name}: ${n} × ${msg}`);
  }
  return lines.join('\n');
}

const log = (s: string) => console.log(`[bench] ${s}`);

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
