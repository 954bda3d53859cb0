import { keelNames } from '@keel/contracts';
import { HEALTH_EVENT_TYPES, RETIRED_HEALTH_EVENT_TYPES } from '@keel/budget-domain';
import { connectNats, ensureConsumer, ensureStreams, openBreakerBucket } from '@keel/messaging';
import { allConsumers } from '@keel/runtime';
import { builtinTools, ToolRegistry } from '@keel/tools';

/**
 * `keel provision`: declare the deployment's streams and durable consumers as
 * the NATS admin user (KEEL_NATS_USER / KEEL_NATS_PASSWORD), and remove the
 * durables earlier versions declared that nothing reads any more. Idempotent. For
 * deployments whose services run without JetStream admin rights
 * (KEEL_NATS_PROVISION=false); see infra/nats/README.md.
 */
export async function provision(
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
): Promise<number> {
  const names = keelNames(env.KEEL_PREFIX ?? 'keel');
  const nc = await connectNats({
    servers: (env.KEEL_NATS_URL ?? 'nats://127.0.0.1:4222').split(','),
    name: 'keel-provision',
    ...(env.KEEL_NATS_USER ? { user: env.KEEL_NATS_USER } : {}),
    ...(env.KEEL_NATS_PASSWORD ? { pass: env.KEEL_NATS_PASSWORD } : {}),
    ...(env.KEEL_NATS_INBOX_PREFIX ? { inboxPrefix: env.KEEL_NATS_INBOX_PREFIX } : {}),
  });
  try {
    const jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, names);
    out(`streams   ${Object.values(names.streams).join(', ')}`);
    await openBreakerBucket(nc, names, { create: true });
    out(`kv bucket ${names.buckets.breakers}`);
    const pools = new ToolRegistry(builtinTools()).pools();
    for (const c of allConsumers(names, pools, HEALTH_EVENT_TYPES)) {
      await ensureConsumer(jsm, c.stream, c);
      out(`consumer  ${c.stream}/${c.durable}  (${c.filterSubject})`);
    }
    // Durables earlier versions declared and nothing reads any more: left, they would keep
    // a position (and server memory) on every event of their type.
    for (const type of RETIRED_HEALTH_EVENT_TYPES) {
      const durable = names.consumers.breakerHealth(type);
      const removed = await jsm.consumers
        .delete(names.streams.events, durable)
        .catch((err: unknown) => {
          if (/not found/i.test(String(err))) return false; // never declared here, or gone
          throw err;
        });
      if (removed) out(`removed   ${names.streams.events}/${durable}  (retired)`);
    }
    return 0;
  } finally {
    await nc.drain();
  }
}
