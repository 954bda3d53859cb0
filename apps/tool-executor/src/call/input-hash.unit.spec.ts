import { createHash } from 'node:crypto';
import { inputHash } from './input-hash';

describe('inputHash', () => {
  it('is the sha256 hex of the canonical JSON, whatever the key order', () => {
    const expected = createHash('sha256')
      .update('{"a":[1,{"x":null,"y":"é"}],"b":2}')
      .digest('hex');
    expect(inputHash({ b: 2, a: [1, { y: 'é', x: null }] })).toBe(expected);
    expect(inputHash({ a: [1, { x: null, y: 'é' }], b: 2 })).toBe(expected);
  });

  it('differs when a value differs', () => {
    expect(inputHash({ a: 1 })).not.toBe(inputHash({ a: 2 }));
  });
});
