// check-fields.mjs - api/openapi.yaml's request schemas against xentd's one
// description of the request fields (server/codec/fields.c), as
// `xs-describe fields` prints it.
//
// For every body ("loss" is the request body of POST /v1/loss, ...) and
// every field of the table, the schema has the property (nested fields such
// as mixup.lambda under their object), and they agree on: the JSON types
// (a scalar, an array, or either), the arrays' element type and rank, null
// elements, enum names, minimum and maximum, default, whether it is
// required, and the description, which starts with the table's doc line
// (whitespace aside).
// And the schema has no property the table lacks.
//
// Usage: node check-fields.mjs OPENAPI FIELDS_JSON
// Prints one line per disagreement and "check-fields: P passed F failed"
// (one count per field); exits 1 when anything failed.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';

const spec = YAML.parse(readFileSync(process.argv[2], 'utf8'));
const table = JSON.parse(readFileSync(process.argv[3], 'utf8'));

function resolve(node) {
  let n = node;
  while (n && n.$ref) {
    const name = n.$ref.replace('#/components/schemas/', '');
    n = spec.components.schemas[name];
    if (!n) throw new Error(`unresolved ${node.$ref}`);
  }
  return n;
}

// The JSON types a schema allows, as a sorted list ('null' apart).
function types(node) {
  const n = resolve(node);
  if (n.oneOf) return [...new Set(n.oneOf.flatMap(types))].sort();
  const t = Array.isArray(n.type) ? n.type : [n.type];
  return t.filter((x) => x !== undefined && x !== 'null').sort();
}

// The innermost element schema of an array schema, and its rank.
function elements(node) {
  let n = resolve(node);
  if (n.oneOf) n = resolve(n.oneOf.find((b) => types(b).includes('array')));
  let rank = 0;
  while (n && types(n).includes('array') && n.items) {
    n = resolve(n.items);
    rank += 1;
  }
  return { elem: n, rank };
}

// The scalar branch of a schema that also takes an array.
function scalarPart(node) {
  const n = resolve(node);
  if (n.oneOf) return resolve(n.oneOf.find((b) => !types(b).includes('array')));
  return n;
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

let passed = 0;
let failed = 0;

for (const [body, fields] of Object.entries(table)) {
  const path = `/v1/${body}`;
  const op = spec.paths?.[path]?.post;
  if (!op) {
    console.log(`${path}: no POST operation in the contract`);
    failed += 1;
    continue;
  }
  const root = resolve(op.requestBody.content['application/json'].schema);
  const objectOf = (name) => {
    // The schema object holding `name`'s parent's members.
    const parts = name.split('.');
    let obj = root;
    for (const p of parts.slice(0, -1)) obj = resolve(obj.properties[p]);
    return obj;
  };
  const seen = new Map();
  for (const f of fields) {
    const problems = [];
    const obj = objectOf(f.name);
    const key = f.name.split('.').pop();
    if (!seen.has(obj)) seen.set(obj, new Set());
    seen.get(obj).add(key);
    const prop = obj.properties?.[key];
    if (!prop) {
      console.log(`${path} ${f.name}: not in the contract`);
      failed += 1;
      continue;
    }
    const res = resolve(prop);
    const want = Array.isArray(f.type) ? [...f.type].sort() : [f.type];
    const wantTypes = want.map((t) => (t === 'string' ? 'string' : t)).sort();
    if (!same(types(prop), wantTypes))
      problems.push(`types ${JSON.stringify(types(prop))}, table ${JSON.stringify(wantTypes)}`);
    const scalar = want.find((t) => t !== 'array');
    if (want.includes('array')) {
      const { elem, rank } = elements(prop);
      const elemTypes = types(elem);
      if (rank !== f.shape.length)
        problems.push(`array rank ${rank}, table ${f.shape.length}`);
      if (!same(elemTypes, [f.items]))
        problems.push(`elements ${JSON.stringify(elemTypes)}, table ${f.items}`);
      const nullable = (Array.isArray(elem.type) ? elem.type : [elem.type]).includes('null');
      if (nullable !== Boolean(f.nullable))
        problems.push(`null elements ${nullable}, table ${Boolean(f.nullable)}`);
      if (f.items === 'string' && !same(elem.enum, f.enum))
        problems.push(`element names ${JSON.stringify(elem.enum)}, table ${JSON.stringify(f.enum)}`);
      if (!scalar) {
        if (f.minimum !== undefined && elem.minimum !== f.minimum)
          problems.push(`element minimum ${elem.minimum}, table ${f.minimum}`);
        if (f.maximum !== undefined && elem.maximum !== f.maximum)
          problems.push(`element maximum ${elem.maximum}, table ${f.maximum}`);
      }
    }
    if (scalar && scalar !== 'object') {
      const s = scalarPart(prop);
      if (scalar === 'string' && !same(s.enum, f.enum))
        problems.push(`names ${JSON.stringify(s.enum)}, table ${JSON.stringify(f.enum)}`);
      if (s.minimum !== f.minimum)
        problems.push(`minimum ${s.minimum}, table ${f.minimum}`);
      if (s.maximum !== f.maximum)
        problems.push(`maximum ${s.maximum}, table ${f.maximum}`);
    }
    const def = prop.default ?? res.default;
    if (!same(def, f.default))
      problems.push(`default ${JSON.stringify(def)}, table ${JSON.stringify(f.default)}`);
    const required = (obj.required ?? []).includes(key);
    if (required !== f.required)
      problems.push(`required ${required}, table ${f.required}`);
    const flat = (t) => t.replace(/\s+/g, ' ').trim();
    const desc = flat(prop.description ?? res.description ?? '');
    if (!desc.startsWith(flat(f.doc)))
      problems.push(`description does not start with the table's line "${f.doc}"`);
    if (problems.length > 0) {
      console.log(`${path} ${f.name}: ${problems.join('; ')}`);
      failed += 1;
    } else {
      passed += 1;
    }
  }
  for (const [obj, keys] of seen) {
    for (const k of Object.keys(obj.properties ?? {})) {
      if (!keys.has(k)) {
        console.log(`${path}: the contract has "${k}", the field table does not`);
        failed += 1;
      }
    }
  }
}

console.log(`check-fields: ${passed} passed ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
