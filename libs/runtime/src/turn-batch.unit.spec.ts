import { TurnBatch } from './turn-batch';

describe('TurnBatch', () => {
  it('hands calls of one turn to run together, each caller getting its own result', async () => {
    const calls: number[][] = [];
    const batch = new TurnBatch<number, number>((items) => {
      calls.push([...items]);
      return Promise.resolve(items.map((i) => i * 10));
    }, 3);
    const first = await Promise.all([1, 2, 3, 4].map((i) => batch.add(i)));
    expect(first).toEqual([10, 20, 30, 40]);
    expect(calls).toEqual([[1, 2, 3], [4]]); // maxBatch 3
    await batch.add(5); // a later turn: a batch of its own
    expect(calls.at(-1)).toEqual([5]);
  });

  it('rejects every caller of a batch whose run fails', async () => {
    const batch = new TurnBatch<number, number>(() => Promise.reject(new Error('db down')));
    const results = await Promise.allSettled([batch.add(1), batch.add(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
