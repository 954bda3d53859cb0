import { fullJitterBackoffMs } from './backoff';

describe('fullJitterBackoffMs', () => {
  it('grows exponentially from the base and is capped', () => {
    const max = (attempt: number) => fullJitterBackoffMs(attempt, { random: () => 0.999999 });
    expect(max(1)).toBe(199);
    expect(max(2)).toBe(399);
    expect(max(3)).toBe(799);
    expect(max(20)).toBe(29_999);
    expect(max(1000)).toBe(29_999);
  });

  it('uses the full range down to zero', () => {
    expect(fullJitterBackoffMs(5, { random: () => 0 })).toBe(0);
    expect(fullJitterBackoffMs(2, { random: () => 0.5 })).toBe(200);
  });

  it('honours a custom base and cap', () => {
    const max = (attempt: number) =>
      fullJitterBackoffMs(attempt, { baseMs: 1000, capMs: 5000, random: () => 0.999999 });
    expect(max(1)).toBe(999);
    expect(max(3)).toBe(3999);
    expect(max(4)).toBe(4999);
  });
});
