import { RunRequest } from '@keel/contracts';
import { decideStartRun, type RunDefaults } from './decide-start';
import { given, RUN_ID, runRequested } from './test-fixtures';

const now = new Date('2026-11-21T10:00:00.000Z');
const defaults: RunDefaults = {
  maxSteps: 10,
  maxToolCalls: 20,
  maxTokens: 50_000,
  deadlineMs: 300_000,
};
const request = RunRequest.parse({
  requestId: 'req-1',
  tenant: 'acme',
  input: { prompt: 'What is 6*7?' },
  tools: ['calculator', 'search', 'calculator'],
  labels: { team: 'core' },
});

describe('decideStartRun', () => {
  it('given no run, then it is requested with the defaults, unique tools and a deadline', () => {
    expect(decideStartRun(given([]), { request, runId: RUN_ID, now, defaults })).toEqual([
      {
        type: 'RunRequested',
        data: {
          runId: RUN_ID,
          tenant: 'acme',
          requestId: 'req-1',
          input: { prompt: 'What is 6*7?' },
          capability: { tools: ['calculator', 'search'] },
          limits: {
            maxSteps: 10,
            maxToolCalls: 20,
            maxTokens: 50_000,
            deadlineAt: '2026-11-21T10:05:00.000Z',
          },
          labels: { team: 'core' },
        },
      },
    ]);
  });

  it('given no run, when the request sets limits, then they win over the defaults', () => {
    const limited = RunRequest.parse({
      ...request,
      limits: { maxSteps: 3, maxTokens: 1000, deadlineMs: 10_000 },
    });
    const [event] = decideStartRun(given([]), { request: limited, runId: RUN_ID, now, defaults });
    expect(event?.type === 'RunRequested' && event.data.limits).toEqual({
      maxSteps: 3,
      maxToolCalls: 20,
      maxTokens: 1000,
      deadlineAt: '2026-11-21T10:00:10.000Z',
    });
  });

  it('given a run, then a repeated request records nothing', () => {
    expect(
      decideStartRun(given([runRequested()]), { request, runId: RUN_ID, now, defaults }),
    ).toEqual([]);
  });
});
