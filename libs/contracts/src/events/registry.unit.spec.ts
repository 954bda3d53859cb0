import { EventSchemaError, UnknownEventError, upcastEvent, validateNewEvent } from './registry';
import { keelNames } from '../names';

const runId = '0190f5a0-0000-7000-8000-000000000001';

describe('event versions', () => {
  it('reads a RunRequested stored as v1 in the current (v2) shape', () => {
    const v1 = { runId, tenant: 'acme', requestId: 'r-1', prompt: 'hello', tools: ['calculator'] };
    const event = upcastEvent('RunRequested', 1, v1);
    expect(event).toMatchObject({
      type: 'RunRequested',
      data: {
        runId,
        input: { prompt: 'hello' },
        capability: { tools: ['calculator'] },
        limits: { maxSteps: 20 },
      },
    });
  });

  it('refuses a version newer than this build knows, and an unknown type', () => {
    expect(() => upcastEvent('RunRequested', 3, {})).toThrow(EventSchemaError);
    expect(() => upcastEvent('RunExploded', 1, {})).toThrow(UnknownEventError);
  });

  it('refuses current-version data that breaks the schema', () => {
    expect(() => validateNewEvent({ type: 'RunCompleted', data: { answer: 42 } })).toThrow(
      EventSchemaError,
    );
  });
});

describe('names', () => {
  const names = keelNames('keel');
  it('builds event subjects whose tokens a pool consumer can filter on', () => {
    expect(names.subjects.event.build('run', 'default', 'ToolCallRequested', runId)).toBe(
      `keel.evt.run.default.ToolCallRequested.${runId}`,
    );
    expect(names.subjects.toolCallRequests.pattern('default')).toBe(
      'keel.evt.run.default.ToolCallRequested.*',
    );
  });

  it('refuses tokens that would change a subject’s shape', () => {
    expect(() => names.subjects.event.build('run', 'a.b', 'X', runId)).toThrow(/invalid route/);
    expect(() => names.subjects.dlq.build('>')).toThrow(/invalid consumer/);
    expect(() => keelNames('Bad Prefix')).toThrow(/invalid prefix/);
  });
});
