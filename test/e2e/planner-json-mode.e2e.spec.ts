import { startScriptedModel, waitFor, type ScriptedModel } from '@keel/testing';
import {
  requestsOf,
  Scenarios,
  submitRun,
  textOf,
  typesOf,
  waitForEvent,
} from '../support/scenarios';
import { deadLettersOf, startStack, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

/**
 * A model without native tool calling (`KEEL_MODEL_TOOL_MODE=json`): tools are
 * described in the prompt and every reply is one JSON object, requested with a
 * JSON schema. This deployment escalates invalid output to the dead-letter
 * queue instead of a person.
 */
describe('planner: JSON mode and dead-letter escalation', () => {
  const scenarios = new Scenarios();
  let model: ScriptedModel;
  let stack: KeelStack;

  beforeAll(async () => {
    model = await startScriptedModel(scenarios.script);
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      env: { KEEL_MODEL_TOOL_MODE: 'json', KEEL_INVALID_OUTPUT_ESCALATION: 'dead_letter' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  const reply = (o: Record<string, unknown>) => ({
    content: JSON.stringify({ confidence: 0.9, reasoning: 'scripted', ...o }),
  });

  it('tools in the prompt, decisions as JSON objects: the run completes', async () => {
    const name = scenarios.add('json-mode', (req, i) =>
      i === 0
        ? reply({
            action: 'call_tools',
            calls: [{ tool: 'calculator', input: { expression: '6 * 7' } }],
          })
        : reply({ action: 'final', answer: `saw: ${textOf(req.messages.at(-1))}` }),
    );
    const run = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, run.runId);
    expect(typesOf(events)).toEqual([
      'RunRequested',
      'ModelDecisionRecorded',
      'ToolCallRequested',
      'ToolResultRecorded',
      'ModelDecisionRecorded',
      'RunCompleted',
    ]);
    expect(String(events.at(-1)!.data.answer)).toMatch(
      /Result of tool call .* \(calculator\): \{"value":42\}/,
    );
    const [first] = requestsOf(model, name);
    expect(first!.body.tools).toBeUndefined();
    expect(first!.body.response_format).toMatchObject({
      type: 'json_schema',
      json_schema: { name: 'keel_decision', schema: { type: 'object' } },
    });
    expect(textOf(first!.body.messages[0])).toContain('calculator: ');
  });

  it('output that keeps failing validation fails the run and dead-letters its delivery with the reason', async () => {
    const name = scenarios.add('invalid-output', () => reply({ action: 'shrug' }));
    const run = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, run.runId);
    expect(typesOf(events)).toEqual([
      'RunRequested',
      'ModelOutputRejected',
      'ModelOutputRejected',
      'ModelOutputRejected',
      'RunFailed',
    ]);
    expect(events.at(-1)!.data.error).toMatchObject({ code: 'STRUCTURED_OUTPUT_INVALID' });
    // The run request itself is the dead letter (its payload names the request).
    const letter = await waitFor(
      async () =>
        (await deadLettersOf(stack, stack.names.consumers.plannerIngress)).find((l) =>
          Buffer.from(l.payloadBase64, 'base64').toString().includes(run.request.requestId),
        ),
      { timeoutMs: 10_000, description: 'the dead letter of the run request' },
    );
    expect(letter).toMatchObject({ code: 'STRUCTURED_OUTPUT_INVALID' });
    expect(letter.reason).toMatch(/action/);
    expect(requestsOf(model, name)).toHaveLength(3);
  });
});
