import { keelNames } from '@keel/contracts';
import { type DynamicModule, Module } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { pino } from 'pino';
import { connectNats } from '../connection';
import type { MessagingLogger } from '../logger';
import { ConsumerHost } from './consumer-host';
import { type MessagingModuleInput, resolveMessagingOptions } from './messaging-options';
import {
  JETSTREAM,
  JETSTREAM_MANAGER,
  KEEL_NAMES,
  MESSAGING_LOGGER,
  MESSAGING_OPTIONS,
  NATS_CONNECTION,
} from './tokens';

/**
 * `MessagingModule.forRoot(options)`: a global module providing the NATS
 * connection (connected before the app finishes initialising), the JetStream
 * client and manager, the deployment's names and a `ConsumerHost`. Apps must
 * call `app.enableShutdownHooks()` (or close the app on SIGTERM themselves) so
 * consumers and the connection drain (see `ConsumerHost`).
 */
@Module({})
export class MessagingModule {
  static forRoot(input: MessagingModuleInput): DynamicModule {
    const options = resolveMessagingOptions(input);
    return {
      module: MessagingModule,
      global: true,
      providers: [
        { provide: MESSAGING_OPTIONS, useValue: options },
        { provide: KEEL_NAMES, useFactory: () => keelNames(options.prefix) },
        {
          provide: MESSAGING_LOGGER,
          useFactory: (): MessagingLogger => options.logger ?? pino({ name: 'keel-messaging' }),
        },
        {
          provide: NATS_CONNECTION,
          useFactory: (logger: MessagingLogger) => {
            const {
              prefix: _p,
              logger: _l,
              ensureStreams: _e,
              replicas: _r,
              ...connectOptions
            } = options;
            return connectNats({ ...connectOptions, logger });
          },
          inject: [MESSAGING_LOGGER],
        },
        {
          provide: JETSTREAM,
          useFactory: (nc: NatsConnection) => nc.jetstream(),
          inject: [NATS_CONNECTION],
        },
        {
          provide: JETSTREAM_MANAGER,
          // Without admin rights the account-info probe ($JS.API.INFO) is denied: skip it.
          useFactory: (nc: NatsConnection) =>
            nc.jetstreamManager({ checkAPI: options.ensureStreams !== false }),
          inject: [NATS_CONNECTION],
        },
        ConsumerHost,
      ],
      exports: [
        NATS_CONNECTION,
        JETSTREAM,
        JETSTREAM_MANAGER,
        KEEL_NAMES,
        MESSAGING_LOGGER,
        ConsumerHost,
      ],
    };
  }
}
