import {
  calculatorScript,
  finalReply,
  startScriptedModel,
  toolCallsReply,
  type ScriptedModel,
} from '@keel/testing';
import { requestsOf, Scenarios, submitRun, typesOf, waitForEvent } from '../support/scenarios';
import { startStack, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

/**
 * Budget answers and model tiering, through the real budget guard and two
 * providers: a primary speaking the OpenAI protocol and a fallback speaking
 * Anthropic's, both served by one scripted server (the model name says which).
 */
describe('planner: budget warnings, exhaustion and model fallback', () => {
  const scenarios = new Scenarios();
  let model: ScriptedModel;
  let stack: KeelStack;

  beforeAll(async () => {
    model = await startScriptedModel(scenarios.script);
    stack = await startStack({
      env: {
        KEEL_MODELS: JSON.stringify({
          providers: {
            primary: { kind: 'openai', baseUrl: model.baseUrl },
            backup: { kind: 'anthropic', baseUrl: model.anthropicBaseUrl, apiKeyEnv: 'BACKUP_KEY' },
          },
          roles: {
            reasoning: {
              provider: 'primary',
              model: 'primary-model',
              fallback: { provider: 'backup', model: 'backup-model' },
            },
          },
        }),
        BACKUP_KEY: 'sk-backup-canary',
        KEEL_MODEL_MAX_OUTPUT_TOKENS: '100',
        KEEL_MODEL_RETRY_BASE_MS: '50',
        KEEL_MODEL_BREAKER_FAILURES: '2',
        KEEL_MODEL_BREAKER_COOLDOWN_MS: '60000',
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  /** Step 1 calls the calculator and reports `spent` tokens; step 2 answers. */
  const spending = (name: string, spent: { promptTokens: number; completionTokens: number }) =>
    scenarios.add(name, (_req, i) =>
      i === 0
        ? {
            ...toolCallsReply([{ name: 'calculator', arguments: { expression: '6 * 7' } }]),
            usage: spent,
          }
        : finalReply('from what I have: 42'),
    );

  it('a budget warning sends the run straight to synthesis: one call without tools, then done', async () => {
    const name = spending('budget-warning', { promptTokens: 350, completionTokens: 350 });
    const run = await submitRun(stack, name, { limits: { maxTokens: 1000 } });
    const events = await waitForEvent(stack.pool, run.runId);
    expect(typesOf(events)).toEqual([
      'RunRequested',
      'ModelDecisionRecorded',
      'ToolCallRequested',
      'ToolResultRecorded',
      'SynthesisStarted',
      'ModelDecisionRecorded',
      'RunCompleted',
    ]);
    expect(events[4]!.data).toMatchObject({ step: 2, reason: 'budget_warning' });
    expect(events[5]!.data).toMatchObject({ role: 'synthesis' });
    const second = requestsOf(model, name)[1]!;
    expect(second.body.tools ?? []).toEqual([]);
  });

  it('an exhausted budget ends the run degraded with the results so far, without another call', async () => {
    const name = spending('budget-exhausted', { promptTokens: 450, completionTokens: 500 });
    const run = await submitRun(stack, name, { limits: { maxTokens: 1000 } });
    const events = await waitForEvent(stack.pool, run.runId);
    const end = events.at(-1)!;
    expect(end.type).toBe('RunDegraded');
    expect(end.data.reason).toMatchObject({ code: 'BUDGET_EXHAUSTED' });
    expect(String(end.data.answer)).toContain('"value":42');
    expect(requestsOf(model, name)).toHaveLength(1);
    // Recorded spending never passes the limit.
    const usage = end.data.usage as { inputTokens: number; outputTokens: number };
    expect(usage.inputTokens + usage.outputTokens).toBeLessThanOrEqual(1000);
  });

  it('while the primary’s breaker is open, the fallback (Anthropic protocol) answers', async () => {
    const calc = calculatorScript('6 * 7', 'It is ');
    let backupCalls = 0;
    const name = scenarios.add('fallback', (req) =>
      req.model === 'primary-model' ? { fault: 'status', status: 503 } : calc(req, backupCalls++),
    );
    const run = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, run.runId);
    expect(events.at(-1)).toMatchObject({ type: 'RunCompleted', data: { answer: 'It is 42' } });
    const failed = events.filter((e) => e.type === 'ModelCallFailed').map((e) => e.data);
    expect(failed.map((f) => [f.provider, f.code])).toEqual([
      ['primary', 'MODEL_HTTP_503'],
      ['primary', 'MODEL_HTTP_503'],
    ]);
    const decisions = events.filter((e) => e.type === 'ModelDecisionRecorded').map((e) => e.data);
    expect(decisions.map((d) => [d.provider, d.model])).toEqual([
      ['backup', 'backup-model'],
      ['backup', 'backup-model'],
    ]);
    const reqs = requestsOf(model, name);
    expect(reqs.map((r) => r.protocol)).toEqual(['openai', 'openai', 'anthropic', 'anthropic']);
    // The second Anthropic turn carries the tool result in a user turn, answering the tool_use.
    const turns = reqs[3]!.anthropicBody!.messages;
    const toolUse = JSON.stringify(turns.at(-2));
    const toolResult = JSON.stringify(turns.at(-1));
    expect(turns.at(-1)!.role).toBe('user');
    expect(toolResult).toContain('tool_result');
    expect(toolUse).toContain('tool_use');
    // The key from the environment was sent, and never logged.
    expect(String(reqs[2]!.headers.authorization ?? reqs[2]!.headers['x-api-key'])).toContain(
      'sk-backup-canary',
    );
    expect(stack.services.get('planner')!.logs()).not.toContain('sk-backup-canary');
  });
});
