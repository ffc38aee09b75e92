import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

// OpenAPI 3.1 schemas are JSON Schema 2020-12. A response schema's `$ref`s point into the document's
// components, so it is checked with those components beside it. Not strict: OpenAPI adds keywords
// (`example`, `discriminator`) that are not JSON Schema's.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);

/** Every way `value` breaks `schema` (a response schema of `doc`), as `path: problem`; empty when it conforms. */
export function validate(schema: object, value: unknown, doc: { components?: unknown }): string[] {
  const check = ajv.compile({ ...schema, components: doc.components });
  if (check(value)) return [];
  return (check.errors ?? []).map((e) => `$${e.instancePath}: ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}
