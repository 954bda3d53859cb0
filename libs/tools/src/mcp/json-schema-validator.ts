import { z } from 'zod';
import { validateJsonSchemaSubset, type JsonSchemaIssue } from './json-schema-subset';

/** Which validator checks a schema: zod's converter, or the subset fallback. */
export type JsonSchemaEngine = 'zod' | 'subset';

export interface JsonSchemaValidation {
  /**
   * Accepts a JSON object the schema accepts and returns it unchanged (no
   * defaults filled in, no keys stripped: the server gets what the model
   * sent). A rejected value fails with one issue per problem, each with its path.
   */
  readonly schema: z.ZodType<Record<string, unknown>>;
  readonly engine: JsonSchemaEngine;
  /** Why zod's converter could not take the schema (engine `subset`). */
  readonly fallbackReason?: string;
}

/**
 * A zod schema that validates tool arguments against a server's JSON Schema.
 *
 * `z.fromJSONSchema` (zod ≥ 4.2) does the checking: types, properties,
 * required, additionalProperties, enum/const, string/number/array bounds,
 * pattern, common formats, anyOf/oneOf/allOf and local `$ref`s; keywords it
 * does not know are ignored. It refuses a few constructs (`not`,
 * `if/then/else`, `dependentSchemas`, `unevaluated*`, remote `$ref`); for
 * those the smaller validator in `json-schema-subset.ts` is used instead,
 * which checks less (the server still validates everything it is sent).
 *
 * The top level must be an object: MCP tool arguments always are.
 */
export function jsonSchemaValidation(jsonSchema: Record<string, unknown>): JsonSchemaValidation {
  let validate: (value: unknown) => readonly JsonSchemaIssue[];
  let engine: JsonSchemaEngine = 'zod';
  let fallbackReason: string | undefined;
  try {
    // Own registry: the converter records unknown keywords as metadata, which
    // would otherwise accumulate in zod's global registry.
    const compiled = z.fromJSONSchema(jsonSchema, {
      registry: z.registry(),
    });
    validate = (value) => {
      try {
        return compiled.safeParse(value).error?.issues.map(toIssue) ?? [];
      } catch {
        // e.g. a `$ref` cycle the converter could not resolve: check what we can.
        return validateJsonSchemaSubset(jsonSchema, value);
      }
    };
  } catch (err) {
    engine = 'subset';
    fallbackReason = err instanceof Error ? err.message : String(err);
    validate = (value) => validateJsonSchemaSubset(jsonSchema, value);
  }
  const schema = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
    for (const issue of validate(value)) {
      ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    }
  });
  return fallbackReason === undefined ? { schema, engine } : { schema, engine, fallbackReason };
}

const toIssue = (issue: z.core.$ZodIssue): JsonSchemaIssue => ({
  path: issue.path.map((p) => (typeof p === 'number' ? p : String(p))),
  message: issue.message,
});
