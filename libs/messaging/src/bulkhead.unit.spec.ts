import { Bulkhead } from './bulkhead';

describe('Bulkhead', () => {
  it('counts slots and wakes waiters on release and when idle', async () => {
    const b = new Bulkhead(2);
    b.acquire();
    b.acquire();
    expect(b.free).toBe(0);
    expect(() => b.acquire()).toThrow(/over capacity/);

    let woke = false;
    const waiting = b.whenFree().then(() => (woke = true));
    let idle = false;
    const idling = b.whenIdle().then(() => (idle = true));
    await Promise.resolve();
    expect(woke).toBe(false);

    b.release();
    await waiting;
    expect(woke).toBe(true);
    expect(idle).toBe(false);

    b.release();
    await idling;
    expect(idle).toBe(true);
  });

  it('rejects a non-positive capacity', () => {
    expect(() => new Bulkhead(0)).toThrow(RangeError);
  });
});
