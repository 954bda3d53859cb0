import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { FleetBreakerState, fleetBreakerNameOfKey, type KeelNames } from '@keel/contracts';
import { openBreakerBucket } from '@keel/messaging';
import { FleetBreakerView } from '@keel/resilience';

/**
 * Keeps a replica's `FleetBreakerView` in step with the fleet-breaker KV
 * bucket the budget guard writes (docs/design/fleet-breakers.md). The watch
 * delivers every key's latest value first, then each change as it is put
 * (milliseconds after the guard's commit). A value that fails its schema is
 * logged and ignored — a bad write must not stop a replica from calling.
 * If the bucket cannot be opened the view stays empty (every dependency
 * closed, the replica's own breakers still apply) and the watch is retried.
 */
export class FleetBreakerWatch {
  readonly view = new FleetBreakerView();
  private stopped = false;
  private stopWatch: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: KeelNames,
    private readonly log: Logger,
    private readonly create: boolean,
  ) {}

  async start(): Promise<void> {
    try {
      const kv = await openBreakerBucket(this.nc, this.names, { create: this.create });
      const iter = await kv.watch();
      this.stopWatch = () => iter.stop();
      void (async () => {
        for await (const e of iter) {
          const name = fleetBreakerNameOfKey(e.key);
          if (e.operation !== 'PUT') {
            this.view.apply(name, undefined);
            continue;
          }
          const parsed = FleetBreakerState.safeParse(safeJson(e.string()));
          if (!parsed.success) {
            this.log.warn({ key: e.key }, 'ignoring an invalid fleet breaker value');
            continue;
          }
          this.view.apply(parsed.data.name, parsed.data);
          if (parsed.data.state !== 'closed') {
            this.log.warn(
              { breaker: parsed.data.name, state: parsed.data.state, reason: parsed.data.reason },
              'fleet breaker state',
            );
          }
        }
      })().catch((err: unknown) => this.restart(err));
    } catch (err) {
      this.restart(err);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.stopWatch?.();
  }

  private restart(err: unknown): void {
    if (this.stopped) return;
    this.log.warn({ err: String(err) }, 'fleet breaker watch failed; retrying in 1 s');
    this.retry = setTimeout(() => void this.start(), 1_000);
    this.retry.unref();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
