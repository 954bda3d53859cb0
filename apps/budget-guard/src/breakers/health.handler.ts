import { RelayedEvent, upcastEvent } from '@keel/contracts';
import { healthObservationOf } from '@keel/budget-domain';
import { parseJson, type Disposition, type InboundMessage } from '@keel/messaging';
import type { AppliedTransition, BreakerStore } from './breaker-store';

/**
 * Derives dependency health from one outcome event (a model call's or a tool
 * attempt's) and applies it to the fleet breaker it names. Transitions are
 * handed to `onTransition` after commit (publish the event, put the KV value).
 */
export function healthHandler(deps: {
  store: BreakerStore;
  consumer: string;
  onTransition: (t: AppliedTransition) => void;
}) {
  return async (msg: InboundMessage): Promise<Disposition> => {
    const relayed = parseJson(msg, RelayedEvent);
    const obs = healthObservationOf(upcastEvent(relayed.type, relayed.schemaVersion, relayed.data));
    if (!obs) return { kind: 'ack' };
    const applied = await deps.store.observe(obs, {
      runId: relayed.metadata.correlationId,
      tenant: relayed.metadata.tenant,
      eventId: relayed.metadata.eventId,
      consumer: deps.consumer,
    });
    if (applied) deps.onTransition(applied);
    return { kind: 'ack' };
  };
}
