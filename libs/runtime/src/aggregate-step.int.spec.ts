import type { Pool } from 'pg';
import { uuidv7, type BudgetEvent } from '@keel/contracts';
import { AggregateCache, runStep, type AggregateSpec } from './aggregate-step';
import { countingQueries, migratedSchema } from './int-test-support';

/** Open (reserved, unsettled) reservation ids. */
const spec: AggregateSpec<ReadonlySet<string>, BudgetEvent> = {
  initial: () => new Set(),
  evolve: (s, e) => {
    const next = new Set(s);
    if (e.type === 'BudgetReserved') next.add(e.data.reservationId);
    if (e.type === 'BudgetSettled') next.delete(e.data.reservationId);
    return next;
  },
};

describe('runStep', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  beforeAll(async () => ({ pool, drop } = await migratedSchema('rt')));
  afterAll(() => drop());

  const reserved = (runId: string, reservationId: string): BudgetEvent => ({
    type: 'BudgetReserved',
    data: {
      runId,
      tenant: 'acme',
      scope: 'run',
      reservationId,
      tokens: 10,
      costMicros: 0,
      limitTokens: null,
      limitCostMicros: null,
      committedTokens: 10,
      committedCostMicros: 0,
      warning: false,
    },
  });

  const metadataFor = (runId: string) => () => ({
    eventId: uuidv7(),
    correlationId: runId,
    tenant: 'acme',
    producer: 'test',
  });

  /** The pool, with the name of every query it runs recorded (to see which statements a step costs). */
  const counting = (names: string[]): Pool => countingQueries(pool, names);

  it('assumeNew: a new stream is appended to without being read; a wrong guess fails its version check and the stream is read', async () => {
    const runId = uuidv7();
    const streamId = `budget:${runId}`;
    const metadata = metadataFor(runId);
    const step = (names: string[], reservationId: string) =>
      runStep(counting(names), spec, {
        streamId,
        cache: new AggregateCache<ReadonlySet<string>>(), // a replica that has never seen the stream
        metadata,
        assumeNew: true,
        decide: () => ({ events: [reserved(runId, reservationId)], result: undefined }),
      });

    const fresh: string[] = [];
    const first = await step(fresh, 'r1');
    expect(first.version).toBe(1);
    expect(fresh).toEqual(['keel_append']);

    const wrong: string[] = [];
    const second = await step(wrong, 'r2');
    expect(second.version).toBe(2);
    expect([...second.state].sort()).toEqual(['r1', 'r2']);
    expect(wrong).toEqual(['keel_append', 'keel_read_stream', 'keel_append']);
  });

  it('decides "nothing to do" again from the stream when its cached state is behind (another replica wrote)', async () => {
    const runId = uuidv7();
    const streamId = `budget:${runId}`;
    const metadata = metadataFor(runId);
    const [replicaA, replicaB] = [
      new AggregateCache<ReadonlySet<string>>(),
      new AggregateCache<ReadonlySet<string>>(),
    ];
    const step = (
      cache: AggregateCache<ReadonlySet<string>>,
      decide: (s: ReadonlySet<string>) => BudgetEvent[],
    ) =>
      runStep(pool, spec, {
        streamId,
        cache,
        metadata,
        decide: (s) => ({ events: decide(s), result: undefined }),
      });
    await step(replicaB, () => []); // B caches the empty stream
    await step(replicaA, () => [reserved(runId, 'r1')]);
    // B settles r1: its cache says r1 does not exist, which no append would ever check.
    const settled = await step(replicaB, (s) =>
      s.has('r1')
        ? [
            {
              type: 'BudgetSettled',
              data: {
                runId,
                reservationId: 'r1',
                usage: { inputTokens: 1, outputTokens: 0 },
                costMicros: 0,
              },
            },
          ]
        : [],
    );
    expect(settled.records.map((r) => r.type)).toEqual(['BudgetSettled']);
    expect(settled.state.size).toBe(0);
  });
});
