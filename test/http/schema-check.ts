// A small JSON Schema (2020-12 subset) checker, enough for what zod-openapi renders: types, nullable
// type lists, enum/const, properties/required/additionalProperties, items, anyOf/oneOf, $ref,
// minimum/maximum, format date-time. The project has no validator dependency; tests only.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Every way `value` breaks `schema`, as `path: problem`; empty when it conforms. */
export function validate(schema: any, value: unknown, root: any, path = '$'): string[] {
  if (schema === true || schema === undefined) return [];
  if (schema.$ref) {
    const target = String(schema.$ref).replace(/^#\//, '').split('/').reduce((n: any, k: string) => n?.[k], root);
    if (!target) return [`${path}: unresolved ${schema.$ref}`];
    return validate(target, value, root, path);
  }
  const out: string[] = [];
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives && !alternatives.some((s: any) => validate(s, value, root, path).length === 0)) out.push(`${path}: matches none of anyOf/oneOf`);
  if (schema.const !== undefined && value !== schema.const) out.push(`${path}: not ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.includes(value)) out.push(`${path}: ${JSON.stringify(value)} not in enum`);
  if (schema.type) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(value);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [...out, `${path}: ${t}, expected ${types.join('|')}`];
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) out.push(`${path}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) out.push(`${path}: above ${schema.maximum}`);
  }
  if (typeof value === 'string' && schema.format === 'date-time' && !DATE_TIME.test(value)) out.push(`${path}: not a date-time`);
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => out.push(...validate(schema.items, v, root, `${path}[${i}]`)));
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    for (const k of schema.required ?? []) if (!(k in obj)) out.push(`${path}: missing ${k}`);
    for (const [k, v] of Object.entries(obj)) {
      if (schema.properties?.[k]) out.push(...validate(schema.properties[k], v, root, `${path}.${k}`));
      else if (schema.additionalProperties === false) out.push(`${path}: unexpected ${k}`);
      else if (typeof schema.additionalProperties === 'object') out.push(...validate(schema.additionalProperties, v, root, `${path}.${k}`));
    }
  }
  return out;
}
