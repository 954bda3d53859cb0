import type { KeelStack } from '../../support/stack';

/**
 * Every event id on the stack's events stream with how many copies it has,
 * read with an ordered (ephemeral) consumer. The id is the `Nats-Msg-Id`
 * header (relay and fast path both set it), else the payload's event id.
 */
export async function readStreamEventIds(stack: KeelStack): Promise<Map<string, number>> {
  const stream = stack.names.streams.events;
  const counts = new Map<string, number>();
  const info = await stack.jsm.streams.info(stream);
  const total = info.state.messages;
  if (total === 0) return counts;
  const consumer = await stack.js.consumers.get(stream);
  let seen = 0;
  while (seen < total) {
    const batch = await consumer.fetch({
      max_messages: Math.min(1000, total - seen),
      expires: 5000,
    });
    let got = 0;
    for await (const m of batch) {
      got++;
      const id = m.headers?.get('Nats-Msg-Id') || eventIdOf(m.string()) || `seq:${m.seq}`;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    seen += got;
    if (got === 0) break;
  }
  return counts;
}

/** The payload's event id; undefined for a message that is not an event (bad input a test sent). */
function eventIdOf(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { metadata?: { eventId?: string } }).metadata?.eventId;
  } catch {
    return undefined;
  }
}
