import { StorageType, type KV, type NatsConnection } from 'nats';
import type { KeelNames } from '@keel/contracts';

/**
 * Opens the fleet-breaker KV bucket (`<PREFIX>_BREAKERS`): one key per
 * dependency, latest value only. `create: false` binds to the bucket
 * `keel provision` declared (services without JetStream admin rights). The
 * JetStream account check (`$JS.API.INFO`) is skipped: services are not
 * granted that subject, and the bucket's own stream info proves JetStream.
 */
export function openBreakerBucket(
  nc: NatsConnection,
  names: KeelNames,
  opts: { create: boolean; replicas?: number },
): Promise<KV> {
  const js = nc.jetstream({ checkAPI: false });
  return js.views.kv(names.buckets.breakers, {
    history: 1,
    storage: StorageType.File,
    replicas: opts.replicas ?? 1,
    bindOnly: !opts.create,
  });
}
