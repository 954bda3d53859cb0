import {
  calculatorScript,
  startScriptedModel,
  toolCallsReply,
  waitFor,
  type ScriptedModel,
  type ScriptedReply,
} from '@keel/testing';
import {
  requestsOf,
  runEvents,
  Scenarios,
  submitRun,
  waitForEvent,
  type StoredEvent,
} from '../support/scenarios';
import { startStack, type KeelStack } from '../support/stack';
import { checkInvariants, expectInvariants } from './support/invariants';
import { seededRandom, type SeededRandom } from './support/seeded-random';
import { chaosScale, recordScenario } from './support/summary';

jest.setTimeout(chaosScale().full ? 900_000 : 240_000);

/**
 * Scenario 9: a model fault storm. Every run gets its own plan, drawn from a
 * seeded RNG: transient faults (429 with Retry-After, 500, 503, 529, hangs,
 * dropped connections, malformed bodies) before a good answer, faults that
 * never stop, a permanent 400, schema-violating or non-JSON output, or a
 * tool-call loop. The runs share the planner's provider breaker, so one run's
 * faults open it for all. Checked at the end over the recorded history: the
 * breaker's transitions (planner log), the requests the server saw per run
 * against the configured limits, and every run's ending.
 */
const MAX_ATTEMPTS = 10;
const OUTPUT_ATTEMPTS = 2;
const BREAKER_FAILURES = 3;

type Plan = 'recover' | 'exhaust' | 'permanent' | 'bad-output' | 'reprompt' | 'loop';
const PLANS: readonly (readonly [Plan, number])[] = [
  ['recover', 5],
  ['exhaust', 1],
  ['permanent', 1],
  ['bad-output', 1],
  ['reprompt', 1],
  ['loop', 1],
];
/** Plans whose run cannot complete, whatever the breaker does. */
const DOOMED: readonly Plan[] = ['exhaust', 'permanent', 'bad-output'];

const TRANSIENT: readonly ScriptedReply[] = [
  { fault: 'status', status: 429, retryAfterSeconds: 1 },
  { fault: 'status', status: 500 },
  { fault: 'status', status: 503 },
  { fault: 'status', status: 529 },
  { fault: 'hang' },
  { fault: 'drop' },
  { fault: 'malformed' },
];
const BAD_OUTPUT: readonly ScriptedReply[] = [
  { content: 'Sure! Let me think about that.' },
  { content: JSON.stringify({ action: 'final', answer: 42, confidence: 'high' }) },
];

interface PlannedRun {
  plan: Plan;
  /** The replies for the run's first requests; after them, a healthy model. */
  replies: ScriptedReply[];
}

/**
 * Draws from a seeded, shuffled deck that refills when empty: every item
 * shows up once per round, so even the short form meets each kind.
 */
function deck<T>(rng: SeededRandom, items: readonly T[]): () => T {
  let left: T[] = [];
  return () => {
    if (left.length === 0) {
      left = [...items];
      for (let i = left.length - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [left[i], left[j]] = [left[j]!, left[i]!];
      }
    }
    return left.pop()!;
  };
}

function drawRuns(rng: SeededRandom, count: number): PlannedRun[] {
  const transient = deck(rng, TRANSIENT);
  const badOutput = deck(rng, BAD_OUTPUT);
  const plans = deck(
    rng,
    PLANS.map(([p]) => p),
  );
  const many = (n: number, draw: () => ScriptedReply) => Array.from({ length: n }, draw);
  // The first round meets every plan; the rest are drawn by weight.
  return Array.from({ length: count }, (_, i): PlannedRun => {
    const plan = i < PLANS.length ? plans() : rng.weighted(PLANS);
    switch (plan) {
      case 'recover':
        return { plan, replies: many(rng.int(1, 3), transient) };
      case 'exhaust':
        return { plan, replies: many(40, transient) };
      case 'permanent':
        return { plan, replies: [{ fault: 'status', status: 400 }] };
      case 'bad-output':
        return { plan, replies: many(40, badOutput) };
      case 'reprompt':
        return { plan, replies: [badOutput()] };
      case 'loop':
        return { plan, replies: [] };
    }
  });
}

interface Transition {
  from: string;
  to: string;
}

/** The planner's recorded breaker transitions (its structured log), in order. */
function breakerTransitions(log: string): Transition[] {
  const found: Transition[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('model provider breaker transition')) continue;
    const entry = JSON.parse(line) as { from: string; to: string };
    found.push({ from: entry.from, to: entry.to });
  }
  return found;
}

/** The fleet-wide breaker's recorded transitions (stream `budget:breaker:model:default`). */
async function fleetTransitions(stack: KeelStack): Promise<Transition[]> {
  const { rows } = await stack.pool.query<{ data: Transition }>(
    `SELECT data FROM events WHERE type = 'FleetBreakerTransitioned'
        AND data->>'breaker' = 'model:default' ORDER BY stream_version`,
  );
  return rows.map((r) => r.data);
}

