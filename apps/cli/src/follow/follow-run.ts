import { JSONCodec, type NatsConnection } from 'nats';
import { RelayedEvent, type KeelNames } from '@keel/contracts';

const json = JSONCodec();

/**
 * Follow one run's events from the events stream, in stream order, from its
 * first event: an ephemeral ordered consumer filtered on the run's subjects
 * (nothing durable is created; the server drops it when we stop). JetStream
 * keeps one copy of each event (fast path and relay share `Nats-Msg-Id`).
 * `onEvent` says when the run has ended (in its log order, which the
 * stream's order is not quite); following stops `graceMs` later (budget
 * settlements follow the ending), or after `timeoutMs` with `ended: false`.
 */
export async function followRun(opts: {
  nc: NatsConnection;
  names: KeelNames;
  runId: string;
  timeoutMs: number;
  graceMs?: number;
  onEvent: (e: RelayedEvent) => { ended: boolean };
}): Promise<{ ended: boolean }> {
  const { nc, names, runId } = opts;
  const consumer = await nc.jetstream().consumers.get(names.streams.events, {
    // From the first message (the default; an explicit DeliverPolicy.All stalls nats.js's ordered consumer).
    filterSubjects: names.subjects.eventsOfRun.pattern(runId),
  });
  const messages = await consumer.consume();
  let ended = false;
  const stop = () => void messages.close();
  const timer = setTimeout(stop, opts.timeoutMs);
  let grace: NodeJS.Timeout | undefined;
  try {
    for await (const m of messages) {
      const e = RelayedEvent.parse(json.decode(m.data));
      if (opts.onEvent(e).ended && !ended) {
        ended = true;
        clearTimeout(timer);
        grace = setTimeout(stop, opts.graceMs ?? 1_000);
      }
    }
  } finally {
    clearTimeout(timer);
    clearTimeout(grace);
    await messages.close();
  }
  return { ended };
}
