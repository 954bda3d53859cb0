import {
  AckPolicy,
  connect,
  RetentionPolicy,
  StorageType,
  StringCodec,
  type NatsConnection,
} from 'nats';
import { keelNames } from '@keel/contracts';
import { passwordEnv, startNatsWithConfig, type RunningNats } from './nats-config';

/**
 * The NATS permission model (infra/nats/README.md), checked against a real
 * server running the repository's config: each user can do its job and
 * nothing else. Names come from keelNames('keel'), so a rename in the
 * contracts that the config misses fails here.
 */
const names = keelNames('keel');
const sc = StringCodec();

describe('NATS permissions (infra/nats/auth.conf on a real server)', () => {
  let nats: RunningNats;
  let passwords: Record<string, string>;
  const open: NatsConnection[] = [];

  const as = async (user: string, inboxPrefix = `_INBOX_${user}`) => {
    const varName = `NATS_${user.toUpperCase().replace(/-/g, '_')}_PASSWORD`;
    const nc = await connect({
      servers: nats.url,
      user,
      pass: passwords[varName]!,
      inboxPrefix,
      name: user,
    });
    open.push(nc);
    return nc;
  };

  /** A request to a denied subject is rejected by nats.js with the server's permissions violation. */
  const expectDenied = async (attempt: Promise<unknown>, subject: string) => {
    const error: unknown = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
    expect((error as Error).message).toContain(subject);
  };

  beforeAll(async () => {
    passwords = passwordEnv();
    nats = await startNatsWithConfig(passwords);

    // Provisioning, as the admin user does at deployment start-up.
    const admin = await as('admin');
    const jsm = await admin.jetstreamManager();
    await jsm.streams.add({
      name: names.streams.ingress,
      subjects: [names.subjects.runRequest.pattern],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.Memory,
    });
    await jsm.streams.add({
      name: names.streams.events,
      subjects: [names.subjects.event.pattern],
      storage: StorageType.Memory,
    });
    await jsm.streams.add({
      name: names.streams.dlq,
      subjects: [names.subjects.dlq.pattern],
      storage: StorageType.Memory,
    });
    const durable = async (stream: string, name: string, filter: string) =>
      jsm.consumers.add(stream, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        filter_subject: filter,
      });
    await durable(
      names.streams.ingress,
      names.consumers.plannerIngress,
      names.subjects.runRequest.pattern,
    );
    await durable(
      names.streams.events,
      names.consumers.plannerToolResults,
      names.subjects.toolCallEvents.pattern,
    );
    await durable(
      names.streams.events,
      names.consumers.toolPool('default'),
      names.subjects.toolCallRequests.pattern('default'),
    );
    await durable(
      names.streams.events,
      names.consumers.budgetRunEvents,
      names.subjects.runEvents.pattern,
    );
  });

  afterAll(async () => {
    await Promise.all(open.map((nc) => nc.close()));
    await nats?.stop();
  });

  it('refuses anonymous connections and wrong passwords', async () => {
    await expect(connect({ servers: nats.url })).rejects.toMatchObject({
      code: 'AUTHORIZATION_VIOLATION',
    });
    await expect(
      connect({ servers: nats.url, user: 'planner', pass: 'wrong' }),
    ).rejects.toMatchObject({
      code: 'AUTHORIZATION_VIOLATION',
    });
  });

  it('upstream may submit run requests and nothing else', async () => {
    const upstream = await as('upstream');
    const js = upstream.jetstream();

    const ack = await js.publish(names.subjects.runRequest.build(), sc.encode('{}'), {
      msgID: 'req-1',
    });
    expect(ack.stream).toBe(names.streams.ingress);

    const forged = names.subjects.event.build('run', '_', 'RunCompleted', 'r1');
    await expectDenied(js.publish(forged, sc.encode('{}')), forged);
    await expectDenied(
      upstream.request(`$JS.API.STREAM.DELETE.${names.streams.ingress}`),
      'STREAM.DELETE',
    );
  });

  it('the planner pulls and acks its run requests, asks the budget guard, dead-letters, and cannot administer streams', async () => {
    // A budget guard answering in its queue group.
    const guard = await as('budget-guard');
    const sub = guard.subscribe(names.subjects.budgetReserve.pattern, { queue: 'budget-guard' });
    void (async () => {
      for await (const m of sub) m.respond(sc.encode('{"status":"granted"}'));
    })();
    await guard.flush();

    const upstream = await as('upstream');
    await upstream
      .jetstream()
      .publish(names.subjects.runRequest.build(), sc.encode('{"n":2}'), { msgID: 'req-2' });

    const planner = await as('planner');
    const js = planner.jetstream();
    const consumer = await js.consumers.get(names.streams.ingress, names.consumers.plannerIngress);
    const msg = await consumer.next({ expires: 5000 });
    expect(msg?.subject).toBe(names.subjects.runRequest.build());
    expect(await msg!.ackAck()).toBe(true);

    const reply = await planner.request(names.subjects.budgetReserve.build(), sc.encode('{}'), {
      timeout: 5000,
    });
    expect(sc.decode(reply.data)).toBe('{"status":"granted"}');

    const dead = await js.publish(
      names.subjects.dlq.build(names.consumers.plannerIngress),
      sc.encode('{}'),
    );
    expect(dead.stream).toBe(names.streams.dlq);

    await expectDenied(
      planner.request(`$JS.API.STREAM.DELETE.${names.streams.events}`),
      `$JS.API.STREAM.DELETE.${names.streams.events}`,
    );
    await expectDenied(
      planner.request(`$JS.API.CONSUMER.DURABLE.CREATE.${names.streams.events}.sneaky`),
      'CONSUMER.DURABLE.CREATE',
    );
    // Another service's durable.
    await expectDenied(
      js.consumers.get(names.streams.events, names.consumers.toolPool('default')),
      `$JS.API.CONSUMER.INFO.${names.streams.events}.${names.consumers.toolPool('default')}`,
    );
    // It may not forge another service's events (a tool outcome).
    const forged = names.subjects.event.build('toolcall', '_', 'ToolCallSucceeded', 'r1');
    await expectDenied(js.publish(forged, sc.encode('{}')), forged);
  });

  it('the outbox relays every event; a writer may publish only its own aggregate’s events', async () => {
    const outbox = await as('outbox');
    const requested = names.subjects.event.build('run', 'default', 'ToolCallRequested', 'r2');
    const succeeded = names.subjects.event.build('toolcall', '_', 'ToolCallSucceeded', 'r2');
    expect((await outbox.jetstream().publish(requested, sc.encode('{}'))).stream).toBe(
      names.streams.events,
    );
    expect((await outbox.jetstream().publish(succeeded, sc.encode('{}'))).stream).toBe(
      names.streams.events,
    );
    await expectDenied(
      outbox.request(names.subjects.runRequest.build(), sc.encode('{}')),
      names.subjects.runRequest.build(),
    );

    const executor = await as('tool-executor');
    const pool = await executor
      .jetstream()
      .consumers.get(names.streams.events, names.consumers.toolPool('default'));
    const work = await pool.next({ expires: 5000 });
    expect(work?.subject).toBe(requested);
    expect(await work!.ackAck()).toBe(true);
    await expectDenied(
      executor.jetstream().consumers.get(names.streams.ingress, names.consumers.plannerIngress),
      names.consumers.plannerIngress,
    );

    const planner = await as('planner');
    const results = await planner
      .jetstream()
      .consumers.get(names.streams.events, names.consumers.plannerToolResults);
    const outcome = await results.next({ expires: 5000 });
    expect(outcome?.subject).toBe(succeeded);
    expect(await outcome!.ackAck()).toBe(true);

    // Fast path: each writer publishes its own stream's events, and nobody else's.
    const runEvent = names.subjects.event.build('run', '_', 'RunCompleted', 'r3');
    const toolEvent = names.subjects.event.build('toolcall', '_', 'ToolCallSucceeded', 'r3');
    const budgetEvent = names.subjects.event.build('budget', '_', 'BudgetReserved', 'r3');
    expect((await planner.jetstream().publish(runEvent, sc.encode('{}'))).stream).toBe(
      names.streams.events,
    );
    await expectDenied(planner.jetstream().publish(toolEvent, sc.encode('{}')), toolEvent);
    expect((await executor.jetstream().publish(toolEvent, sc.encode('{}'))).stream).toBe(
      names.streams.events,
    );
    await expectDenied(executor.jetstream().publish(requested, sc.encode('{}')), requested);
    const guard = await as('budget-guard');
    expect((await guard.jetstream().publish(budgetEvent, sc.encode('{}'))).stream).toBe(
      names.streams.events,
    );
    await expectDenied(guard.jetstream().publish(runEvent, sc.encode('{}')), runEvent);
  });

  it('the budget guard can answer requests but not publish elsewhere', async () => {
    const guard = await as('budget-guard');
    await expectDenied(
      guard.request(names.subjects.runRequest.build(), sc.encode('{}')),
      names.subjects.runRequest.build(),
    );
    const consumer = await guard
      .jetstream()
      .consumers.get(names.streams.events, names.consumers.budgetRunEvents);
    expect(consumer).toBeDefined();
  });

  it('the budget guard ingests its DLQ durable and reads originals by sequence, but cannot change streams or redrive', async () => {
    const admin = await as('admin');
    const adminJsm = await admin.jetstreamManager();
    await adminJsm.consumers.add(names.streams.dlq, {
      durable_name: names.consumers.dlqIngest,
      ack_policy: AckPolicy.Explicit,
      filter_subject: '>',
    });
    await admin.jetstream().publish(names.subjects.dlq.build('planner-ingress'), sc.encode('{}'));
    const event = await admin
      .jetstream()
      .publish(names.subjects.event.build('run', '_', 'RunStarted', 'r9'), sc.encode('{"e":1}'));
    const request = await admin
      .jetstream()
      .publish(names.subjects.runRequest.build(), sc.encode('{"r":1}'), { msgID: 'dlq-perm-1' });

    const guard = await as('budget-guard');
    const jsm = await guard.jetstreamManager({ checkAPI: false });
    const consumer = await guard
      .jetstream()
      .consumers.get(names.streams.dlq, names.consumers.dlqIngest);
    const m = await consumer.next({ expires: 5_000 });
    expect(m?.subject).toMatch(/^keel\.dlq\./);
    expect(await m!.ackAck()).toBe(true);
    expect((await jsm.streams.getMessage(names.streams.events, { seq: event.seq })).string()).toBe(
      '{"e":1}',
    );
    expect(
      (await jsm.streams.getMessage(names.streams.ingress, { seq: request.seq })).string(),
    ).toBe('{"r":1}');

    await expectDenied(
      jsm.streams.deleteMessage(names.streams.ingress, request.seq),
      `STREAM.MSG.DELETE.${names.streams.ingress}`,
    );
    await expectDenied(
      jsm.consumers.delete(names.streams.dlq, names.consumers.dlqIngest),
      `CONSUMER.DELETE.${names.streams.dlq}`,
    );
    // Redriving is an operator's (`keel dlq redrive`), not the guard's.
    await expectDenied(
      guard.jetstream().publish(names.subjects.runRequest.build(), sc.encode('{}')),
      names.subjects.runRequest.build(),
    );
  });

  it("keeps inboxes private: a client with another service's inbox prefix gets no replies", async () => {
    const sneaky = await as('tool-executor', '_INBOX_planner');
    await expectDenied(
      sneaky.request(`$JS.API.STREAM.INFO.${names.streams.events}`),
      '_INBOX_planner',
    );
  });
});
