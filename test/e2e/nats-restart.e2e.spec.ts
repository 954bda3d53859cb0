import { JSONCodec } from 'nats';
import { runIdFor, streamIds } from '@keel/contracts';
import { calculatorScript, startScriptedModel, waitFor, type ScriptedModel } from '@keel/testing';
import { DedicatedNats } from '../support/dedicated-nats';
import { startStack, streamTypes, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

/**
 * NATS is killed (SIGKILL) under the running services and started again on
 * the same data directory: the services reconnect by themselves, the relay
 * publishes what was committed meanwhile, and runs started before and after
 * the outage complete.
 */
describe('NATS kill -9 and restart under the running services', () => {
  let nats: DedicatedNats;
  let model: ScriptedModel;
  let stack: KeelStack;

  beforeAll(async () => {
    nats = await DedicatedNats.create();
    model = await startScriptedModel(calculatorScript('2 + 3', 'It is '));
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      nats: { url: nats.url, prefix: 'keel' },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await model?.close();
    await nats?.stop();
  });

  const submit = (requestId: string) =>
    stack.js.publish(
      'keel.ingress.run-request',
      JSONCodec().encode({
        requestId,
        tenant: 'acme',
        input: { prompt: 'What is 2 + 3?' },
        tools: ['calculator'],
      }),
      { msgID: requestId },
    );
  const completed = (requestId: string) =>
    waitFor(
      async () =>
        (await streamTypes(stack.pool, streamIds.run(runIdFor('acme', requestId)))).includes(
          'RunCompleted',
        ),
      {
        timeoutMs: 45_000,
        description: `run ${requestId} to complete`,
      },
    );

  it('every run completes and every committed event reaches JetStream', async () => {
    await submit('before-outage');
    await completed('before-outage');

    await nats.kill();
    await nats.start();
    // The services and this test's connection reconnect on their own.
    await waitFor(() => submit('after-outage').then(() => true), {
      timeoutMs: 30_000,
      description: 'a publish after the restart',
    });
    await completed('after-outage');

    // Both counts are read again each time: a run's last settlement may still commit after
    // RunCompleted. Equal counts mean none missing and none twice (every event has its own id).
    const counts = async () => {
      const { rows } = await stack.pool.query<{ n: string }>('SELECT count(*) AS n FROM events');
      const info = await stack.jsm.streams.info(stack.names.streams.events);
      return { committed: Number(rows[0]!.n), onStream: info.state.messages };
    };
    let last = await counts();
    await waitFor(
      async () => {
        last = await counts();
        return last.onStream === last.committed;
      },
      { timeoutMs: 30_000, description: 'every committed event on JetStream, once' },
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}: ${JSON.stringify(last)}`);
    });
    expect(last.onStream).toBe(last.committed);
  });
});
