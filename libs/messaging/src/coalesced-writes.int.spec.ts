import { setImmediate as nextTurn } from 'node:timers/promises';
import type { NatsConnection } from 'nats';
import { connectNats } from './connection';
import { NATS_URL } from './int-test-support';

/** Reaches into nats.js for the socket, to see the cork (test only). */
const socketOf = (nc: NatsConnection) =>
  (nc as unknown as { protocol: { transport: { socket: { writableCorked: number } } } }).protocol
    .transport.socket;

describe('coalesced NATS writes', () => {
  let pub: NatsConnection;
  let sub: NatsConnection;

  beforeAll(async () => {
    pub = await connectNats({ servers: NATS_URL, name: 'coalesce-pub' }); // installs the patch
    sub = await connectNats({ servers: NATS_URL, name: 'coalesce-sub' });
  });
  afterAll(async () => {
    await pub.close();
    await sub.close();
  });

  it('corks the socket for the rest of the loop turn, then delivers every message in order', async () => {
    const subject = `coalesce.${process.pid}.${Date.now()}`;
    const got: string[] = [];
    const s = sub.subscribe(subject, { callback: (_e, m) => got.push(m.string()) });
    await sub.flush();
    const sent: string[] = [];
    for (let turn = 0; turn < 20; turn++) {
      await nextTurn(); // each publish from its own macrotask, as handlers finishing on I/O do
      for (let i = 0; i < 5; i++) {
        const text = `${turn}.${i}`;
        sent.push(text);
        pub.publish(subject, text);
      }
      await Promise.resolve(); // nats.js flushes on a microtask: the write is now held by the cork
      expect(socketOf(pub).writableCorked).toBe(1);
    }
    await pub.flush();
    await sub.flush();
    for (let i = 0; i < 50 && got.length < sent.length; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(sent);
    expect(socketOf(pub).writableCorked).toBe(0);
    // Request/reply still works across the cork.
    const rs = sub.subscribe(`${subject}.rr`, { callback: (_e, m) => m.respond(m.data) });
    await sub.flush();
    expect((await pub.request(`${subject}.rr`, 'ping', { timeout: 2000 })).string()).toBe('ping');
    rs.unsubscribe();
    s.unsubscribe();
  });
});
