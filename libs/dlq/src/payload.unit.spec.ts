import { describePayload } from './payload';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('describePayload', () => {
  it('decodes JSON', () => {
    expect(describePayload(bytes('{"a":1}'))).toEqual({
      bytes: 7,
      encoding: 'json',
      json: { a: 1 },
      base64: Buffer.from('{"a":1}').toString('base64'),
    });
  });

  it('keeps UTF-8 that is not JSON as text', () => {
    expect(describePayload(bytes('{not json'))).toMatchObject({
      encoding: 'utf8',
      text: '{not json',
    });
  });

  it('gives only base64 for bytes that are not UTF-8', () => {
    const raw = new Uint8Array([0xff, 0xfe, 0x00]);
    expect(describePayload(raw)).toEqual({ bytes: 3, encoding: 'binary', base64: '//4A' });
  });
});