describe('chaos 9: model fault storm', () => {
  const scale = chaosScale();
  const rng = seededRandom('09-model-fault-storm');
  const scenarios = new Scenarios();
  const calc = calculatorScript('6 * 7', 'It is ');
  let model: ScriptedModel;
  let stack: KeelStack;
  let faults = 0;

  beforeAll(async () => {
    model = await startScriptedModel(scenarios.script);
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      env: {
        KEEL_MODEL_TIMEOUT_MS: '1000',
        KEEL_MODEL_RETRY_BASE_MS: '100',
        KEEL_MODEL_RETRY_CAP_MS: '400',
        KEEL_MODEL_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
        KEEL_MODEL_OUTPUT_ATTEMPTS: String(OUTPUT_ATTEMPTS),
        KEEL_INVALID_OUTPUT_ESCALATION: 'dead_letter',
        KEEL_MODEL_BREAKER_FAILURES: String(BREAKER_FAILURES),
        KEEL_MODEL_BREAKER_COOLDOWN_MS: '1000',
        // The fleet-wide breaker the budget guard keeps from every replica's outcomes.
        KEEL_FLEET_BREAKER_FAILURES: String(BREAKER_FAILURES),
        KEEL_FLEET_BREAKER_COOLDOWN_MS: '1000',
        KEEL_FLEET_BREAKER_SWEEP_MS: '100',
        KEEL_REVIEW_ENABLED: 'false',
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  it('breakers open and close, retries stay within the limits, every run ends with a reason', async () => {
    const count = scale.runs(60, 14);
    const planned = drawRuns(rng, count);
    // The storm opens with a burst the breaker cannot miss: the first
    // BREAKER_FAILURES runs start with BREAKER_FAILURES 503s each, whatever their
    // plan, and run alone until the planner's breaker has opened — every reply
    // until then is a failure, so the consecutive count cannot be reset by a
    // healthy reply in between (it was, on a slow CI machine, when they shared
    // the start with the other runs).
    for (const p of planned.slice(0, BREAKER_FAILURES))
      p.replies.unshift(
        ...Array.from(
          { length: BREAKER_FAILURES },
          () => ({ fault: 'status', status: 503 }) as const,
        ),
      );

    let n = 0;
    const submit = (batch: readonly PlannedRun[]) =>
      Promise.all(
        batch.map(async (p) => {
          const name = scenarios.add(`storm-${++n}`, (req, i) => {
            const scripted = p.replies[i];
            if (scripted) {
              faults++;
              return scripted;
            }
            if (p.plan === 'loop')
              return toolCallsReply([
                { name: 'calculator', arguments: { expression: `${i} + 1` } },
              ]);
            return calc(req, i);
          });
          const run = await submitRun(
            stack,
            name,
            p.plan === 'loop' ? { limits: { maxSteps: 3 } } : {},
          );
          return { ...run, name, plan: p.plan };
        }),
      );
    const burst = await submit(planned.slice(0, BREAKER_FAILURES));
    await waitFor(
      () => breakerTransitions(stack.services.get('planner')!.logs()).some((t) => t.to === 'open'),
      {
        timeoutMs: 60_000,
        intervalMs: 100,
        description: "the opening burst to open the planner's breaker",
      },
    );
    const runs = [...burst, ...(await submit(planned.slice(BREAKER_FAILURES)))];
    for (const r of runs) await waitForEvent(stack.pool, r.runId, undefined, 120_000);

    // Healthy runs after the storm until both breakers are closed again: a run's
    // success closes the planner's breaker, and a probe after the fleet breaker's
    // cool-down closes that one (an open breaker only half-opens with no traffic).
    const clear = scenarios.add('all-clear', calc);
    const healthy: string[] = [];
    let seen = 'nothing yet';
    await waitFor(
      async () => {
        const { runId } = await submitRun(stack, clear);
        healthy.push(runId);
        const end = (await waitForEvent(stack.pool, runId, undefined, 120_000)).at(-1)!;
        const local = breakerTransitions(stack.services.get('planner')!.logs()).at(-1);
        const fleet = (await fleetTransitions(stack)).at(-1);
        seen = `healthy run ${healthy.length} ended ${end.type} ${JSON.stringify(end.data.error ?? '')}; last planner breaker transition ${JSON.stringify(local)}; last fleet transition ${JSON.stringify(fleet)}`;
        return end.type === 'RunCompleted' && local?.to === 'closed' && fleet?.to === 'closed';
      },
      {
        timeoutMs: 120_000,
        intervalMs: 500,
        description: () => `healthy runs to close both breakers (${seen})`,
      },
    );
    // The last healthy run completed (matched whole, so a failure shows how it ended).
    expect((await runEvents(stack.pool, healthy.at(-1)!)).at(-1)).toMatchObject({
      type: 'RunCompleted',
      data: { answer: 'It is 42' },
    });

    // Endings: doomed plans never complete; failures and degradations carry a reason.
    const problems: string[] = [];
    const endings: string[] = [];
    for (const r of runs) {
      const events = await runEvents(stack.pool, r.runId);
      const end = events.at(-1)!;
      endings.push(
        `${r.plan}: ${end.type} ${JSON.stringify(end.data.error ?? end.data.reason ?? '')}`,
      );
      if (DOOMED.includes(r.plan) && end.type === 'RunCompleted')
        problems.push(`${r.name} (${r.plan}) completed`);
      if (end.type === 'RunCompleted' && end.data.answer !== 'It is 42')
        problems.push(`${r.name} completed with ${JSON.stringify(end.data.answer)}`);
      if (end.type === 'RunFailed' && !(end.data.error as { code?: string } | undefined)?.code)
        problems.push(`${r.name} failed without a code`);
      if (end.type === 'RunDegraded' && !(end.data.reason as { code?: string } | undefined)?.code)
        problems.push(`${r.name} degraded without a code`);
      problems.push(...withinLimits(r.name, events, requestsOf(model, r.name).length));
    }
    const byCode: Record<string, number> = {};
    for (const e of endings) {
      const key = /^([\w-]+): (\w+) (?:\{"code":"(\w+)")?/.exec(e)?.slice(1).join(' ').trim() ?? e;
      byCode[key] = (byCode[key] ?? 0) + 1;
    }
    process.stdout.write(`[chaos] 09 plan → ending: ${JSON.stringify(byCode)}\n`);
    if (problems.length > 0)
      process.stdout.write(`[chaos] 09 endings:\n  ${endings.join('\n  ')}\n`);
    expect(problems).toEqual([]);

    // The planner's own breaker: opened by the storm, probed half-open, closed again;
    // a consistent chain (its structured log).
    const transitions = breakerTransitions(stack.services.get('planner')!.logs());
    const chain = transitions.map((t) => `${t.from}->${t.to}`);
    expect(chain).toContain('closed->open');
    expect(chain).toContain('open->half_open');
    expect(chain).toContain('half_open->closed');
    transitions.forEach((t, i) => expect(t.from).toBe(i === 0 ? 'closed' : transitions[i - 1]!.to));
    expect(transitions.at(-1)!.to).toBe('closed');
    // The fleet-wide breaker's transitions are events (stream budget:breaker:model:default).
    const fleet = await fleetTransitions(stack);
    const fleetChain = fleet.map((t) => `${t.from}->${t.to}`);
    expect(fleetChain).toContain('closed->open');
    expect(fleetChain).toContain('open->half_open');
    expect(fleetChain).toContain('half_open->closed');
    fleet.forEach((t, i) => expect(t.from).toBe(i === 0 ? 'closed' : fleet[i - 1]!.to));
    expect(fleet.at(-1)!.to).toBe('closed');
    // While open, attempts were refused without reaching the provider, and recorded.
    const refused = (
      await stack.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM events
          WHERE type = 'ModelCallFailed' AND data->>'code' = 'MODEL_BREAKER_OPEN'`,
      )
    ).rows[0]!.n;
    expect(refused).toBeGreaterThan(0);

    const report = await checkInvariants({
      stack,
      runIds: [...runs.map((r) => r.runId), ...healthy],
    });
    recordScenario({
      scenario: '09-model-fault-storm',
      runs: report.runs,
      faults,
      finalStates: report.finalStates,
      duplicates: report.duplicates,
      lostEvents: report.lostEvents,
    });
    expectInvariants(report);
  });
});

/**
 * The retry limits, checked per step over the run's events: at most
 * MAX_ATTEMPTS failed calls and OUTPUT_ATTEMPTS rejected outputs; and every
 * request the server saw for the run is one of its recorded attempts (a call
 * refused by the open breaker never reaches the server).
 */
function withinLimits(name: string, events: StoredEvent[], serverRequests: number): string[] {
  const problems: string[] = [];
  const perStep = new Map<number, { failed: number; rejected: number }>();
  let reached = 0;
  for (const e of events) {
    const step = Number(e.data.step);
    const s = perStep.get(step) ?? { failed: 0, rejected: 0 };
    if (e.type === 'ModelCallFailed') {
      s.failed++;
      if (e.data.code !== 'MODEL_BREAKER_OPEN') reached++;
    } else if (e.type === 'ModelOutputRejected') {
      s.rejected++;
      reached++;
    } else if (e.type === 'ModelDecisionRecorded') reached++;
    perStep.set(step, s);
  }
  for (const [step, s] of perStep) {
    if (s.failed > MAX_ATTEMPTS) problems.push(`${name} step ${step}: ${s.failed} failed calls`);
    if (s.rejected > OUTPUT_ATTEMPTS)
      problems.push(`${name} step ${step}: ${s.rejected} rejected outputs`);
  }
  if (serverRequests !== reached)
    problems.push(`${name}: the server saw ${serverRequests} requests, ${reached} recorded`);
  return problems;
}
