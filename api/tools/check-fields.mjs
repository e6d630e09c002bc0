// check-fields.mjs - api/openapi.yaml's request schemas against xentd's one
// description of the request fields (server/codec/fields.c), as
// `xs-describe fields` prints it, and the schema MetricsState against the
// member table of a metrics state (server/codec/mstate.c), as
// `xs-describe mstate` prints it.
//
// For every body ("loss" is the request body of POST /v1/loss,
// "metrics/merge" of POST /v1/metrics/merge, ...) and every field of the
// table, the schema has the property (nested fields such as mixup.lambda
// under their object; the properties of a schema include those of its
// allOf branches, and a oneOf body such as the report's, either of two
// bodies, has the properties of its branches, required when every branch
// requires them), and they agree on: the JSON types
// (a scalar, an array, or either), the arrays' element type and rank (a
// K-dimensional field, whose table shape ends in "d...", is an array whose
// items are its element or, recursively, such an array), null elements,
// enum names, minimum and maximum, default, the losses that use it
// (x-losses), whether it is required, and the description, which starts
// with the table's doc line (whitespace aside).
// And the schema has no property the table lacks.
//
// For every member of a metrics state, MetricsState has the property, of
// the same JSON type (and element type), required as the table says, its
// description starting with the table's doc line; MetricsState has no
// other property, its version's const is the version xentd reads, and the
// state of an answer (MetricsResponse.state) requires every member.
//
// Usage: node check-fields.mjs OPENAPI FIELDS_JSON [MSTATE_JSON]
// Prints one line per disagreement and "check-fields: P passed F failed"
// (one count per field, one per state member, one for the version and one
// for the answer's state); exits 1 when anything failed.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';

const spec = YAML.parse(readFileSync(process.argv[2], 'utf8'));
const table = JSON.parse(readFileSync(process.argv[3], 'utf8'));
const mstate = process.argv[4] ? JSON.parse(readFileSync(process.argv[4], 'utf8')) : null;

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

// A K-dimensional array: items that are the element or, recursively, an
// array of the same items. Returns { elem } or null when not so.
function nestedElements(node) {
  let n = resolve(node);
  if (!types(n).includes('array') || !n.items) return null;
  const item = resolve(n.items);
  if (!item.oneOf) return null;
  const arrays = item.oneOf.filter((b) => types(b).includes('array'));
  const leaves = item.oneOf.filter((b) => !types(b).includes('array'));
  if (arrays.length !== 1 || leaves.length !== 1) return null;
  const inner = resolve(arrays[0]);
  if (!inner.items || resolve(inner.items) !== item) return null;
  return { elem: resolve(leaves[0]) };
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

// The properties of an object schema: its own and those of its allOf
// branches; for a oneOf of object schemas, those of every branch. Each is
// { prop, required }: required when the schema (or one of its allOf
// branches) requires it, and, under a oneOf, when every branch does.
function members(node) {
  const n = resolve(node);
  const out = new Map();
  if (n.oneOf && !n.properties) {
    const branches = n.oneOf.map(members);
    for (const b of branches) {
      for (const [k, m] of b) {
        if (!out.has(k)) {
          const required = branches.every((o) => o.get(k)?.required === true);
          out.set(k, { prop: m.prop, required });
        }
      }
    }
    return out;
  }
  for (const branch of n.allOf ?? []) {
    for (const [k, m] of members(branch)) out.set(k, { ...m });
  }
  for (const [k, prop] of Object.entries(n.properties ?? {})) out.set(k, { prop, required: false });
  for (const k of n.required ?? []) {
    if (out.has(k)) out.get(k).required = true;
  }
  return out;
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
    for (const p of parts.slice(0, -1)) obj = resolve(members(obj).get(p).prop);
    return obj;
  };
  const seen = new Map();
  for (const f of fields) {
    const problems = [];
    const obj = objectOf(f.name);
    const key = f.name.split('.').pop();
    if (!seen.has(obj)) seen.set(obj, new Set());
    seen.get(obj).add(key);
    const member = members(obj).get(key);
    const prop = member?.prop;
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
      const kdim = f.shape.includes('d...');
      const nested = kdim ? nestedElements(prop) : null;
      const { elem, rank } = nested ? { elem: nested.elem, rank: f.shape.length } : elements(prop);
      const elemTypes = types(elem);
      if (kdim && !nested)
        problems.push('a K-dimensional field whose items are not its element or, recursively, an array of them');
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
    const losses = prop['x-losses'] ?? res['x-losses'];
    if (!same(losses, f.losses))
      problems.push(`x-losses ${JSON.stringify(losses)}, table ${JSON.stringify(f.losses)}`);
    const { required } = member;
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
    for (const k of members(obj).keys()) {
      if (!keys.has(k)) {
        console.log(`${path}: the contract has "${k}", the field table does not`);
        failed += 1;
      }
    }
  }
}

// A metrics state: MetricsState against the member table, both ways.
function checkState() {
  const state = spec.components?.schemas?.MetricsState;
  if (!state) {
    console.log('MetricsState: not in the contract');
    failed += 1;
    return;
  }
  const props = members(state);
  const flat = (t) => t.replace(/\s+/g, ' ').trim();
  for (const m of mstate.members) {
    const problems = [];
    const member = props.get(m.name);
    if (!member) {
      console.log(`MetricsState ${m.name}: not in the contract`);
      failed += 1;
      continue;
    }
    const res = resolve(member.prop);
    if (!same(types(member.prop), [m.type]))
      problems.push(`types ${JSON.stringify(types(member.prop))}, table ${JSON.stringify([m.type])}`);
    if (m.items !== undefined) {
      const { elem, rank } = elements(member.prop);
      if (rank !== 1 || !same(types(elem), [m.items]))
        problems.push(`elements ${JSON.stringify(types(elem))} (rank ${rank}), table ${m.items}`);
    }
    if (member.required !== m.required)
      problems.push(`required ${member.required}, table ${m.required}`);
    if (!flat(member.prop.description ?? res.description ?? '').startsWith(flat(m.doc)))
      problems.push(`description does not start with the table's line "${m.doc}"`);
    if (problems.length > 0) {
      console.log(`MetricsState ${m.name}: ${problems.join('; ')}`);
      failed += 1;
    } else {
      passed += 1;
    }
  }
  const names = new Set(mstate.members.map((m) => m.name));
  for (const k of props.keys()) {
    if (!names.has(k)) {
      console.log(`MetricsState: the contract has "${k}", the member table does not`);
      failed += 1;
    }
  }
  const version = props.has('version') ? resolve(props.get('version').prop).const : undefined;
  if (version !== mstate.version) {
    console.log(`MetricsState version: const ${version}, xentd reads version ${mstate.version}`);
    failed += 1;
  } else {
    passed += 1;
  }
  // The state of an answer has every member.
  const answer = spec.components.schemas.MetricsResponse?.properties?.state;
  const required = answer ? [...members(answer)].filter(([, m]) => m.required).map(([k]) => k) : [];
  const missing = mstate.members.map((m) => m.name).filter((k) => !required.includes(k));
  if (!answer || missing.length > 0) {
    console.log(`MetricsResponse.state: does not require ${JSON.stringify(missing)}`);
    failed += 1;
  } else {
    passed += 1;
  }
}
if (mstate) checkState();

console.log(`check-fields: ${passed} passed ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
