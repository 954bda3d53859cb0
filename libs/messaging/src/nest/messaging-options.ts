import type { ConnectNatsOptions } from '../connection';
import type { MessagingLogger } from '../logger';

interface CommonOptions {
  /** Defaults to a pino logger named `keel-messaging`. */
  logger?: MessagingLogger;
  /**
   * Declare the deployment's streams and durable consumers at start-up.
   * Default true. False for least-privilege deployments: the service only
   * binds to what `keel provision` (the NATS admin user) declared.
   */
  ensureStreams?: boolean;
  /** Stream replicas when declaring (1 for a single server). Default 1. */
  replicas?: number;
}

/** Explicit connection settings. */
export interface MessagingModuleOptions extends Omit<ConnectNatsOptions, 'logger'>, CommonOptions {
  /** Deployment prefix all names hang off (`keelNames(prefix)`). */
  prefix: string;
}

/** The NATS part of a service's environment config (a `BaseConfig` from `@keel/runtime` fits). */
export interface NatsEnvConfig {
  /** One URL or a comma-separated list. */
  KEEL_NATS_URL: string;
  KEEL_NATS_USER?: string | undefined;
  KEEL_NATS_PASSWORD?: string | undefined;
  KEEL_PREFIX: string;
  /** Replies arrive under this prefix; a user may only subscribe to its own (see infra/nats). */
  KEEL_NATS_INBOX_PREFIX?: string | undefined;
  /** False: declare nothing, bind only (the service has no JetStream admin rights). */
  KEEL_NATS_PROVISION?: boolean | undefined;
}

/** Settings taken from the service's env config; `serviceName` names the connection. */
export interface MessagingModuleEnvOptions extends CommonOptions {
  config: NatsEnvConfig;
  serviceName: string;
}

export type MessagingModuleInput = MessagingModuleOptions | MessagingModuleEnvOptions;

export function resolveMessagingOptions(input: MessagingModuleInput): MessagingModuleOptions {
  if (!('config' in input)) return input;
  const { config, serviceName, ...common } = input;
  return {
    ...common,
    servers: config.KEEL_NATS_URL.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    name: serviceName,
    prefix: config.KEEL_PREFIX,
    ...(config.KEEL_NATS_INBOX_PREFIX ? { inboxPrefix: config.KEEL_NATS_INBOX_PREFIX } : {}),
    ...(config.KEEL_NATS_PROVISION === false ? { ensureStreams: false } : {}),
    ...(config.KEEL_NATS_USER ? { user: config.KEEL_NATS_USER } : {}),
    ...(config.KEEL_NATS_PASSWORD ? { pass: config.KEEL_NATS_PASSWORD } : {}),
  };
}
