import { setTimeout as sleep } from 'node:timers/promises';
import type { KeelStack } from '../support/stack';
import { distribution } from './distribution';
import { cpuSnapshot, peakRssMiB } from './proc-stats';
import type { BenchResults } from './results';
import { hopTimeline, runTimeline } from './hop-timeline';
import { runConcurrently, type RunOutcome, type RunSubmitter } from './run-submitter';
import { STEPS_PER_RUN } from '@keel/testing';

const PROMPT = 'agent-run-10: five decisions, five no-op tool calls';
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

/**
 * (a) runs one at a time after a warm-up. Also the CPU every process spent per
 * step meanwhile (the scripted model server included: it is on a run's path):
 * with one run in flight nothing overlaps, so this is the CPU on the critical path.
 */
export async function sequential(
  stack: KeelStack,
  submitter: RunSubmitter,
  warmup: number,
  runs: number,
  modelServerPid?: number,
): Promise<NonNullable<BenchResults['sequential']>> {
  for (let i = 0; i < warmup; i++) await submitter.submit(PROMPT, ['noop']);
  const samples: number[] = [];
  const outcomes: RunOutcome[] = [];
  const pids = new Map([...stack.services].map(([name, h]) => [name, h.pid] as const));
  if (modelServerPid) pids.set('scripted-model', modelServerPid);
  const before = cpuSnapshot(pids);
  for (let i = 0; i < runs; i++) {
    const r = await submitter.submit(PROMPT, ['noop']);
    if (!r.ok) throw new Error(`sequential run ${r.runId} did not complete`);
    samples.push(round(r.latencyMs, 3));
    outcomes.push(r);
  }
  const after = cpuSnapshot(pids);
  const steps = runs * STEPS_PER_RUN;
  const cpuMsPerStepByProcess = Object.fromEntries(
    Object.keys(after).map((k) => [
      k,
      round((((after[k] ?? 0) - (before[k] ?? 0)) / steps) * 1000, 3),
    ]),
  );
  const runLatencyMs = distribution(samples);
  return {
    warmupRuns: warmup,
    runs,
    runLatencyMs,
    stepOverheadMs: {
      p50: round(runLatencyMs.p50 / STEPS_PER_RUN, 3),
      p99: round(runLatencyMs.p99 / STEPS_PER_RUN, 3),
    },
    samplesMs: samples,
    cpuMsPerStep: round(
      Object.values(cpuMsPerStepByProcess).reduce((a, b) => a + b, 0),
      3,
    ),
    cpuMsPerStepByProcess,
    hops: await hopTimeline(stack.pool, outcomes),
  };
}

/** (b) + (c): many runs in flight; CPU of every process from /proc around it. */
export async function throughput(
  stack: KeelStack,
  submitter: RunSubmitter,
  runs: number,
  inFlight: number,
): Promise<{
  throughput: NonNullable<BenchResults['throughput']>;
  cost: NonNullable<BenchResults['cost']>;
}> {
  const pids = new Map([...stack.services].map(([name, h]) => [name, h.pid] as const));
  const before = cpuSnapshot(pids);
  const t0 = performance.now();
  const outcomes = await runConcurrently(runs, inFlight, () => submitter.submit(PROMPT, ['noop']));
  const durationS = (performance.now() - t0) / 1000;
  const after = cpuSnapshot(pids);

  const ok = outcomes.filter((o) => o.ok);
  const slowest = [...ok].sort((a, b) => b.latencyMs - a.latencyMs)[0];
  if (slowest && process.argv.includes('--slowest'))
    console.log(
      `\nThe slowest run (${slowest.latencyMs.toFixed(0)} ms):\n${await runTimeline(stack.pool, slowest)}`,
    );
  const bucketMs = 250;
  const buckets: number[] = [];
  for (const o of ok) {
    const b = Math.floor((o.finishedAt - t0) / bucketMs);
    while (buckets.length <= b) buckets.push(0);
    buckets[b]! += 1;
  }
  const steps = ok.length * STEPS_PER_RUN;
  const cpuSecondsByProcess = Object.fromEntries(
    Object.keys(after).map((k) => [k, round((after[k] ?? 0) - (before[k] ?? 0), 3)]),
  );
  const totalCpu = Object.values(cpuSecondsByProcess).reduce((a, b) => a + b, 0);
  const samplesMs = ok.map((o) => round(o.latencyMs, 3));
  return {
    throughput: {
      runs,
      inFlight,
      durationS: round(durationS, 3),
      runsPerS: round(ok.length / durationS, 1),
      stepsPerS: round(steps / durationS, 0),
      failedRuns: outcomes.length - ok.length,
      runLatencyMs: distribution(samplesMs),
      samplesMs,
      completionsPerBucket: buckets,
      bucketMs,
    },
    cost: {
      steps,
      cpuSecondsPer1kSteps: round((totalCpu / steps) * 1000, 3),
      cpuSecondsByProcess,
      coresBusyByProcess: Object.fromEntries(
        Object.entries(cpuSecondsByProcess).map(([k, v]) => [k, round(v / durationS, 2)]),
      ),
      peakRssMiBByService: Object.fromEntries(
        [...pids].map(([name, pid]) => [name, peakRssMiB(pid)]),
      ),
    },
  };
}

