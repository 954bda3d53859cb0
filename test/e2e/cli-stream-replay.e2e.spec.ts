import type { ConsumerInfo } from 'nats';
import { RelayedEvent } from '@keel/contracts';
import { calculatorScript, startScriptedModel, waitFor, type ScriptedModel } from '@keel/testing';
import { runCli } from '../support/run-cli';
import { submitRun, waitForBudgetSettled, waitForEvent } from '../support/scenarios';
import { startStack, type KeelStack } from '../support/stack';

jest.setTimeout(180_000);

interface Printed {
  seq: number;
  time: string;
  subject: string;
  type: string;
  runId: string;
}

/**
 * `keel stream-replay`: the events stream read back from a sequence or a time
 * through an ephemeral consumer — exactly the stream's messages, in order —
 * while the production durables' state (pending, delivered, ack floor) stays
 * as it was and no consumer is left behind.
 */
describe('keel stream-replay', () => {
  let model: ScriptedModel;
  let stack: KeelStack;
  let runA: string;
  let runB: string;

  beforeAll(async () => {
    model = await startScriptedModel(calculatorScript('6 * 7', 'It is '));
    stack = await startStack({ modelBaseUrl: model.baseUrl });
    runA = (await submitRun(stack, 'a')).runId;
    await waitForEvent(stack.pool, runA, 'RunCompleted');
    // The run's last settle is appended after its end: wait for it too.
    await waitForBudgetSettled(stack.pool, runA);
    await quiet(); // all of run A is in the stream before run B starts
    runB = (await submitRun(stack, 'b')).runId;
    await waitForEvent(stack.pool, runB, 'RunCompleted');
    await waitForBudgetSettled(stack.pool, runB);
    await quiet();
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  const stream = () => stack.names.streams.events;
  const consumers = async (): Promise<ConsumerInfo[]> => {
    const all: ConsumerInfo[] = [];
    for await (const c of stack.jsm.consumers.list(stream())) all.push(c);
    // The relay's own view of what the stream holds (headers only, not a durable) reads on as
    // it polls: it is the outbox's, not something a replay could move or leave behind.
    return all
      .filter((c) => c.name !== stack.names.consumers.relayHeld)
      .sort((x, y) => x.name.localeCompare(y.name));
  };
  /**
   * The durables' position: what a replay must not change. Messages delivered and acked are
   * counted in consumer sequences (a filtered durable's stream pointer also moves when the
   * server skips non-matching messages for its own pulls, with nothing delivered).
   */
  const durableState = async () =>
    (await consumers()).map((c) => ({
      name: c.name,
      durable: c.config.durable_name,
      pending: c.num_pending,
      ackPending: c.num_ack_pending,
      delivered: c.delivered.consumer_seq,
      ackFloor: c.ack_floor.consumer_seq,
    }));
  /** Every event of the log is in the stream (relayed once each), and every durable has taken and acked it. */
  const quiet = () =>
    waitFor(
      async () => {
        const { rows } = await stack.pool.query<{ n: string }>('SELECT count(*) AS n FROM events');
        const info = await stack.jsm.streams.info(stream());
        const cs = await consumers();
        return (
          info.state.messages === Number(rows[0]!.n) &&
          cs.length > 0 &&
          cs.every((c) => c.num_pending === 0 && c.num_ack_pending === 0)
        );
      },
      { timeoutMs: 30_000, description: 'every event relayed and the durables settled' },
    );
  /** The stream's messages as stored, straight from JetStream. */
  const stored = async () => {
    const info = await stack.jsm.streams.info(stream());
    const out: (Printed & { ms: number })[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await stack.jsm.streams.getMessage(stream(), { seq });
      const e = RelayedEvent.parse(m.json());
      out.push({
        seq: m.seq,
        time: m.time.toISOString(),
        ms: m.time.getTime(),
        subject: m.subject,
        type: e.type,
        runId: e.metadata.correlationId,
      });
    }
    return out;
  };
  const replay = async (...args: string[]): Promise<Printed[]> => {
    const r = await runCli(['stream-replay', ...args, '--json'], stack.env);
    if (r.code !== 0) throw new Error(`stream-replay exited ${r.code}: ${r.stderr}`);
    return r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Printed);
  };
  const view = ({ seq, subject, type, runId }: Printed) => ({ seq, subject, type, runId });

  it('replays from a sequence and from a time, exactly, without moving any durable', async () => {
    const before = await durableState();
    expect(before.every((c) => c.durable === c.name)).toBe(true);
    expect(before.some((c) => c.delivered > 0 && c.ackFloor === c.delivered)).toBe(true);
    const all = await stored();
    const firstOfB = all.find((m) => m.runId === runB)!;
    expect(firstOfB.seq).toBeGreaterThan(1);

    const fromSeq = await replay('--from-seq', String(firstOfB.seq));
    expect(fromSeq.map(view)).toEqual(all.filter((m) => m.seq >= firstOfB.seq).map(view));
    expect(new Set(fromSeq.map((m) => m.runId))).toEqual(new Set([runB]));
    // Times are the stream's own (millisecond precision here).
    expect(fromSeq.map((m) => m.time)).toEqual(
      all.filter((m) => m.seq >= firstOfB.seq).map((m) => m.time),
    );

    const since = new Date(firstOfB.ms).toISOString();
    const fromTime = await replay('--since', since);
    expect(fromTime.map(view)).toEqual(all.filter((m) => m.ms >= firstOfB.ms).map(view));
    expect(fromTime[0]!.seq).toBeLessThanOrEqual(firstOfB.seq);

    const ofA = await replay('--from-seq', '1', '--run', runA);
    expect(ofA.map(view)).toEqual(all.filter((m) => m.runId === runA).map(view));
    expect(ofA.map((m) => m.type)).toContain('RunCompleted');

    const runEvents = await replay(
      '--from-seq',
      '1',
      '--subject',
      `${stack.names.prefix}.evt.run.>`,
    );
    expect(runEvents.map(view)).toEqual(
      all.filter((m) => m.subject.startsWith(`${stack.names.prefix}.evt.run.`)).map(view),
    );

    const limited = await replay('--from-seq', '1', '--limit', '3');
    expect(limited.map(view)).toEqual(all.slice(0, 3).map(view));

    // The durables are exactly where they were, and the ephemeral consumers are gone.
    expect(await durableState()).toEqual(before);
  });

  it('prints a readable table, and refuses ambiguous or bad arguments', async () => {
    const all = await stored();
    const r = await runCli(['stream-replay', '--from-seq', '1', '--run', runA], stack.env);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const ofA = all.filter((m) => m.runId === runA);
    expect(lines).toHaveLength(ofA.length);
    expect(lines[0]).toBe(
      `${String(ofA[0]!.seq).padStart(8)}  ${ofA[0]!.time}  ${ofA[0]!.type.padEnd(24)} ${runA}  ${ofA[0]!.subject}`,
    );
    expect(r.stderr).toContain(`${ofA.length} messages from ${stream()}`);

    const both = await runCli(
      ['stream-replay', '--from-seq', '1', '--since', '2026-01-01T00:00:00Z'],
      stack.env,
    );
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give exactly one of --from-seq N and --since ISO-TIME');
    const badTime = await runCli(['stream-replay', '--since', 'yesterday'], stack.env);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toContain('--since must be an ISO time');
    const future = await runCli(['stream-replay', '--since', '2999-01-01T00:00:00Z'], stack.env);
    expect(future).toMatchObject({ code: 0, stdout: '' });
  });
});
