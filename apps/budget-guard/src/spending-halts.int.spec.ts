import pino from 'pino';
import { connect, type NatsConnection } from 'nats';
import { keelNames, uuidv7 } from '@keel/contracts';
import { FastPublisher } from '@keel/runtime';
import { migratedTestSchema, testNamespace, type TestSchema } from '@keel/testing';
import { SpendingHalts } from './spending-halts';

const NATS_URL = process.env.KEEL_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/**
 * The kill switch's copy of `spending_halts` against real PostgreSQL: replicas
 * decide reservations on a copy read at most a lease ago, and a halt is
 * answered only once every replica's copy must hold it.
 */
describe('SpendingHalts (a leased copy of the halts)', () => {
  const log = pino({ level: 'silent' });
  let db: TestSchema;
  let nc: NatsConnection;
  let publisher: FastPublisher;
  beforeAll(async () => {
    db = await migratedTestSchema('sh');
    nc = await connect({ servers: NATS_URL, name: 'spending-halts-int-test' });
    publisher = new FastPublisher(nc, keelNames(testNamespace().prefix), { owns: ['budget'] });
  });
  afterAll(async () => {
    await nc.close();
    await db.drop();
  });
  afterEach(() => db.pool.query('DELETE FROM spending_halts'));

  const replica = (leaseMs: number) => new SpendingHalts(db.pool, log, publisher, leaseMs);

  it('reads the table once per lease, not once per reservation', async () => {
    const guard = replica(60_000);
    await Promise.all(Array.from({ length: 20 }, () => guard.haltFor('acme')));
    for (let i = 0; i < 20; i++) expect(await guard.haltFor('acme')).toBeUndefined();
    expect(guard.tableReads).toBe(1);
  });

  it('uses the copy: a halt written around `halt` is not seen until the copy expires', async () => {
    const guard = replica(60_000);
    expect(await guard.haltFor('acme')).toBeUndefined();
    await db.pool.query(
      "INSERT INTO spending_halts (scope, reason, halted_by) VALUES ('acme', 'by hand', 'psql')",
    );
    // The documented cost of the copy; `halt` itself waits the lease out (next test).
    expect(await guard.haltFor('acme')).toBeUndefined();
    await expect(replica(0).haltFor('acme')).resolves.toMatchObject({ reason: 'by hand' });
  });

  it('answers a halt only when every replica’s copy holds it', async () => {
    const [a, b] = [replica(1500), replica(1500)];
    expect(await b.haltFor('acme')).toBeUndefined(); // b's copy is fresh: no halt in it
    const readsBefore = b.tableReads;

    const reply = await a.halt('acme', 'investigation', 'ops');

    expect(reply).toMatchObject({ status: 'accepted', halted: [{ scope: 'acme' }] });
    // Without the wait, b would still decide on its fresh, halt-less copy.
    expect(await b.haltFor('acme')).toMatchObject({ reason: 'investigation' });
    expect(await b.haltFor('globex')).toBeUndefined();
    expect(b.tableReads).toBeGreaterThan(readsBefore);
  });

  it('a global halt applies to every tenant', async () => {
    const guard = replica(500);
    await guard.halt('*', 'incident', 'ops');
    expect(await guard.haltFor('acme')).toMatchObject({ reason: 'incident' });
    expect(await guard.haltFor('globex')).toMatchObject({ reason: 'incident' });
  });

  it('after a release, a stale copy pauses no run: the pause reads the table itself', async () => {
    const [a, b] = [replica(100), replica(60_000)];
    await a.halt('acme', 'investigation', 'ops');
    await expect(b.haltFor('acme')).resolves.toMatchObject({ reason: 'investigation' });
    await a.release('acme', 'ops');

    // …but b's copy still holds the halt: a reservation asked ahead is answered halted…
    expect(await b.haltFor('acme')).toMatchObject({ reason: 'investigation' });
    // …while the step's own reservation finds no halt to pause under, and goes on.
    expect(await b.pause(uuidv7(), 'acme')).toBeUndefined();
    expect((await db.pool.query('SELECT 1 FROM paused_runs')).rowCount).toBe(0);
  });

  it('a read that took longer than a lease is not trusted: it reads again', async () => {
    const guard = replica(300);
    const blocker = await db.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE spending_halts IN ACCESS EXCLUSIVE MODE');
      const answer = guard.haltFor('acme');
      await new Promise((r) => setTimeout(r, 500)); // the read waits behind the lock
      await blocker.query('COMMIT');
      expect(await answer).toBeUndefined();
    } finally {
      blocker.release();
    }
    expect(guard.tableReads).toBe(2);
  });

  it('with a lease of 0 every reservation reads the table', async () => {
    const guard = replica(0);
    for (let i = 0; i < 5; i++) await guard.haltFor('acme');
    expect(guard.tableReads).toBe(5);
  });
});
