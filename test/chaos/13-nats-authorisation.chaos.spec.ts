import {
  AckPolicy,
  connect,
  RetentionPolicy,
  StorageType,
  StringCodec,
  type NatsConnection,
} from 'nats';
import { keelNames } from '@keel/contracts';
import { API_PROJECTOR_DURABLE } from '@keel/runtime';
import { calculatorScript, startScriptedModel, type ScriptedModel } from '@keel/testing';
import { passwordEnv, startNatsWithConfig, type RunningNats } from '../infra/nats-config';
import {
  startLeastPrivilegeStack,
  type LeastPrivilegeStack,
} from '../support/least-privilege-stack';
import { submitRun } from '../support/scenarios';
import { checkInvariants, expectInvariants } from './support/invariants';
import { chaosScale, recordScenario } from './support/summary';

jest.setTimeout(180_000);

/**
 * Scenario 13: NATS authorisation. Part a checks the permission model of
 * infra/nats/auth.conf user by user (moved here from
 * test/infra/nats-permissions.e2e.spec.ts); part b runs the whole deployment
 * with per-service users and, while runs go through it, lets a rogue client
 * holding each service's credentials try everything the others own: their
 * subjects, their durables, their inboxes and the JetStream admin API. Every
 * attempt must be refused by the server, the runs must still end, and the
 * streams and consumers must be as `keel provision` left them.
 */
const names = keelNames('keel');
const sc = StringCodec();