/** (d) the I/O-bound variant with 1, then 2 tool-executor replicas at a fixed pool concurrency. */
export async function scaling(
  stack: KeelStack,
  submitter: RunSubmitter,
  opts: { sleepMs: number; poolConcurrency: number; runs: number; inFlight: number },
): Promise<NonNullable<BenchResults['scaling']>> {
  const env = { KEEL_POOL_CONCURRENCY: String(opts.poolConcurrency) };
  const old = stack.services.get('tool-executor');
  if (old) {
    old.kill('SIGTERM');
    await old.exited;
    stack.services.delete('tool-executor');
  }
  const results: NonNullable<BenchResults['scaling']>['results'][number][] = [];
  for (const replicas of [1, 2]) {
    for (let r = 1; r <= replicas; r++)
      if (!stack.services.has(`tool-executor-${r}`))
        await stack.start('tool-executor', `tool-executor-${r}`, env);
    await submitter.submit(`sleep ${opts.sleepMs}`, ['sleep']); // warm the new replica
    const t0 = performance.now();
    const outcomes = await runConcurrently(opts.runs, opts.inFlight, () =>
      submitter.submit(`sleep ${opts.sleepMs}`, ['sleep']),
    );
    const durationS = (performance.now() - t0) / 1000;
    const failed = outcomes.filter((o) => !o.ok).length;
    if (failed > 0) throw new Error(`${failed} scaling runs failed`);
    results.push({
      replicas,
      runs: opts.runs,
      durationS: round(durationS, 3),
      toolCallsPerS: round((opts.runs * 5) / durationS, 1),
    });
  }
  return {
    toolSleepMs: opts.sleepMs,
    poolConcurrencyPerReplica: opts.poolConcurrency,
    results,
    speedup: round(results[1]!.toolCallsPerS / results[0]!.toolCallsPerS, 2),
  };
}

/** (e) a steady open-loop rate for a long time; RSS and event-loop delay from the services' runtime stats. */
export async function soak(
  stack: KeelStack,
  submitter: RunSubmitter,
  opts: { durationS: number; ratePerS: number; statsIntervalMs: number },
): Promise<NonNullable<BenchResults['soak']>> {
  const pending: Promise<{ ok: boolean }>[] = [];
  const start = performance.now();
  const interval = 1000 / opts.ratePerS;
  let sent = 0;
  while (performance.now() - start < opts.durationS * 1000) {
    const due = Math.floor((performance.now() - start) / interval);
    while (sent < due) {
      pending.push(submitter.submit(PROMPT, ['noop'], 120_000));
      sent++;
    }
    await sleep(5);
  }
  const outcomes = await Promise.all(pending);
  await sleep(opts.statsIntervalMs + 500);
  const services = [...stack.services].map(([service, h]) => {
    const stats = runtimeStats(h.logs());
    const first = stats[1] ?? stats[0];
    const mid = stats[Math.floor(stats.length / 2)];
    const last = stats.at(-1);
    return {
      service,
      rssStartMiB: first?.rssMiB ?? NaN,
      rssMidMiB: mid?.rssMiB ?? NaN,
      rssEndMiB: last?.rssMiB ?? NaN,
      rssSeriesMiB: stats.map((s) => s.rssMiB),
      heapUsedSeriesMiB: stats.map((s) => s.heapUsedMiB),
      heapTotalSeriesMiB: stats.map((s) => s.heapTotalMiB),
      externalSeriesMiB: stats.map((s) => s.externalMiB),
      oldSpaceSeriesMiB: stats.map((s) => s.oldSpaceMiB),
      oldSpaceUsedSeriesMiB: stats.map((s) => s.oldSpaceUsedMiB),
      newSpaceSeriesMiB: stats.map((s) => s.newSpaceMiB),
      largeObjectSeriesMiB: stats.map((s) => s.largeObjectMiB),
      eventLoopDelayP99StartMs: first?.eventLoopDelayP99Ms ?? NaN,
      eventLoopDelayP99EndMs: last?.eventLoopDelayP99Ms ?? NaN,
    };
  });
  return {
    durationS: opts.durationS,
    targetRunsPerS: opts.ratePerS,
    completedRuns: outcomes.filter((o) => o.ok).length,
    failedRuns: outcomes.filter((o) => !o.ok).length,
    services,
  };
}

interface RuntimeStats {
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  oldSpaceMiB: number;
  oldSpaceUsedMiB: number;
  newSpaceMiB: number;
  largeObjectMiB: number;
  eventLoopDelayP99Ms: number;
}

function runtimeStats(logs: string): RuntimeStats[] {
  return logs
    .split('\n')
    .filter((l) => l.includes('"msg":"runtime stats"'))
    .map((l) => JSON.parse(l) as RuntimeStats);
}
