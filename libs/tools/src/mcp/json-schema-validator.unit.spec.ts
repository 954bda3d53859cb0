import { validateJsonSchemaSubset } from './json-schema-subset';
import { jsonSchemaValidation } from './json-schema-validator';

const ORDER = {
  type: 'object',
  properties: {
    orderId: { type: 'string', pattern: '^ord_[0-9]{4}$' },
    qty: { type: 'integer', minimum: 1 },
    mode: { enum: ['fast', 'cheap'] },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: { sku: { type: 'string' } },
        required: ['sku'],
        additionalProperties: false,
      },
    },
    note: { type: 'string', default: 'none' },
  },
  required: ['orderId', 'qty'],
};

const paths = (r: { error?: { issues: { path: PropertyKey[] }[] } }) =>
  r.error?.issues.map((i) => i.path) ?? [];

describe('jsonSchemaValidation (zod engine)', () => {
  const { schema, engine } = jsonSchemaValidation(ORDER);

  it('uses z.fromJSONSchema', () => {
    expect(engine).toBe('zod');
  });

  it('accepts valid arguments and returns them unchanged (no defaults, no stripping)', () => {
    const args = { orderId: 'ord_0001', qty: 2, lines: [{ sku: 'a' }], extra: { kept: true } };
    expect(schema.parse(args)).toEqual(args);
  });

  it('reports every problem with its path', () => {
    const r = schema.safeParse({
      orderId: 'nope',
      qty: 1.5,
      mode: 'slow',
      lines: [{ sku: 'a' }, { sku: 3, colour: 'red' }],
    });
    expect(paths(r)).toEqual([['orderId'], ['qty'], ['mode'], ['lines', 1, 'sku'], ['lines', 1]]);
    expect(paths(schema.safeParse({}))).toEqual([['orderId'], ['qty']]);
    expect(paths(schema.safeParse({ orderId: 'ord_0001', qty: 0 }))).toEqual([['qty']]);
  });

  it('never quotes the rejected value', () => {
    const r = schema.safeParse({ orderId: 'secret-4242', qty: 'secret-4343' });
    expect(JSON.stringify(r.error)).not.toMatch(/secret/);
  });

  it('only takes objects at the top level', () => {
    for (const v of [null, [], 'x', 1, undefined]) expect(schema.safeParse(v).success).toBe(false);
  });

  it('handles anyOf, local $refs and type lists', () => {
    const { schema: s, engine: e } = jsonSchemaValidation({
      type: 'object',
      $defs: { id: { type: 'string', minLength: 3 } },
      properties: {
        id: { $ref: '#/$defs/id' },
        v: { anyOf: [{ type: 'number' }, { type: 'string' }] },
        n: { type: ['string', 'null'] },
      },
    });
    expect(e).toBe('zod');
    expect(s.safeParse({ id: 'abc', v: 1, n: null }).success).toBe(true);
    expect(paths(s.safeParse({ id: 'ab', v: true, n: 1 }))).toEqual([['id'], ['v'], ['n']]);
  });

  it('ignores keywords it does not know', () => {
    const { schema: s, engine: e } = jsonSchemaValidation({
      type: 'object',
      'x-vendor': { anything: true },
      properties: { a: { type: 'string', 'x-hint': 'free text' } },
    });
    expect(e).toBe('zod');
    expect(s.safeParse({ a: 'x' }).success).toBe(true);
  });
});

describe('jsonSchemaValidation (fallback)', () => {
  it('falls back to the subset validator for schemas zod cannot convert, and says why', () => {
    const v = jsonSchemaValidation({
      type: 'object',
      properties: { a: { type: 'string', not: { const: 'x' } }, b: { type: 'number' } },
      required: ['b'],
    });
    expect(v.engine).toBe('subset');
    expect(v.fallbackReason).toMatch(/not/);
    expect(v.schema.safeParse({ a: 'x', b: 1 }).success).toBe(true); // `not` ignored
    expect(paths(v.schema.safeParse({ a: 1 }))).toEqual([['b'], ['a']]);
  });
});

describe('validateJsonSchemaSubset', () => {
  const schema = {
    type: 'object',
    properties: {
      s: { type: 'string' },
      n: { type: 'number' },
      i: { type: 'integer' },
      b: { type: 'boolean' },
      a: { type: 'array', items: { type: 'string' } },
      o: {
        type: 'object',
        properties: { x: { type: 'string' } },
        required: ['x'],
        additionalProperties: false,
      },
      e: { enum: ['one', 2, null] },
      c: { const: { k: [1] } },
      t: { type: ['string', 'null'] },
      m: { type: 'object', additionalProperties: { type: 'number' } },
    },
    required: ['s'],
  };

  it('accepts what the schema allows', () => {
    const value = {
      s: 'x',
      n: 1.5,
      i: 2,
      b: false,
      a: ['p'],
      o: { x: 'y' },
      e: 2,
      c: { k: [1] },
      t: null,
      m: { q: 1 },
      other: 'allowed',
    };
    expect(validateJsonSchemaSubset(schema, value)).toEqual([]);
  });

  it('reports each supported keyword with its path', () => {
    const issues = validateJsonSchemaSubset(schema, {
      n: 'x',
      i: 1.5,
      b: 'yes',
      a: ['p', 3],
      o: { z: 1 },
      e: 'two',
      c: { k: [2] },
      t: 5,
      m: { q: 'x' },
    });
    expect(issues).toEqual([
      { path: ['s'], message: 'required' },
      { path: ['n'], message: 'expected number, received string' },
      { path: ['i'], message: 'expected integer, received number' },
      { path: ['b'], message: 'expected boolean, received string' },
      { path: ['a', 1], message: 'expected string, received integer' },
      { path: ['o', 'x'], message: 'required' },
      { path: ['o', 'z'], message: 'not allowed' },
      { path: ['e'], message: 'not one of the allowed values' },
      { path: ['c'], message: 'not the required constant' },
      { path: ['t'], message: 'expected string or null, received integer' },
      { path: ['m', 'q'], message: 'expected number, received string' },
    ]);
  });

  it('ignores keywords outside the subset', () => {
    const s = { type: 'string', minLength: 10, pattern: '^a', format: 'email' };
    expect(validateJsonSchemaSubset(s, 'b')).toEqual([]);
    expect(validateJsonSchemaSubset({ type: 'strange' }, 1)).toEqual([]);
    expect(validateJsonSchemaSubset(true, 1)).toEqual([]);
    expect(validateJsonSchemaSubset(false, 1)).toEqual([
      { path: [], message: 'no value is allowed here' },
    ]);
  });

  it('never quotes the value', () => {
    const issues = validateJsonSchemaSubset(schema, { s: 42, e: 'secret-1', n: 'secret-2' });
    expect(JSON.stringify(issues)).not.toMatch(/secret/);
  });
});
