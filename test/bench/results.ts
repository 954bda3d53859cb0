import type { Calibration } from './calibrate';
import type { HopGap } from './hop-timeline';
/**
 * The shape of a benchmark run's results (`bench/results/<date>.json`).
 * Written by `npm run bench`, rendered to Markdown + SVG by `report.ts`.
 */

export interface Distribution {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface PeerRow {
  readonly system: string;
  readonly stepP50Ms?: number;
  readonly stepP99Ms?: number;
  readonly stepsPerS?: number;
  readonly cpuSPer1kSteps?: number;
  readonly note?: string;
}

export interface BenchResults {
  readonly workload: 'agent-run-10';
  readonly startedAt: string;
  readonly mode: 'default' | 'smoke' | 'scaling' | 'soak';
  readonly machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    node: string;
    postgres: string;
    natsServer: string;
  };
  readonly config: Record<string, string | number | boolean>;
  /**
   * The machine's speed before and after (a)-(c), as the two reference floors
   * issue 3 quotes (see calibrate.ts): compare with the peers only at similar values.
   */
  readonly calibration?: { readonly before: Calibration; readonly after: Calibration };
  /** (a) runs one at a time. Latencies in ms; steps per run = 10. */
  readonly sequential?: {
    readonly warmupRuns: number;
    readonly runs: number;
    readonly runLatencyMs: Distribution;
    /** run latency / 10 */
    readonly stepOverheadMs: { p50: number; p99: number };
    readonly samplesMs: readonly number[];
    /**
     * CPU ms per step over the measured runs, all processes (the scripted model
     * server included): with one run at a time, the CPU on a run's critical path.
     */
    readonly cpuMsPerStep?: number;
    readonly cpuMsPerStepByProcess?: Readonly<Record<string, number>>;
    /** Median gap per hop (consecutive events of a run), to see where a run's time goes. */
    readonly hops?: readonly HopGap[];
  };
  /** (b) many runs in flight through the NATS ingress. */
  readonly throughput?: {
    readonly runs: number;
    readonly inFlight: number;
    readonly durationS: number;
    readonly runsPerS: number;
    readonly stepsPerS: number;
    readonly failedRuns: number;
    readonly runLatencyMs: Distribution;
    readonly samplesMs: readonly number[];
    /** completed runs per 250 ms bucket from the start */
    readonly completionsPerBucket: readonly number[];
    readonly bucketMs: number;
  };
  /** (c) CPU of every process involved during (b), from /proc. */
  readonly cost?: {
    readonly steps: number;
    readonly cpuSecondsPer1kSteps: number;
    readonly cpuSecondsByProcess: Readonly<Record<string, number>>;
    /**
     * CPU seconds per second of (b), by process: 1.0 is one core saturated, and a
     * single-threaded service near it is a ceiling of its own (docs/performance.md).
     */
    readonly coresBusyByProcess?: Readonly<Record<string, number>>;
    readonly peakRssMiBByService: Readonly<Record<string, number>>;
  };
  /** (d) I/O-bound tool (sleeps), 1 then 2 tool-executor replicas. */
  readonly scaling?: {
    readonly toolSleepMs: number;
    readonly poolConcurrencyPerReplica: number;
    readonly results: readonly {
      replicas: number;
      toolCallsPerS: number;
      runs: number;
      durationS: number;
    }[];
    readonly speedup: number;
  };
  /** (e) steady rate for a long time: no growth, no failures. */
  readonly soak?: {
    readonly durationS: number;
    readonly targetRunsPerS: number;
    readonly completedRuns: number;
    readonly failedRuns: number;
    readonly services: readonly {
      service: string;
      rssStartMiB: number;
      /** Half-way through: an end close to it is a plateau, not growth. */
      rssMidMiB: number;
      rssEndMiB: number;
      /** Every runtime-stats sample of the soak, in order (10 s apart): growth or a plateau. */
      rssSeriesMiB?: number[];
      heapUsedSeriesMiB?: number[];
      heapTotalSeriesMiB?: number[];
      externalSeriesMiB?: number[];
      /** heapTotal by V8 space: which one grows. */
      oldSpaceSeriesMiB?: number[];
      oldSpaceUsedSeriesMiB?: number[];
      newSpaceSeriesMiB?: number[];
      largeObjectSeriesMiB?: number[];
      eventLoopDelayP99StartMs: number;
      eventLoopDelayP99EndMs: number;
    }[];
  };
  /**
   * The architecture's floor (`npm run bench:floor`) measured right after this
   * run: Keel's figures divided by these hold steadier across the machine's
   * moods than its absolute figures (docs/performance.md).
   */
  readonly floor?: FloorSummary;
  readonly peers: readonly PeerRow[];
}

/** The floor at 1 in flight (latency) and at 64 (throughput, CPU), in the peers' shape. */
export interface FloorSummary {
  readonly stepP50Ms: number;
  readonly stepP99Ms: number;
  readonly stepsPerS: number;
  /** All its processes but the model server: the same processes as Keel's (c). */
  readonly cpuSPer1kSteps: number;
  /** The floor's own result files. */
  readonly files: readonly string[];
}

/** Measured elsewhere on the same machine kind, same workload (issue 3, 2026-11-21). */
export const PEERS: readonly PeerRow[] = [
  {
    system: 'DBOS Transact 5.3 (Postgres)',
    stepP50Ms: 1.48,
    stepP99Ms: 2.49,
    stepsPerS: 1832,
    cpuSPer1kSteps: 0.9,
  },
  {
    system: 'pg-boss 10.4 (Postgres queue, notify)',
    stepP50Ms: 1.7,
    stepP99Ms: 2.75,
    stepsPerS: 2807,
    cpuSPer1kSteps: 0.58,
  },
  {
    system: 'Restate 1.7 (own log, RocksDB)',
    stepP50Ms: 1.12,
    stepP99Ms: 1.92,
    stepsPerS: 3998,
    cpuSPer1kSteps: 0.45,
  },
];
