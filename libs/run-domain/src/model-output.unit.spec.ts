import { toolCallIdFor, UUID_RE } from '@keel/contracts';
import {
  modelOutputJsonSchema,
  parseModelOutput,
  type ParseContext,
  type ParsedOutput,
  type RawModelReply,
} from './model-output';
import { RUN_ID } from './test-fixtures';

const ctx: ParseContext = {
  runId: RUN_ID,
  step: 2,
  allowedTools: ['search', 'calculator'],
  synthesis: false,
};
const synthesis: ParseContext = { ...ctx, synthesis: true };

const NOTE = '{"confidence":0.8,"reasoning":"I need the current weather."}';
const native = (
  calls: { name: string; argumentsJson: string }[],
  /** null: the model sent no text with its calls. */
  note: string | null = NOTE,
): RawModelReply => ({ kind: 'tool_calls', calls, ...(note !== null ? { note } : {}) });
const text = (t: string): RawModelReply => ({ kind: 'text', text: t });
const json = (o: unknown): RawModelReply => text(JSON.stringify(o));

function issuesOf(parsed: ParsedOutput): string[] {
  if (parsed.ok) throw new Error(`expected issues, got ${JSON.stringify(parsed.decision)}`);
  return parsed.issues;
}

describe('parseModelOutput', () => {
  describe('given native tool calls', () => {
    it('with a valid note, then the decision carries Keel call ids and the confidence', () => {
      const parsed = parseModelOutput(
        native([
          { name: 'search', argumentsJson: '{"q":"weather Lisbon"}' },
          { name: 'calculator', argumentsJson: '{"expression":"20*9/5+32"}' },
        ]),
        ctx,
      );
      expect(parsed).toEqual({
        ok: true,
        decision: {
          kind: 'tool_calls',
          calls: [
            { callId: toolCallIdFor(RUN_ID, 2, 0), tool: 'search', input: { q: 'weather Lisbon' } },
            {
              callId: toolCallIdFor(RUN_ID, 2, 1),
              tool: 'calculator',
              input: { expression: '20*9/5+32' },
            },
          ],
          confidence: 0.8,
          reasoning: 'I need the current weather.',
        },
      });
      if (!parsed.ok || parsed.decision.kind !== 'tool_calls') throw new Error('unreachable');
      for (const c of parsed.decision.calls) expect(c.callId).toMatch(UUID_RE);
    });

    it('then the same reply for the same step gets the same ids (stable across retries)', () => {
      const reply = native([{ name: 'search', argumentsJson: '{}' }]);
      expect(parseModelOutput(reply, ctx)).toEqual(parseModelOutput(reply, ctx));
      expect(parseModelOutput(reply, { ...ctx, step: 3 })).not.toEqual(
        parseModelOutput(reply, ctx),
      );
    });

    it('with "final": true in the note, then the decision is final', () => {
      const parsed = parseModelOutput(
        native(
          [{ name: 'search', argumentsJson: '{}' }],
          '{"confidence":0.9,"reasoning":"that is it","final":true}',
        ),
        ctx,
      );
      expect(parsed.ok && parsed.decision.kind === 'tool_calls' && parsed.decision.final).toBe(
        true,
      );
    });

    it('with empty arguments, then the input is an empty object', () => {
      const parsed = parseModelOutput(native([{ name: 'search', argumentsJson: '' }]), ctx);
      expect(
        parsed.ok && parsed.decision.kind === 'tool_calls' && parsed.decision.calls[0]?.input,
      ).toEqual({});
    });

    it('without a note, then the issue says the note is missing and the raw reply is kept', () => {
      const parsed = parseModelOutput(
        native([{ name: 'search', argumentsJson: '{"q":"x"}' }], null),
        ctx,
      );
      expect(parsed).toEqual({
        ok: false,
        issues: ['tool-call note: not a JSON object (got "")'],
        output: '{"note":null,"calls":[{"tool":"search","arguments":"{\\"q\\":\\"x\\"}"}]}',
      });
    });

    it('with a note that breaks its schema, then every problem is an issue', () => {
      const issues = issuesOf(
        parseModelOutput(
          native([{ name: 'search', argumentsJson: '{}' }], '{"confidence":1.5,"why":"x"}'),
          ctx,
        ),
      );
      expect(issues.some((i) => i.startsWith('confidence:'))).toBe(true);
      expect(issues.some((i) => i.startsWith('reasoning:'))).toBe(true);
      expect(issues.some((i) => i.includes('why'))).toBe(true); // unknown key (strict)
    });

    it.each(['[1,2]', '"text"', 'null', '{not json'])(
      'with arguments %s, then the issue names the call',
      (argumentsJson) => {
        expect(
          issuesOf(
            parseModelOutput(
              native([
                { name: 'calculator', argumentsJson: '{}' },
                { name: 'search', argumentsJson },
              ]),
              ctx,
            ),
          ),
        ).toEqual(['calls.1.input: arguments of search are not a JSON object']);
      },
    );

    it('with a call to a tool outside the capability, then the issue names that tool', () => {
      expect(
        issuesOf(
          parseModelOutput(
            native([
              { name: 'search', argumentsJson: '{}' },
              { name: 'delete_everything', argumentsJson: '{}' },
            ]),
            ctx,
          ),
        ),
      ).toEqual(["calls.1.tool: 'delete_everything' is not one of the tools you may call"]);
    });

    it('in a synthesis, then tool calls are refused', () => {
      expect(
        issuesOf(parseModelOutput(native([{ name: 'search', argumentsJson: '{}' }]), synthesis)),
      ).toEqual([
        'action: tools are not available now; reply with action "final" and your best answer',
      ]);
    });
  });

  describe('given a text reply', () => {
    it('that is not JSON, then the issue quotes its start', () => {
      expect(parseModelOutput(text('It is 20 degrees in Lisbon.'), ctx)).toEqual({
        ok: false,
        issues: ['reply: not a JSON object (got "It is 20 degrees in Lisbon.")'],
        output: 'It is 20 degrees in Lisbon.',
      });
    });

    it('with a final answer, then the decision is final with its judgement', () => {
      expect(
        parseModelOutput(
          json({ action: 'final', answer: '20°C', confidence: 0.95, reasoning: 'from search' }),
          ctx,
        ),
      ).toEqual({
        ok: true,
        decision: { kind: 'final', answer: '20°C', confidence: 0.95, reasoning: 'from search' },
      });
    });

    it('asking a person, then the decision is ask_human', () => {
      expect(
        parseModelOutput(
          json({
            action: 'ask_human',
            question: 'Which Lisbon?',
            confidence: 0.3,
            reasoning: 'two',
          }),
          ctx,
        ),
      ).toEqual({
        ok: true,
        decision: {
          kind: 'ask_human',
          question: 'Which Lisbon?',
          confidence: 0.3,
          reasoning: 'two',
        },
      });
    });

    it('in a ```json fence, then it is accepted', () => {
      const fenced =
        '```json\n{"action":"final","answer":"20°C","confidence":0.9,"reasoning":"ok"}\n```';
      expect(parseModelOutput(text(fenced), ctx)).toMatchObject({
        ok: true,
        decision: { kind: 'final', answer: '20°C' },
      });
      const bare = '```\n{"action":"final","answer":"20°C","confidence":0.9,"reasoning":"ok"}\n```';
      expect(parseModelOutput(text(bare), ctx).ok).toBe(true);
    });

    it('with prose around the JSON, then it is rejected (nothing looser than a fence)', () => {
      const reply = 'Sure! {"action":"final","answer":"20°C","confidence":0.9,"reasoning":"ok"}';
      expect(parseModelOutput(text(reply), ctx).ok).toBe(false);
    });

    it('in JSON mode calling tools, then the calls get Keel ids', () => {
      const parsed = parseModelOutput(
        json({
          action: 'call_tools',
          calls: [{ tool: 'calculator', input: { expression: '1+1' } }],
          final: true,
          confidence: 0.7,
          reasoning: 'just compute',
        }),
        ctx,
      );
      expect(parsed).toEqual({
        ok: true,
        decision: {
          kind: 'tool_calls',
          calls: [
            {
              callId: toolCallIdFor(RUN_ID, 2, 0),
              tool: 'calculator',
              input: { expression: '1+1' },
            },
          ],
          final: true,
          confidence: 0.7,
          reasoning: 'just compute',
        },
      });
    });

    it('in JSON mode calling a tool outside the capability, then the issue names it', () => {
      const reply = json({
        action: 'call_tools',
        calls: [{ tool: 'send_email', input: {} }],
        confidence: 0.7,
        reasoning: 'x',
      });
      expect(issuesOf(parseModelOutput(reply, ctx))).toEqual([
        "calls.0.tool: 'send_email' is not one of the tools you may call",
      ]);
    });

    it('missing required fields, then each is an issue with its path', () => {
      const issues = issuesOf(parseModelOutput(json({ action: 'final', answer: '20°C' }), ctx));
      expect(issues.map((i) => i.split(':')[0])).toEqual(['confidence', 'reasoning']);
    });

    it('with an unknown action, then it is rejected', () => {
      expect(
        parseModelOutput(json({ action: 'shrug', confidence: 1, reasoning: 'x' }), ctx).ok,
      ).toBe(false);
    });

    it('in a synthesis, then call_tools and ask_human are refused and a final answer accepted', () => {
      const tools = json({
        action: 'call_tools',
        calls: [{ tool: 'search', input: {} }],
        confidence: 0.7,
        reasoning: 'x',
      });
      expect(issuesOf(parseModelOutput(tools, synthesis))).toEqual([
        'action: tools are not available now; reply with action "final" and your best answer',
      ]);
      const ask = json({
        action: 'ask_human',
        question: 'Which?',
        confidence: 0.5,
        reasoning: 'x',
      });
      expect(issuesOf(parseModelOutput(ask, synthesis))).toEqual([
        'action: reply with action "final" and your best answer',
      ]);
      const final = json({ action: 'final', answer: '20°C', confidence: 0.5, reasoning: 'x' });
      expect(parseModelOutput(final, synthesis).ok).toBe(true);
    });

    it('that is huge, then the recorded output is cut to 8,000 characters', () => {
      const parsed = parseModelOutput(text('x'.repeat(20_000)), ctx);
      if (parsed.ok) throw new Error('expected issues');
      expect(parsed.output).toHaveLength(8000);
      for (const i of parsed.issues) expect(i.length).toBeLessThanOrEqual(500);
    });
  });
});

describe('modelOutputJsonSchema', () => {
  const schema = modelOutputJsonSchema();

  it('is one JSON Schema object at the root (what JSON-mode providers accept)', () => {
    expect(schema['$schema']).toMatch(/json-schema\.org/);
    expect(schema['type']).toBe('object');
    expect(schema['oneOf']).toBeUndefined();
    const props = schema['properties'] as Record<string, { enum?: string[] }>;
    expect(props['action']?.enum).toEqual(['call_tools', 'final', 'ask_human']);
    expect(Object.keys(props)).toEqual(
      expect.arrayContaining(['calls', 'answer', 'question', 'final']),
    );
  });

  it('requires the action, confidence and reasoning', () => {
    expect(schema['required']).toEqual(
      expect.arrayContaining(['action', 'confidence', 'reasoning']),
    );
  });
});