describe('chaos 13a: the permission model (infra/nats/auth.conf on a real server)', () => {
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

/** Each service's own things, which no other user may touch (keelNames('keel')). */
const evt = (aggregate: 'run' | 'toolcall' | 'budget' | 'delivery', type: string) =>
  names.subjects.event.build(aggregate, '_', type, 'rogue-run');
const INGRESS = names.subjects.runRequest.build();
const RESERVE = names.subjects.budgetReserve.build();
const CANCEL = names.subjects.runCancel.build();
const REVIEW = names.subjects.runReview.build();
const HALT = names.subjects.budgetHalt.build();
const { ingress: INGRESS_STREAM, events: EVENTS, dlq: DLQ } = names.streams;

interface Forbidden {
  /** Subjects of other services this user may not publish to. */
  publish: string[];
  /** Subjects of other services this user may not subscribe to. */
  subscribe: string[];
  /** Other services' durables it may not pull from. */
  durables: [stream: string, durable: string][];
}

const FORBIDDEN: Record<string, Forbidden> = {
  upstream: {
    publish: [evt('run', 'RunCompleted'), evt('toolcall', 'ToolCallSucceeded'), RESERVE, CANCEL],
    subscribe: ['keel.evt.>', RESERVE, INGRESS, '_INBOX_planner.>'],
    durables: [[INGRESS_STREAM, names.consumers.plannerIngress]],
  },
  planner: {
    publish: [
      evt('toolcall', 'ToolCallSucceeded'),
      evt('budget', 'BudgetReserved'),
      evt('delivery', 'DeliveryRequested'),
      INGRESS,
      CANCEL,
      HALT,
    ],
    subscribe: [RESERVE, 'keel.evt.>', INGRESS, '_INBOX_tool-executor.>'],
    durables: [
      [EVENTS, names.consumers.toolPool('default')],
      [EVENTS, names.consumers.budgetRunEvents],
    ],
  },
  'tool-executor': {
    publish: [
      evt('run', 'RunCompleted'),
      evt('budget', 'BudgetReserved'),
      RESERVE,
      CANCEL,
      INGRESS,
      HALT,
    ],
    subscribe: [CANCEL, RESERVE, 'keel.evt.>', '_INBOX_planner.>'],
    durables: [
      [INGRESS_STREAM, names.consumers.plannerIngress],
      [EVENTS, names.consumers.plannerToolResults],
    ],
  },
  'budget-guard': {
    publish: [
      evt('run', 'RunCompleted'),
      evt('toolcall', 'ToolCallSucceeded'),
      INGRESS,
      CANCEL,
      RESERVE,
    ],
    subscribe: [REVIEW, 'keel.evt.>', '_INBOX_planner.>'],
    durables: [
      [INGRESS_STREAM, names.consumers.plannerIngress],
      [EVENTS, names.consumers.outboxDeliveries],
    ],
  },
  outbox: {
    publish: [INGRESS, RESERVE, CANCEL, HALT],
    subscribe: ['keel.evt.>', RESERVE, '_INBOX_budget-guard.>'],
    durables: [
      [INGRESS_STREAM, names.consumers.plannerIngress],
      [EVENTS, names.consumers.toolPool('default')],
    ],
  },
};

/** The JetStream admin API: no service (nor upstream) may change streams or consumers. */
const ADMIN_CALLS = [
  `$JS.API.STREAM.CREATE.ROGUE`,
  `$JS.API.STREAM.UPDATE.${EVENTS}`,
  `$JS.API.STREAM.DELETE.${EVENTS}`,
  `$JS.API.STREAM.DELETE.${INGRESS_STREAM}`,
  `$JS.API.STREAM.PURGE.${EVENTS}`,
  `$JS.API.STREAM.PURGE.${DLQ}`,
  `$JS.API.STREAM.MSG.DELETE.${EVENTS}`,
  `$JS.API.STREAM.LIST`,
  `$JS.API.CONSUMER.CREATE.${EVENTS}`,
  `$JS.API.CONSUMER.CREATE.${EVENTS}.rogue.keel.evt.>`,
  `$JS.API.CONSUMER.DURABLE.CREATE.${EVENTS}.rogue`,
  `$JS.API.CONSUMER.DELETE.${EVENTS}.${names.consumers.plannerToolResults}`,
  `$JS.API.CONSUMER.DELETE.${INGRESS_STREAM}.${names.consumers.plannerIngress}`,
  `$JS.API.CONSUMER.LIST.${EVENTS}`,
];

/** Whether a request on `subject` is refused by the server for this user. */
async function requestRefused(nc: NatsConnection, subject: string): Promise<boolean> {
  const error: unknown = await nc.request(subject, sc.encode('{}'), { timeout: 5_000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  return (error as { code?: string } | undefined)?.code === 'PERMISSIONS_VIOLATION';
}

/**
 * Whether the server refuses a subscription: its -ERR arrives before the
 * PONG of the flush that follows the SUB, so no waiting is involved.
 */
async function subscribeRefused(nc: NatsConnection, subject: string): Promise<boolean> {
  let refused = false;
  const sub = nc.subscribe(subject, {
    callback: (err) => {
      if (err?.code === 'PERMISSIONS_VIOLATION') refused = true;
    },
  });
  await nc.flush();
  if (!refused) sub.unsubscribe();
  return refused;
}

describe('chaos 13b: rogue clients with every service’s credentials, while runs go through', () => {
  const scale = chaosScale();
  let model: ScriptedModel;
  let lp: LeastPrivilegeStack;

  beforeAll(async () => {
    model = await startScriptedModel(calculatorScript('6 * 7', 'It is '));
    lp = await startLeastPrivilegeStack({
      modelBaseUrl: model.baseUrl,
      env: { KEEL_REVIEW_ENABLED: 'false' },
    });
    // This deployment runs without the HTTP API: its projector's durable (declared by
    // `keel provision`) has no consumer here and would only pile up.
    const admin = await lp.adminView();
    await admin.jsm.consumers.delete(EVENTS, API_PROJECTOR_DURABLE).catch(() => false);
  });

  afterAll(async () => {
    await lp?.stop();
    await model?.close();
  });

  it('every attempt on another service’s subjects, durables or the admin API is refused; runs still end', async () => {
    const runs = await Promise.all(
      Array.from({ length: scale.runs(40, 8) }, () => submitRun(lp.stack, 'authz')),
    );
    const allowed: string[] = [];
    let attempts = 0;
    await Promise.all(
      Object.entries(FORBIDDEN).map(async ([user, forbidden]) => {
        const nc = await lp.connectAs(user);
        const js = nc.jetstream();
        const check = (refused: boolean, what: string) => {
          attempts++;
          if (!refused) allowed.push(`${user}: ${what}`);
        };
        for (const subject of forbidden.publish) {
          // A JetStream publish waits for the PubAck: a refused one fails at once.
          const error: unknown = await js.publish(subject, sc.encode('{}')).then(
            () => undefined,
            (e: unknown) => e,
          );
          check(
            (error as { code?: string } | undefined)?.code === 'PERMISSIONS_VIOLATION' ||
              (await requestRefused(nc, subject)),
            `publish ${subject}`,
          );
        }
        for (const subject of forbidden.subscribe)
          check(await subscribeRefused(nc, subject), `subscribe ${subject}`);
        for (const [stream, durable] of forbidden.durables)
          check(
            await requestRefused(nc, `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`),
            `pull ${stream}/${durable}`,
          );
        for (const subject of ADMIN_CALLS) check(await requestRefused(nc, subject), subject);
      }),
    );
    expect(allowed).toEqual([]);

    const view = await lp.adminView();
    const report = await checkInvariants({ stack: view, runIds: runs.map((r) => r.runId) });
    recordScenario({
      scenario: '13-nats-authorisation',
      runs: report.runs,
      faults: attempts,
      finalStates: report.finalStates,
      duplicates: report.duplicates,
      lostEvents: report.lostEvents,
    });
    // The services themselves never needed anything they were refused.
    const refusedServices = [...lp.stack.services.values()].flatMap((s) =>
      s
        .logs()
        .split('\n')
        .filter((line) => /Permissions Violation/i.test(line))
        .slice(0, 2)
        .map((line) => `${s.name}: ${line.slice(0, 300)}`),
    );
    expect(refusedServices).toEqual([]);
    expectInvariants(report);
    expect(report.finalStates).toEqual({ completed: runs.length });

    // The streams and consumers are as provisioned: nothing created, deleted or purged.
    // (The ingress is a work queue: acked requests leave it, so only the others keep seq 1.)
    for (const stream of [EVENTS, DLQ]) {
      const info = await view.jsm.streams.info(stream);
      if (info.state.messages > 0) expect(info.state.first_seq).toBe(1);
    }
    expect((await view.jsm.streams.info(INGRESS_STREAM)).state.last_seq).toBeGreaterThanOrEqual(
      runs.length,
    );
    await expect(view.jsm.streams.info('ROGUE')).rejects.toThrow();
    const durables = (await view.jsm.consumers.list(EVENTS).next()).map((c) => c.name);
    expect(durables).not.toContain('rogue');
    expect(durables).toContain(names.consumers.plannerToolResults);
  });
});
