import { FleetBreakerView } from './fleet-view';

describe('FleetBreakerView', () => {
  let now = 1_000_000;
  const view = () => new FleetBreakerView({ now: () => now, probeLeaseMs: 1_000 });
  const at = (ms: number) => new Date(ms).toISOString();

  beforeEach(() => (now = 1_000_000));

  it('allows calls to a dependency it has heard nothing about, or that is closed', () => {
    const v = view();
    expect(v.check('model:openai')).toEqual({ allowed: true, probe: false });
    v.apply('model:openai', { state: 'closed', since: at(now), reason: '' });
    expect(v.check('model:openai')).toEqual({ allowed: true, probe: false });
  });

  it('refuses an open dependency until its probe time, saying how long to wait', () => {
    const v = view();
    v.apply('tool:http', {
      state: 'open',
      since: at(now),
      reason: 'HTTP_503',
      probeAt: at(now + 30_000),
    });
    const c = v.check('tool:http');
    expect(c).toEqual({ allowed: false, retryInMs: 30_000, state: 'open', reason: 'HTTP_503' });
  });

  it('lets one probe at a time through when half-open, and another once the lease ends', () => {
    const v = view();
    v.apply('tool:http', { state: 'half_open', since: at(now), reason: 'cool-down' });
    expect(v.check('tool:http')).toEqual({ allowed: true, probe: true });
    expect(v.check('tool:http')).toMatchObject({ allowed: false, state: 'half_open' });
    now += 1_001;
    expect(v.check('tool:http')).toEqual({ allowed: true, probe: true });
  });

  it('probes an open breaker past its probe time even if the guard has not moved it (guard down)', () => {
    const v = view();
    v.apply('tool:http', { state: 'open', since: at(now), reason: 'x', probeAt: at(now + 100) });
    now += 200;
    expect(v.check('tool:http')).toEqual({ allowed: true, probe: true });
    expect(v.check('tool:http').allowed).toBe(false);
  });

  it('forgets a probe lease when the state changes, and a deleted key is closed', () => {
    const v = view();
    v.apply('tool:http', { state: 'half_open', since: at(now), reason: '' });
    v.check('tool:http');
    v.apply('tool:http', { state: 'closed', since: at(now), reason: 'probe succeeded' });
    expect(v.check('tool:http')).toEqual({ allowed: true, probe: false });
    v.apply('tool:http', { state: 'open', since: at(now), reason: 'x', probeAt: at(now + 5) });
    v.apply('tool:http', undefined);
    expect(v.check('tool:http').allowed).toBe(true);
    expect(v.snapshot()).toEqual({});
  });

  it('says a success matters only while failures are counted or the breaker is not closed', () => {
    const v = view();
    const closed = (failures: number) => ({
      state: 'closed' as const,
      since: at(now),
      reason: '',
      failures,
    });
    expect(v.successMatters('tool:http')).toBe(false); // never heard of: nothing to reset
    v.apply('tool:http', closed(0));
    expect(v.successMatters('tool:http')).toBe(false);
    v.apply('tool:http', closed(2));
    expect(v.successMatters('tool:http')).toBe(true);
    v.apply('tool:http', { state: 'open', since: at(now), reason: 'HTTP_503', failures: 3 });
    expect(v.successMatters('tool:http')).toBe(true);
    v.apply('tool:http', { state: 'half_open', since: at(now), reason: 'cool-down', failures: 3 });
    expect(v.successMatters('tool:http')).toBe(true);
    v.apply('tool:http', closed(0));
    expect(v.successMatters('tool:http')).toBe(false);
    v.apply('tool:http', undefined);
    expect(v.successMatters('tool:http')).toBe(false);
  });
});
