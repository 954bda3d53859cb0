import { keelNames, type KeelNames } from '@keel/contracts';
import { Inject, Injectable, Module, type OnApplicationBootstrap } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NatsConnection } from 'nats';
import {
  captureLogger,
  connectTest,
  deleteStreams,
  NATS_URL,
  randomPrefix,
  waitFor,
} from '../int-test-support';
import { publishJson } from '../publish';
import { ConsumerHost } from './consumer-host';
import { MessagingModule } from './messaging.module';
import { KEEL_NAMES, NATS_CONNECTION } from './tokens';

describe('MessagingModule', () => {
  it('connects, declares streams, runs a registered consumer and drains everything on close', async () => {
    const prefix = randomPrefix();
    const handled: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));

    @Injectable()
    class Consumers implements OnApplicationBootstrap {
      constructor(
        @Inject(ConsumerHost) private readonly host: ConsumerHost,
        @Inject(KEEL_NAMES) private readonly names: KeelNames,
      ) {}
      async onApplicationBootstrap(): Promise<void> {
        await this.host.start({
          stream: this.names.streams.events,
          durable: 'module-test',
          filterSubject: this.names.subjects.event.pattern,
          concurrency: 2,
          maxDeliver: 3,
          ackWaitMs: 30_000,
          handler: async (msg) => {
            if (msg.subject.includes('.Held.')) await gate;
            handled.push(msg.subject);
            return { kind: 'ack' };
          },
        });
      }
    }

    @Module({
      imports: [
        MessagingModule.forRoot({
          config: { KEEL_NATS_URL: NATS_URL, KEEL_PREFIX: prefix },
          serviceName: 'module-test',
          logger: captureLogger(),
        }),
      ],
      providers: [Consumers],
    })
    class AppModule {}

    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    await app.init();
    const nc = app.get<NatsConnection>(NATS_CONNECTION);
    const names = app.get<KeelNames>(KEEL_NAMES);
    const probe = await connectTest();
    const jsm = await probe.jetstreamManager();
    try {
      expect(names.prefix).toBe(prefix);
      // Streams were declared by the module.
      expect((await jsm.streams.info(names.streams.dlq)).config.name).toBe(names.streams.dlq);

      const js = probe.jetstream();
      await publishJson(
        js,
        names.subjects.event.build('run', '_', 'Quick', 'r1'),
        {},
        { msgId: 'q-1' },
      );
      await waitFor('quick message handled', () => handled.length === 1);

      await publishJson(
        js,
        names.subjects.event.build('run', '_', 'Held', 'r1'),
        {},
        { msgId: 'h-1' },
      );
      await waitFor(
        'held message in flight',
        async () =>
          (await jsm.consumers.info(names.streams.events, 'module-test')).num_ack_pending === 1,
      );

      const closing = app.close();
      release();
      await closing;

      expect(handled).toHaveLength(2);
      expect(nc.isClosed()).toBe(true);
      await waitFor(
        'held message acked',
        async () =>
          (await jsm.consumers.info(names.streams.events, 'module-test')).num_ack_pending === 0,
      );
    } finally {
      release();
      if (!nc.isClosed()) await app.close();
      await deleteStreams(jsm, keelNames(prefix));
      await probe.close();
    }
  });
});
