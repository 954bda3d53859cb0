import { connect, DebugEvents, Events, type NatsConnection } from 'nats';
import { cheapenNatsErrors } from './cheap-nats-errors';
import { coalesceNatsWrites } from './coalesced-writes';
import { describeError } from './errors';
import type { MessagingLogger } from './logger';

export interface ConnectNatsOptions {
  /** One or more `nats://host:port` URLs. */
  servers: string | string[];
  /** Connection name shown by the server (`nats server report connections`): use the service name. */
  name: string;
  user?: string;
  pass?: string;
  /** Prefix of reply inboxes (lets permissions restrict `_INBOX.>` per service). */
  inboxPrefix?: string;
  /** If given, connection state changes (disconnect, reconnect, errors, lame duck) are logged. */
  logger?: MessagingLogger;
}

/**
 * Connects to NATS and stays connected: the first connect waits for the
 * server (`waitOnFirstConnect`) and reconnects are attempted forever with
 * jitter, so a NATS restart or a rolling upgrade pauses traffic instead of
 * killing the service. Publishes made while disconnected are buffered by the
 * client (up to its reconnect buffer) and sent on reconnect. The returned
 * promise resolves only once connected; it does not time out while the
 * server is unreachable.
 *
 * Close with `nc.drain()`: it flushes pending publishes and lets
 * subscriptions finish before closing.
 */
export async function connectNats(opts: ConnectNatsOptions): Promise<NatsConnection> {
  cheapenNatsErrors();
  coalesceNatsWrites();
  const nc = await connect({
    servers: opts.servers,
    name: opts.name,
    ...(opts.user !== undefined ? { user: opts.user } : {}),
    ...(opts.pass !== undefined ? { pass: opts.pass } : {}),
    ...(opts.inboxPrefix !== undefined ? { inboxPrefix: opts.inboxPrefix } : {}),
    waitOnFirstConnect: true,
    // No Error object (stack capture) per request and publish: measurable CPU on the hot path.
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    reconnectJitter: 500,
    reconnectJitterTLS: 1_000,
    timeout: 5_000,
    pingInterval: 20_000,
    maxPingOut: 3,
  });
  if (opts.logger) logStatus(nc, opts.name, opts.logger);
  return nc;
}

function logStatus(nc: NatsConnection, name: string, logger: MessagingLogger): void {
  void (async () => {
    for await (const s of nc.status()) {
      const fields = {
        connection: name,
        data: typeof s.data === 'string' || typeof s.data === 'number' ? s.data : undefined,
      };
      switch (s.type) {
        case Events.Disconnect:
          logger.warn(fields, 'nats disconnected');
          break;
        case Events.Reconnect:
          logger.info(fields, 'nats reconnected');
          break;
        case Events.LDM:
          logger.warn(fields, 'nats server entering lame duck mode');
          break;
        case Events.Error:
          logger.error({ connection: name, err: describeError(s.data) }, 'nats async error');
          break;
        case DebugEvents.Reconnecting:
        case DebugEvents.StaleConnection:
        case DebugEvents.ClientInitiatedReconnect:
          logger.debug({ ...fields, event: s.type }, 'nats connection event');
          break;
        case Events.Update:
        case DebugEvents.PingTimer:
          break;
      }
    }
  })().catch((err: unknown) =>
    logger.error({ connection: name, err: describeError(err) }, 'nats status watcher failed'),
  );
  void nc.closed().then((err) => {
    if (err)
      logger.error(
        { connection: name, err: describeError(err) },
        'nats connection closed with error',
      );
    else logger.info({ connection: name }, 'nats connection closed');
  });
}
