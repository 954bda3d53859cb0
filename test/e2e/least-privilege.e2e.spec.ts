import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { JSONCodec } from 'nats';
import { runIdFor, streamIds } from '@keel/contracts';
import { calculatorScript, startScriptedModel, waitFor, type ScriptedModel } from '@keel/testing';
import { passwordEnv, startNatsWithConfig, type RunningNats } from '../infra/nats-config';
import { ROOT, startStack, streamTypes, type KeelStack, type ServiceName } from '../support/stack';

jest.setTimeout(120_000);

/**
 * The deployment docker-compose describes, minus Docker: NATS with the
 * per-service users of infra/nats, `keel provision` as the admin user, and
 * every service with only its own credentials and KEEL_NATS_PROVISION=false.
 * A run must still go through all four services — so every permission a
 * service really needs is granted, and no service needs admin rights.
 */
describe('least-privilege deployment (infra/nats users, keel provision)', () => {
  let nats: RunningNats;
  let model: ScriptedModel;
  let stack: KeelStack;
  const passwords = passwordEnv();
  const userEnv = (service: string, passwordVar: string) => ({
    KEEL_NATS_USER: service,
    KEEL_NATS_PASSWORD: passwords[passwordVar]!,
    KEEL_NATS_INBOX_PREFIX: `_INBOX_${service}`,
    KEEL_NATS_PROVISION: 'false',
  });
  const passwordVarOf: Record<ServiceName, string> = {
    planner: 'NATS_PLANNER_PASSWORD',
    'tool-executor': 'NATS_TOOL_EXECUTOR_PASSWORD',
    'budget-guard': 'NATS_BUDGET_GUARD_PASSWORD',
    outbox: 'NATS_OUTBOX_PASSWORD',
  };

  beforeAll(async () => {
    nats = await startNatsWithConfig(passwords);
    const provisioned = spawnSync(
      process.execPath,
      [join(ROOT, 'dist', 'apps', 'cli', 'main.js'), 'provision'],
      {
        env: {
          PATH: process.env.PATH ?? '',
          KEEL_NATS_URL: nats.url,
          KEEL_NATS_USER: 'admin',
          KEEL_NATS_PASSWORD: passwords.NATS_ADMIN_PASSWORD!,
          KEEL_NATS_INBOX_PREFIX: '_INBOX_admin',
          KEEL_PREFIX: 'keel',
        },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(`${provisioned.stdout}${provisioned.stderr}`).toContain('KEEL_INGRESS/planner-ingress');
    expect(provisioned.status).toBe(0);
    model = await startScriptedModel(calculatorScript('6 * 7', 'It is '));
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      nats: {
        url: nats.url,
        prefix: 'keel',
        user: 'upstream',
        pass: passwords.NATS_UPSTREAM_PASSWORD!,
        inboxPrefix: '_INBOX_upstream',
      },
      serviceEnv: (service) => userEnv(service, passwordVarOf[service]),
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
    await nats?.stop();
  });

  it('runs a request from the upstream user through all four services', async () => {
    const request = {
      requestId: 'least-privilege-1',
      tenant: 'acme',
      input: { prompt: 'What is 6 * 7?' },
      tools: ['calculator'],
    };
    await stack.js.publish('keel.ingress.run-request', JSONCodec().encode(request), {
      msgID: request.requestId,
    });
    const runStream = streamIds.run(runIdFor('acme', request.requestId));
    await waitFor(async () => (await streamTypes(stack.pool, runStream)).includes('RunCompleted'), {
      timeoutMs: 30_000,
      description: 'RunCompleted with least-privilege credentials',
    });
    const violations = [...stack.services.values()].filter((s) => /Violation/i.test(s.logs()));
    expect(violations.map((s) => s.name)).toEqual([]);
    expect(nats.logs()).not.toMatch(/Violation/);
  });
});
