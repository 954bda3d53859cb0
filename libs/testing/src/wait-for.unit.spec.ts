import { waitFor, WaitTimeoutError } from './wait-for';
import { keelNames } from '@keel/contracts';
import { testNamespace } from './test-namespace';

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), {
      description: 'three calls',
      intervalMs: 1,
    });
    expect(value).toEqual({ calls: 3 });
  });

  it('treats a throwing attempt as not yet, and reports the description and the last error on timeout', async () => {
    const error = await waitFor(
      () => {
        throw new Error('not ready');
      },
      { description: 'the thing', timeoutMs: 30, intervalMs: 5 },
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error).toMatchObject({ code: 'WAIT_TIMEOUT' });
    expect((error as Error).message).toMatch(
      /timed out after 30 ms waiting for the thing; last attempt threw: Error: not ready/,
    );
  });

  it('computes a function description at timeout', async () => {
    let state = 'initial';
    const pending = waitFor(() => false, {
      description: () => `state=${state}`,
      timeoutMs: 20,
      intervalMs: 5,
    });
    state = 'changed';
    await expect(pending).rejects.toThrow('state=changed');
  });
});

describe('testNamespace', () => {
  it('gives a valid Keel prefix and a matching schema name, different each time', () => {
    const a = testNamespace();
    const b = testNamespace();
    expect(a.prefix).toMatch(/^t[a-z0-9]{8}$/);
    expect(a.schema).toBe(`kt_${a.prefix.slice(1)}`);
    expect(a.prefix).not.toBe(b.prefix);
    expect(keelNames(a.prefix).streams.events).toBe(`${a.prefix.toUpperCase()}_EVENTS`);
  });
});
