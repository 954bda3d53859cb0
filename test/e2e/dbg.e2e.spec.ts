import { spawnService, stopAll, agentRun10Script, startScriptedModel } from '@keel/testing';
import { startStack } from '../support/stack';
import { RunSubmitter } from '../bench/run-submitter';
jest.setTimeout(60_000);
it('timeline', async () => {
  const model = await startScriptedModel(agentRun10Script);
  const stack = await startStack({ modelBaseUrl: model.baseUrl, env: { KEEL_LOG_LEVEL: 'info' } });
  const sub = new RunSubmitter(stack.nc, stack.js, stack.names);
  sub.start();
  let last;
  for (let i = 0; i < 8; i++) {
    last = await sub.submit('x', ['noop']);
    console.log(last.latencyMs.toFixed(1));
  }
  const { rows } = await stack.pool.query(
    `SELECT stream_id, type, to_char(created_at, 'SS.MS') t FROM events WHERE metadata->>'correlationId' = $1 ORDER BY global_position`,
    [last!.runId],
  );
  const info = await stack.jsm.streams.info(stack.names.streams.events);
  const ts = new Map<string, string>();
  for (let seq = Math.max(1, info.state.last_seq - 60); seq <= info.state.last_seq; seq++) {
    const m = await stack.jsm.streams.getMessage(stack.names.streams.events, { seq });
    ts.set(
      m.json<{ metadata: { eventId: string } }>().metadata.eventId,
      m.time.toISOString().slice(17, 23),
    );
  }
  const { rows: r2 } = await stack.pool.query(
    `SELECT type, stream_id, event_id::text, to_char(created_at, 'SS.MS') t FROM events WHERE metadata->>'correlationId' = $1 ORDER BY global_position`,
    [last!.runId],
  );
  console.log(
    r2
      .map((r) => `${r.t} -> js ${ts.get(r.event_id)} ${r.stream_id.split(':')[0]} ${r.type}`)
      .join('\n'),
  );
  for (const [n, h] of stack.services)
    console.log(n, h.logs().split('\n').length, h.logs().slice(-600));
  sub.stop();
  await stack.stop();
  await model.close();
});
