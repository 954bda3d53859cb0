import { readFileSync } from 'node:fs';
import { calculatorScript, startScriptedModel, type ScriptedModel } from '@keel/testing';
import { Scenarios, submitRun, waitForEvent, type SubmittedRun } from '../support/scenarios';
import {
  DATABASE_URL,
  NATS_URL,
  startStack,
  type KeelStack,
  type ServiceName,
} from '../support/stack';
import { checkInvariants, expectInvariants } from './support/invariants';
import { chaosScale, recordScenario } from './support/summary';
import { startTcpProxy, type ProxyMode, type TcpProxy } from './support/tcp-proxy';

jest.setTimeout(chaosScale().full ? 900_000 : 180_000);

/**
 * Scenario 10: the network between one service and NATS and PostgreSQL
 * breaks. The service reaches both through TCP proxies (support/tcp-proxy.ts)
 * that reset every connection, black-hole them (accept, never forward), or
 * add latency. Runs submitted during a fault must complete once it clears;
 * the service's reconnects stay bounded (connections it opened through the
 * proxy while the fault lasted) and its memory stays flat (RSS from
 * /proc/<pid>/status before and after: a resource bound, not a timing one).
 * Short form: the tool executor; full form: then the planner too.
 */
const MIB = 1024 * 1024;
/** Generous: a leak per reconnect or per buffered message would show far above it. */
const MAX_RSS_GROWTH = 100 * MIB;
/** Connections one service may open through one proxy during one fault (a hot loop opens thousands). */
const MAX_CONNECTS_PER_FAULT = 200;

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Link {
  nats: TcpProxy;
  pg: TcpProxy;
}

async function startLink(): Promise<Link> {
  const nats = new URL(NATS_URL);
  const pg = new URL(DATABASE_URL);
  return {
    nats: await startTcpProxy({ host: nats.hostname, port: Number(nats.port || 4222) }),
    pg: await startTcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) }),
  };
}

/** The service's env pointing it through the link's proxies. */
function linkEnv(link: Link): Record<string, string> {
  const pg = new URL(DATABASE_URL);
  pg.host = `127.0.0.1:${link.pg.port}`;
  return { KEEL_NATS_URL: `nats://127.0.0.1:${link.nats.port}`, KEEL_DATABASE_URL: pg.toString() };
}

describe('chaos 10: network faults between a service and NATS / PostgreSQL', () => {
  const scale = chaosScale();
  const scenarios = new Scenarios();
  const calc = scenarios.add('net', calculatorScript('6 * 7', 'It is '));
  const links = new Map<ServiceName, Link>();
  let model: ScriptedModel;
  let stack: KeelStack;
  const runs: SubmittedRun[] = [];
  let faults = 0;

  beforeAll(async () => {
    links.set('tool-executor', await startLink());
    if (scale.full) links.set('planner', await startLink());
    model = await startScriptedModel(scenarios.script);
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      env: { KEEL_REVIEW_ENABLED: 'false' },
      serviceEnv: (service) => {
        const link = links.get(service);
        return link ? linkEnv(link) : {};
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
    for (const l of links.values()) await Promise.all([l.nats.close(), l.pg.close()]);
  });

  const submit = async (n: number) => {
    const batch = await Promise.all(Array.from({ length: n }, () => submitRun(stack, calc)));
    runs.push(...batch);
    return batch;
  };
  const expectCompleted = async (batch: SubmittedRun[]) => {
    for (const r of batch) {
      const events = await waitForEvent(stack.pool, r.runId, undefined, 120_000);
      expect(events.at(-1)).toMatchObject({ type: 'RunCompleted', data: { answer: 'It is 42' } });
    }
  };

  /**
   * One fault on the service's link to NATS, PostgreSQL or both: runs are
   * submitted while it lasts, then it clears and they must complete. Returns
   * the connections the service opened through each proxy during the fault.
   */
  const fault = async (
    link: Link,
    mode: Exclude<ProxyMode, 'pass'>,
    on: 'nats' | 'pg' | 'both',
    holdMs: number,
  ) => {
    const proxies = on === 'both' ? [link.nats, link.pg] : [link[on]];
    const before = { nats: link.nats.stats().accepted[mode], pg: link.pg.stats().accepted[mode] };
    for (const p of proxies) {
      if (mode === 'latency') p.latency(100);
      else if (mode === 'reset') p.reset();
      else p.blackhole();
    }
    faults++;
    const during = await submit(scale.runs(20, 4));
    await sleep(holdMs); // the fault's length: injection, not an assertion
    const opened = {
      nats: link.nats.stats().accepted[mode] - before.nats,
      pg: link.pg.stats().accepted[mode] - before.pg,
    };
    if (mode !== 'latency') for (const p of proxies) p.pass();
    await expectCompleted(during);
    for (const p of proxies) p.pass();
    return opened;
  };

  for (const service of ['tool-executor', 'planner'] as const) {
    const run = service === 'tool-executor' || chaosScale().full ? it : it.skip;
    run(
      `${service}: resets, a black hole and latency; bounded reconnects, flat memory, recovery`,
      async () => {
        const link = links.get(service)!;
        const pid = stack.services.get(service)!.pid;
        await expectCompleted(await submit(3)); // warm: every code path loaded once
        const rssBefore = rssOf(pid);

        const hold = scale.full ? 15_000 : 2_000;
        const connects: Record<string, { nats: number; pg: number }> = {};
        connects['reset both'] = await fault(link, 'reset', 'both', hold);
        connects['reset pg'] = await fault(link, 'reset', 'pg', hold);
        connects['black-hole pg'] = await fault(link, 'blackhole', 'pg', hold);
        connects['black-hole nats'] = await fault(link, 'blackhole', 'nats', hold);
        connects['latency both'] = await fault(link, 'latency', 'both', hold / 2);
        if (scale.full) connects['reset nats'] = await fault(link, 'reset', 'nats', hold);

        const rssAfter = rssOf(pid);
        process.stdout.write(
          `[chaos] 10 ${service}: RSS ${(rssBefore / MIB).toFixed(1)} → ${(rssAfter / MIB).toFixed(1)} MiB; ` +
            `connections opened during faults ${JSON.stringify(connects)}\n`,
        );
        expect(rssAfter - rssBefore).toBeLessThan(MAX_RSS_GROWTH);
        for (const c of Object.values(connects)) {
          expect(c.nats).toBeLessThan(MAX_CONNECTS_PER_FAULT);
          expect(c.pg).toBeLessThan(MAX_CONNECTS_PER_FAULT);
        }
        // The service lived through it: same process, still running.
        expect(stack.services.get(service)!.exit).toBeUndefined();
      },
    );
  }

  it('invariants hold over the whole history', async () => {
    const report = await checkInvariants({ stack, runIds: runs.map((r) => r.runId) });
    recordScenario({
      scenario: '10-network-faults',
      runs: report.runs,
      faults,
      finalStates: report.finalStates,
      duplicates: report.duplicates,
      lostEvents: report.lostEvents,
    });
    expectInvariants(report);
    expect(report.finalStates).toEqual({ completed: runs.length });
  });
});
