import { z } from 'zod';
import { TerminalError } from './errors';
import { parseJson } from './parse-json';

const msg = (text: string) => ({ text: () => text });
const Schema = z.object({ runId: z.string().uuid(), step: z.number().int() });

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('parseJson', () => {
  it('returns the parsed value', () => {
    expect(
      parseJson(msg('{"runId":"6f1c2b7e-8a8e-4b0a-9f5e-0c3a1d2b4e5f","step":1}'), Schema),
    ).toEqual({
      runId: '6f1c2b7e-8a8e-4b0a-9f5e-0c3a1d2b4e5f',
      step: 1,
    });
  });

  it('throws INVALID_JSON without echoing the payload', () => {
    const err = thrownBy(() => parseJson(msg('secret-token{'), Schema));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).code).toBe('INVALID_JSON');
    expect((err as TerminalError).message).not.toContain('secret-token');
  });

  it('throws SCHEMA_INVALID naming the paths, not the values', () => {
    const err = thrownBy(() =>
      parseJson(msg('{"runId":"hunter2","step":"x"}'), Schema),
    ) as TerminalError;
    expect(err.code).toBe('SCHEMA_INVALID');
    expect(err.message).toMatch(/runId: /);
    expect(err.message).toMatch(/step: /);
    expect(err.message).not.toContain('hunter2');
  });
});
