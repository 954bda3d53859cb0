/**
 * A small JSON Schema validator for the keywords tool schemas mostly use. It
 * is the fallback when zod cannot convert a server's schema (see
 * `json-schema-validator.ts`), so it is deliberately honest about its reach:
 *
 * Supported: `type` (object, string, number, integer, boolean, array, null,
 * or a list of them), `properties`, `required`, `additionalProperties`
 * (`false` or a schema), `items` (one schema), `enum`, `const`.
 *
 * Every other keyword (`pattern`, `minimum`, `format`, `anyOf`, `$ref`, ...)
 * is ignored: a value it would reject passes here and is rejected by the
 * server instead, as a tool error.
 *
 * Messages name the expected shape and the path, never the value.
 */
export interface JsonSchemaIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

type Schema = Record<string, unknown>;

export function validateJsonSchemaSubset(schema: unknown, value: unknown): JsonSchemaIssue[] {
  const issues: JsonSchemaIssue[] = [];
  check(schema, value, [], issues);
  return issues;
}

function check(
  schema: unknown,
  value: unknown,
  path: (string | number)[],
  issues: JsonSchemaIssue[],
): void {
  if (schema === false) {
    issues.push({ path, message: 'no value is allowed here' });
    return;
  }
  if (!isObject(schema)) return; // `true`, or not a schema: anything goes.

  const types = typeList(schema['type']);
  if (types && !types.some((t) => hasType(value, t))) {
    issues.push({ path, message: `expected ${types.join(' or ')}, received ${typeOf(value)}` });
    return;
  }
  if (Array.isArray(schema['enum']) && !schema['enum'].some((e) => deepEqual(e, value))) {
    issues.push({ path, message: 'not one of the allowed values' });
  }
  if ('const' in schema && !deepEqual(schema['const'], value)) {
    issues.push({ path, message: 'not the required constant' });
  }
  if (isObject(value)) checkObject(schema, value, path, issues);
  if (Array.isArray(value) && 'items' in schema && !Array.isArray(schema['items'])) {
    value.forEach((item, i) => check(schema['items'], item, [...path, i], issues));
  }
}

function checkObject(
  schema: Schema,
  value: Record<string, unknown>,
  path: (string | number)[],
  issues: JsonSchemaIssue[],
): void {
  const properties = isObject(schema['properties']) ? schema['properties'] : {};
  if (Array.isArray(schema['required'])) {
    for (const key of schema['required']) {
      if (typeof key === 'string' && !Object.hasOwn(value, key)) {
        issues.push({ path: [...path, key], message: 'required' });
      }
    }
  }
  const additional = schema['additionalProperties'];
  for (const [key, item] of Object.entries(value)) {
    if (Object.hasOwn(properties, key)) check(properties[key], item, [...path, key], issues);
    else if (additional === false) issues.push({ path: [...path, key], message: 'not allowed' });
    else if (isObject(additional)) check(additional, item, [...path, key], issues);
  }
}

const TYPES = ['object', 'string', 'number', 'integer', 'boolean', 'array', 'null'];

function typeList(type: unknown): string[] | undefined {
  const list = typeof type === 'string' ? [type] : Array.isArray(type) ? type : undefined;
  // An unknown type name is not enforced (the server's validator decides).
  const known = list?.filter((t): t is string => typeof t === 'string' && TYPES.includes(t));
  return known && known.length > 0 && known.length === list?.length ? known : undefined;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'null':
      return value === null;
    default:
      return typeof value === type;
  }
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && Number.isInteger(value)) return 'integer';
  return typeof value;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
    );
  }
  return false;
}
