import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ROOT } from '../support/stack';
import type { FloorSummary } from './results';

/** What `bench:floor` writes (test/bench/floor/main.ts), as far as the bench reads it. */
const FloorFile = z.object({
  stepsPerS: z.number(),
  stepMs: z.object({ p50: z.number(), p99: z.number() }),
  cpuMsPerStep: z.record(z.string(), z.number()),
});
type FloorFile = z.infer<typeof FloorFile>;

/** One `bench:floor` run (its own processes, schema and stream); its result file. */
async function runFloor(
  inFlight: number,
  rounds: number,
): Promise<{ file: string; result: FloorFile }> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'dist', 'bench', 'floor.js'),
      ...['--in-flight', String(inFlight), '--rounds', String(rounds)],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const file = /^wrote (\S+\.json)$/m.exec(out)?.[1];
  if (code !== 0 || !file)
    throw new Error(`bench:floor --in-flight ${inFlight} exited ${code}: ${out.slice(-500)}`);
  return { file, result: FloorFile.parse(JSON.parse(readFileSync(file, 'utf8'))) };
}

/** A round is two steps (a model call, then a tool call): five rounds make a run. */
const ROUNDS_PER_RUN = 5;

/**
 * The floor as the bench reports it beside Keel, over as many steps as Keel's
 * phases: step latency at 1 in flight (the runs of (a)), steps/s and CPU at
 * (b)'s in-flight count (the runs of (b)). CPU leaves out the floor's model
 * server, as Keel's (c) leaves out the scripted model: both count the same processes.
 */
export async function measureFloor(shape: {
  sequentialRuns: number;
  throughputRuns: number;
  inFlight: number;
}): Promise<FloorSummary> {
  const alone = await runFloor(1, shape.sequentialRuns * ROUNDS_PER_RUN);
  const loaded = await runFloor(shape.inFlight, shape.throughputRuns * ROUNDS_PER_RUN);
  const { model: _model, ...counted } = loaded.result.cpuMsPerStep;
  const cpuMs = Object.values(counted).reduce((a, b) => a + b, 0);
  return {
    stepP50Ms: alone.result.stepMs.p50,
    stepP99Ms: alone.result.stepMs.p99,
    stepsPerS: loaded.result.stepsPerS,
    cpuSPer1kSteps: Math.round(cpuMs * 1000) / 1000, // ms per step = s per 1,000 steps
    files: [alone.file, loaded.file],
  };
}
