import { AggregateCache } from './aggregate-step';

describe('AggregateCache', () => {
  it('evicts the least recently used entry beyond its size', () => {
    const cache = new AggregateCache<number>(2);
    cache.set('a', { state: 1, version: 1 });
    cache.set('b', { state: 2, version: 1 });
    cache.get('a');
    cache.set('c', { state: 3, version: 1 });
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.state).toBe(1);
    expect(cache.size).toBe(2);
  });

  it('does not keep states its retain rule rejects (a finished run)', () => {
    const cache = new AggregateCache<string>(10, (s) => s !== 'done');
    cache.set('r', { state: 'running', version: 1 });
    cache.set('r', { state: 'done', version: 2 });
    expect(cache.get('r')).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
