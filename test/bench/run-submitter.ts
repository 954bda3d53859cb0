import { performance } from 'node:perf_hooks';
import { JSONCodec, type JetStreamClient, type NatsConnection, type Subscription } from 'nats';
import { runIdFor, uuidv7, type KeelNames } from '@keel/contracts';

const json = JSONCodec();

export interface RunOutcome {
  readonly runId: string;
  readonly ok: boolean;
  readonly latencyMs: number;
  readonly finishedAt: number;
  /** Wall-clock (epoch ms) of the submit and of the end's arrival. */
  readonly submittedAtMs: number;
  readonly endedAtMs: number;
}

/**
 * Submits run requests the way an upstream system does (JetStream publish on
 * the ingress subject, Msg-Id = request id) and learns their ends from the
 * relayed run endings (RunCompleted / RunFailed / RunDegraded / ...), as an upstream would.
 * Latency = from just before the publish to the arrival of the end event.
 */
export class RunSubmitter {
  private readonly waiting = new Map<string, (ok: boolean) => void>();
  private subs: Subscription[] = [];
  /** The run submitted last (e.g. to find its trace). */
  lastRunId: string | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly names: KeelNames,
  ) {}

  start(): void {
    for (const type of [
      'RunCompleted',
      'RunFailed',
      'RunDegraded',
      'RunCancelled',
      'RunTimedOut',
    ]) {
      const sub = this.nc.subscribe(this.names.subjects.eventsOfType.pattern('run', type));
      this.subs.push(sub);
      void (async () => {
        for await (const m of sub) {
          const runId = m.subject.slice(m.subject.lastIndexOf('.') + 1);
          this.waiting.get(runId)?.(type === 'RunCompleted');
        }
      })();
    }
  }

  async submit(prompt: string, tools: string[], timeoutMs = 60_000): Promise<RunOutcome> {
    const requestId = `bench-${uuidv7()}`;
    const runId = runIdFor('bench', requestId);
    this.lastRunId = runId;
    const ended = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiting.set(runId, (ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
    });
    const submittedAtMs = Date.now();
    const t0 = performance.now();
    await this.js.publish(
      this.names.subjects.runRequest.build(),
      json.encode({
        requestId,
        tenant: 'bench',
        input: { prompt },
        tools,
        limits: { maxSteps: 10 },
      }),
      { msgID: requestId },
    );
    const ok = await ended;
    this.waiting.delete(runId);
    const finishedAt = performance.now();
    return {
      runId,
      ok,
      latencyMs: finishedAt - t0,
      finishedAt,
      submittedAtMs,
      endedAtMs: Date.now(),
    };
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
  }
}

/** Runs `total` submissions with at most `inFlight` at once. */
export async function runConcurrently(
  total: number,
  inFlight: number,
  submit: (i: number) => Promise<RunOutcome>,
): Promise<RunOutcome[]> {
  const out: RunOutcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      out.push(await submit(i));
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker));
  return out;
}
