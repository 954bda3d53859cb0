import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { passwordEnv, startNatsWithConfig, type RunningNats } from '../infra/nats-config';
import { ROOT, startStack, type KeelStack, type StartableService } from './stack';

/**
 * The deployment of infra/nats without Docker: a nats-server with the
 * repository's config and per-service users, `keel provision` run as the
 * admin user, every service with only its own credentials and
 * KEEL_NATS_PROVISION=false; the test's own connection is the `upstream` user.
 */
export interface LeastPrivilegeStack {
  readonly nats: RunningNats;
  readonly stack: KeelStack;
  /** Every user's password, by its variable (`NATS_PLANNER_PASSWORD`...). */
  readonly passwords: Record<string, string>;
  /** What `keel provision` printed (the streams and durables it declared). */
  readonly provisionOutput: string;
  /** A connection as `user` with its own inbox prefix (closed by `stop()`). */
  connectAs(user: string, inboxPrefix?: string): Promise<NatsConnection>;
  /**
   * The stack seen through the admin user: what checks that read streams and
   * consumers (e.g. the chaos invariants) need, since `upstream` may not.
   */
  adminView(): Promise<KeelStack>;
  stop(): Promise<void>;
}

export const passwordVarOf = (user: string) =>
  `NATS_${user.toUpperCase().replace(/-/g, '_')}_PASSWORD`;

export async function startLeastPrivilegeStack(opts: {
  modelBaseUrl: string;
  env?: Record<string, string>;
  services?: readonly StartableService[];
}): Promise<LeastPrivilegeStack> {
  const passwords = passwordEnv();
  const nats = await startNatsWithConfig(passwords);
  const open: NatsConnection[] = [];
  const provisioned = spawnSync(
    process.execPath,
    [join(ROOT, 'dist', 'apps', 'cli', 'main.js'), 'provision'],
    {
      env: {
        PATH: process.env.PATH ?? '',
        KEEL_NATS_URL: nats.url,
        KEEL_NATS_USER: 'admin',
        KEEL_NATS_PASSWORD: passwords.NATS_ADMIN_PASSWORD!,
        KEEL_NATS_INBOX_PREFIX: '_INBOX_admin',
        KEEL_PREFIX: 'keel',
      },
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  if (provisioned.status !== 0) {
    await nats.stop();
    throw new Error(`keel provision failed:\n${provisioned.stdout}${provisioned.stderr}`);
  }
  const stack = await startStack({
    modelBaseUrl: opts.modelBaseUrl,
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.services ? { services: opts.services } : {}),
    nats: {
      url: nats.url,
      prefix: 'keel',
      user: 'upstream',
      pass: passwords.NATS_UPSTREAM_PASSWORD!,
      inboxPrefix: '_INBOX_upstream',
    },
    serviceEnv: (service) => ({
      KEEL_NATS_USER: service,
      KEEL_NATS_PASSWORD: passwords[passwordVarOf(service)]!,
      KEEL_NATS_INBOX_PREFIX: `_INBOX_${service}`,
      KEEL_NATS_PROVISION: 'false',
    }),
  }).catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });

  const connectAs = async (user: string, inboxPrefix = `_INBOX_${user}`) => {
    const nc = await connect({
      servers: nats.url,
      user,
      pass: passwords[passwordVarOf(user)]!,
      inboxPrefix,
      name: `${user}-test`,
    });
    open.push(nc);
    return nc;
  };

  return {
    nats,
    stack,
    passwords,
    provisionOutput: `${provisioned.stdout}${provisioned.stderr}`,
    connectAs,
    async adminView() {
      const admin = await connectAs('admin');
      return {
        ...stack,
        nc: admin,
        js: admin.jetstream(),
        jsm: await admin.jetstreamManager({ checkAPI: false }),
      };
    },
    async stop() {
      await stack.stop();
      await Promise.all(open.map((nc) => nc.close().catch(() => undefined)));
      await nats.stop();
    },
  };
}
