import pino from 'pino';
import { FleetBreakerView } from '@keel/resilience';
import type { ModelMap } from '../config';
import type { ModelClient } from './model-client';
import { ModelRouter } from './model-router';

const map = {
  providers: {},
  roles: {
    reasoning: {
      provider: 'primary',
      model: 'big',
      toolMode: 'native',
      fallback: { provider: 'backup', model: 'small', toolMode: 'native' },
    },
  },
} as unknown as ModelMap;

describe('ModelRouter with fleet-wide breakers', () => {
  const at = (ms: number) => new Date(ms).toISOString();
  const router = (fleet: FleetBreakerView) =>
    new ModelRouter(map, {
      createClient: () => ({}) as ModelClient,
      breaker: { failureThreshold: 5, coolDownMs: 30_000 },
      log: pino({ level: 'silent' }),
      fleet,
    });

  it('skips a provider open fleet-wide before this replica has seen it fail', () => {
    const fleet = new FleetBreakerView();
    const r = router(fleet);
    expect(r.pick('reasoning')).toMatchObject({ ok: true, fallback: false });
    fleet.apply('model:primary', {
      state: 'open',
      since: at(Date.now()),
      reason: 'HTTP_529',
      probeAt: at(Date.now() + 60_000),
    });
    expect(r.pick('reasoning')).toMatchObject({ ok: true, fallback: true });
    // Both open fleet-wide: wait about as long as the primary's probe time says.
    fleet.apply('model:backup', {
      state: 'open',
      since: at(Date.now()),
      reason: 'HTTP_500',
      probeAt: at(Date.now() + 60_000),
    });
    const pick = r.pick('reasoning');
    expect(pick.ok).toBe(false);
    expect(!pick.ok && pick.retryInMs).toBeGreaterThan(50_000);
    expect(r.breakerStates()).toEqual({ primary: 'closed', backup: 'closed' });
  });
});
