import type { WebhookReceiver } from '@keel/testing';

/**
 * Side effects as the receiver saw them, for `checkInvariants({ effects })`.
 * A receiver that honours idempotency keys processes each key once by
 * construction, so the count that can reveal a double effect is per logical
 * operation: how many times *anything* was processed for it (a sender that
 * minted a second key for the same delivery would show up as 2).
 */
export function webhookEffects(
  receiver: WebhookReceiver,
  logicalKey: (body: unknown, idempotencyKey: string) => string = (_b, key) => key,
): { countsByKey(): ReadonlyMap<string, number> } {
  return {
    countsByKey() {
      const counts = new Map<string, number>();
      for (const [key, body] of receiver.processedBodies) {
        const k = logicalKey(body, key);
        counts.set(k, (counts.get(k) ?? 0) + (receiver.processedByKey.get(key) ?? 0));
      }
      return counts;
    },
  };
}
