import { toolCallsReply } from './scripts';
import type { ModelScript } from './types';

/**
 * The scripted model of the agent-run-10 workload: five decisions, each asking
 * for one tool call (~200-byte replies, with Keel's decision note); the fifth says `final`, so
 * the run completes with the fifth tool's output. 10 durable steps in all.
 * A prompt containing `sleep N` makes the calls to the `sleep` tool (the
 * I/O-bound variant of the scaling measurement) instead of `noop`.
 */
export const DECISIONS_PER_RUN = 5;
export const STEPS_PER_RUN = 10;

export const agentRun10Script: ModelScript = (request) => {
  const toolResults = request.messages.filter((m) => m.role === 'tool').length;
  const prompt = request.messages.find((m) => m.role === 'user');
  const sleep = /sleep (\d+)/.exec(typeof prompt?.content === 'string' ? prompt.content : '');
  const step = toolResults + 1;
  const call = sleep
    ? { name: 'sleep', arguments: { ms: Number(sleep[1]) } }
    : {
        name: 'noop',
        arguments: { note: `step ${step} of ${DECISIONS_PER_RUN}: ${'n'.repeat(96)}` },
      };
  return {
    ...toolCallsReply([call], {
      confidence: 0.9,
      reasoning: `step ${step}`,
      final: step >= DECISIONS_PER_RUN,
    }),
    usage: { promptTokens: 120 + 60 * toolResults, completionTokens: 40 },
  };
};
