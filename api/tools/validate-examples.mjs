// validate-examples.mjs - checks every api/examples/<case>/ folder against
// api/openapi.yaml.
//
// For each folder: the files are the known ones and well formed; method and
// path name an operation of the contract (an unknown path must expect 404,
// an unknown method 405); the status is one the operation declares; the
// response.json body is valid against that response's schema (which pins
// the error `code` of each status); a 2xx request.json is valid against the
// request body schema; expected response headers are declared for that
// response; a 200 /v1/loss or /v1/targets body has the shapes its request
// implies (n, classes, per_sample, N x C matrices, the requested outputs),
// and a 200 /v1/metrics or /v1/metrics/merge body the configuration its
// request (or its states) implies (n, classes, the state's members, the
// top-k, bins, per-class and confusion members, nulls when no row counts).
//
// Usage: node validate-examples.mjs [OPENAPI] [EXAMPLES_DIR]
// Prints one line per failing folder and a summary line
//   "validate-examples: P passed F failed"; exits 1 when anything failed.
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import YAML from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const specPath = process.argv[2] ?? join(here, '..', 'openapi.yaml');
const examplesDir = process.argv[3] ?? join(here, '..', 'examples');

const KNOWN_FILES = new Set([
  'request.json', 'request.txt', 'request.tensors.json', 'response.json',
  'status', 'method', 'path', 'headers', 'response_headers',
]);
const METHODS = ['get', 'post', 'put', 'delete', 'patch', 'head', 'options'];
const DEFAULT_OUTPUTS = ['loss', 'per_sample', 'grad'];

const spec = YAML.parse(readFileSync(specPath, 'utf8'));

// Every component schema becomes its own ajv schema, its $id the component
// name, so that '#/components/schemas/X' references resolve as 'X'.
function rewriteRefs(node) {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string') {
      const m = v.match(/^#\/components\/schemas\/([A-Za-z0-9_]+)$/);
      if (!m) throw new Error(`unsupported $ref ${v}`);
      out[k] = m[1];
    } else if (k === 'example' || k.startsWith('x-')) {
      // OpenAPI annotations (an example, an x- extension such as x-losses),
      // not JSON Schema keywords: redocly and check-fields read them.
    } else {
      out[k] = rewriteRefs(v);
    }
  }
  return out;
}

// Strict, except strictRequired: `oneOf: [{required: [targets]}, ...]`
// names properties of the enclosing schema, which is valid JSON Schema.
const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true });
for (const [name, schema] of Object.entries(spec.components.schemas)) {
  ajv.addSchema({ ...rewriteRefs(schema), $id: name });
}
// Compile every schema now, so that a broken one fails the run at once.
for (const name of Object.keys(spec.components.schemas)) ajv.getSchema(name);

function resolve(obj) {
  // A response object (or anything) that may be a $ref into components.
  if (obj && typeof obj.$ref === 'string') {
    const parts = obj.$ref.replace(/^#\//, '').split('/');
    let cur = spec;
    for (const p of parts) cur = cur?.[p.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (cur === undefined) throw new Error(`unresolved $ref ${obj.$ref}`);
    return resolve(cur);
  }
  return obj;
}

function validatorFor(schema) {
  const s = rewriteRefs(schema);
  if (typeof s.$ref === 'string' && Object.keys(s).length === 1) return ajv.getSchema(s.$ref);
  return ajv.compile(s);
}

function readOpt(dir, name) {
  const p = join(dir, name);
  return existsSync(p) ? readFileSync(p, 'utf8') : null;
}

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not JSON: ${e.message}`);
  }
}

function ajvErrors(validate) {
  return ajv.errorsText(validate.errors, { separator: '; ' });
}

function isMatrix(m, rows, cols) {
  return Array.isArray(m) && m.length === rows &&
    m.every((r) => Array.isArray(r) && r.length === cols);
}

// The configuration a metrics request asks for: its options, else the
// defaults (top_k [1, 5] capped at C); a merge's comes from its states.
function metricsConfig(path, req) {
  if (path === '/v1/metrics') {
    const c = req.logits[0].length;
    return {
      n: req.logits.length, classes: c, bins: req.bins ?? 15,
      top_k: req.top_k ?? [...new Set([1, 5].map((k) => Math.min(k, c)))],
      confusion: req.confusion ?? false, per_class: req.per_class ?? false,
      ignore_index: req.ignore_index ?? -100,
      counted: req.targets.filter((t) => t !== (req.ignore_index ?? -100)).length,
    };
  }
  const cfg = { ...req.states[0] };
  delete cfg.version;
  delete cfg.data;
  cfg.n = req.states.reduce((a, st) => a + st.n, 0);
  if (req.states.every((st) => st.counted !== undefined))
    cfg.counted = req.states.reduce((a, st) => a + st.counted, 0);
  for (const k of ['top_k', 'bins', 'confusion', 'per_class', 'ignore_index'])
    if (req[k] !== undefined) cfg[k] = req[k];
  return cfg;
}

function checkMetrics(path, req, body) {
  const cfg = metricsConfig(path, req);
  for (const [k, v] of Object.entries(cfg)) {
    if (JSON.stringify(body.state[k]) !== JSON.stringify(v))
      throw new Error(`state.${k} is ${JSON.stringify(body.state[k])}, the request implies ${JSON.stringify(v)}`);
  }
  for (const k of ['n', 'classes', 'counted']) {
    if (body[k] !== body.state[k]) throw new Error(`${k} is ${body[k]}, state.${k} ${body.state[k]}`);
  }
  const m = body.metrics;
  const c = body.classes;
  if (('per_class' in m) !== body.state.per_class) throw new Error('per_class is there iff asked for');
  if (('confusion' in m) !== body.state.confusion) throw new Error('confusion is there iff asked for');
  if (body.counted === 0) {
    for (const [k, v] of Object.entries(m)) if (v !== null) throw new Error(`no row counted, but ${k} is not null`);
    return;
  }
  for (const [k, v] of Object.entries(m)) if (v === null) throw new Error(`rows counted, but ${k} is null`);
  const keys = Object.keys(m.top_k_accuracy);
  if (JSON.stringify(keys) !== JSON.stringify(body.state.top_k.map(String)))
    throw new Error(`top_k_accuracy has ${JSON.stringify(keys)}, top_k is ${JSON.stringify(body.state.top_k)}`);
  if (m.reliability.length !== body.state.bins) throw new Error('reliability does not have `bins` bins');
  if (m.reliability.reduce((a, b) => a + b.count, 0) !== body.counted)
    throw new Error('the bins do not count the counted rows');
  for (const b of m.reliability) {
    if ((b.count === 0) !== (b.mean_confidence === null) || (b.count === 0) !== (b.accuracy === null))
      throw new Error('a bin is null iff it is empty');
  }
  if (m.per_class) {
    for (const k of ['precision', 'recall', 'f1', 'support'])
      if (m.per_class[k].length !== c) throw new Error(`per_class.${k} is not C long`);
    if (m.per_class.support.reduce((a, b) => a + b, 0) !== body.counted)
      throw new Error('support does not add up to the counted rows');
  }
  if (m.confusion) {
    if (!isMatrix(m.confusion, c, c)) throw new Error('confusion is not C x C');
    if (m.confusion.flat().reduce((a, b) => a + b, 0) !== body.counted)
      throw new Error('confusion does not add up to the counted rows');
  }
}

// Shapes of a 200 body that JSON Schema cannot relate to the request.
function checkShapes(path, req, body) {
  if (path === '/v1/metrics' || path === '/v1/metrics/merge') {
    checkMetrics(path, req, body);
    return;
  }
  if (path.startsWith('/v2/')) {
    for (const o of body.outputs) {
      const count = o.shape.reduce((a, b) => a * b, 1);
      if (!Array.isArray(o.data) || o.data.length !== count) {
        throw new Error(`${o.name}: shape ${JSON.stringify(o.shape)} but ${o.data?.length} values`);
      }
    }
    return;
  }
  if (path === '/v1/targets') {
    const n = req.targets.length;
    if (!isMatrix(body.targets, n, req.num_classes)) {
      throw new Error(`targets is not ${n} x ${req.num_classes}`);
    }
    return;
  }
  // The batch's layout: N x C rows, K-dimensional (the classes second or
  // last), or flat with a shape; the answers keep it.
  const nestedShape = (v) => {
    const dims = [];
    while (Array.isArray(v)) {
      dims.push(v.length);
      if (v.length === 0) break;
      [v] = v;
    }
    return dims;
  };
  const flat = 'shape' in req;
  const shape = flat ? req.shape : nestedShape(req.logits);
  const rank = shape.length;
  const axis = req.class_axis ?? 1;
  const norm = axis < 0 ? axis + rank : axis;
  const cax = rank > 2 && norm === rank - 1 ? rank - 1 : 1;
  const n = shape[0];
  const c = shape[cax];
  if (body.n !== n || body.classes !== c) {
    throw new Error(`n/classes are ${body.n}/${body.classes}, the request has ${n}/${c}`);
  }
  const kdim = flat || rank > 2;
  if (kdim !== ('shape' in body) || (kdim && JSON.stringify(body.shape) !== JSON.stringify(shape))) {
    throw new Error(`shape is ${JSON.stringify(body.shape)}, the request's ${JSON.stringify(shape)}`);
  }
  const outputs = new Set(req.outputs ?? DEFAULT_OUTPUTS);
  if ((req.reduction ?? 'mean') === 'none') outputs.delete('loss');
  const present = new Set(Object.keys(body).filter((k) => !['n', 'classes', 'shape'].includes(k)));
  for (const o of outputs) if (!present.has(o)) throw new Error(`output ${o} is missing`);
  for (const o of present) if (!outputs.has(o)) throw new Error(`${o} was not requested`);
  const count = (dims) => dims.reduce((a, b) => a * b, 1);
  const positions = shape.filter((_, i) => i !== cax);
  const like = (dims) => (flat ? [count(dims)] : dims);
  const isNested = (v, dims) => {
    if (!Array.isArray(v) || v.length !== dims[0]) return false;
    if (dims.length === 1) return v.every((x) => typeof x === 'number');
    return v.every((e) => isNested(e, dims.slice(1)));
  };
  if (body.per_sample && !isNested(body.per_sample, like(positions))) {
    throw new Error(`per_sample is not ${JSON.stringify(like(positions))}`);
  }
  for (const m of ['grad', 'targets', 'probs', 'elementwise']) {
    if (m in body && !isNested(body[m], like(shape))) {
      throw new Error(`${m} is not ${JSON.stringify(like(shape))}`);
    }
  }
  if (body.stats && !isNested(body.stats.predicted, like(positions))) {
    throw new Error(`stats.predicted is not ${JSON.stringify(like(positions))}`);
  }
}

function checkCase(dir) {
  const names = readdirSync(dir);
  for (const f of names) {
    if (!KNOWN_FILES.has(f)) throw new Error(`unknown file ${f}`);
  }
  const statusText = readOpt(dir, 'status');
  if (statusText === null) throw new Error('no status file');
  if (!/^[1-5][0-9][0-9]\n?$/.test(statusText)) throw new Error(`bad status ${JSON.stringify(statusText)}`);
  const status = statusText.trim();
  const method = (readOpt(dir, 'method') ?? 'POST').trim();
  const path = (readOpt(dir, 'path') ?? '/v1/loss').trim();
  if (!METHODS.includes(method.toLowerCase())) throw new Error(`bad method ${method}`);
  if (!path.startsWith('/')) throw new Error(`bad path ${path}`);
  if (names.includes('request.json') && names.includes('request.txt')) {
    throw new Error('both request.json and request.txt');
  }
  const headersText = readOpt(dir, 'headers');
  if (headersText !== null) {
    for (const line of headersText.split('\n').filter((l) => l !== '')) {
      if (!/^[A-Za-z0-9-]+: .+$/.test(line)) throw new Error(`bad headers line ${line}`);
    }
  }
  const responseText = readOpt(dir, 'response.json');
  if (responseText === null) throw new Error('no response.json');
  const body = parseJson(responseText, 'response.json');

  // The response object of the contract for this method, path and status.
  const item = spec.paths[path];
  let response;
  let operation = null;
  // Under /v2 the errors are the Open Inference Protocol's.
  const v2 = path === '/v2' || path.startsWith('/v2/');
  if (item === undefined) {
    if (status !== '404') throw new Error(`path ${path} is not in the contract, status must be 404`);
    response = resolve({ $ref: v2 ? '#/components/responses/V2Failure404' : '#/components/responses/NotFound' });
  } else if (item[method.toLowerCase()] === undefined &&
             !(method === 'HEAD' && item.get !== undefined)) {
    if (status !== '405') throw new Error(`${method} ${path} is not in the contract, status must be 405`);
    response = resolve({ $ref: v2 ? '#/components/responses/V2Failure405' : '#/components/responses/MethodNotAllowed' });
  } else {
    operation = item[method.toLowerCase()];
    if (operation.responses[status] === undefined) {
      throw new Error(`${method} ${path} declares no ${status} response`);
    }
    response = resolve(operation.responses[status]);
  }

  const media = response.content?.['application/json'];
  if (!media) throw new Error(`the ${status} response of ${method} ${path} has no JSON body`);
  const validate = validatorFor(media.schema);
  if (!validate(body)) throw new Error(`response.json: ${ajvErrors(validate)}`);

  const expectHeaders = readOpt(dir, 'response_headers');
  if (expectHeaders !== null) {
    for (const line of expectHeaders.split('\n').filter((l) => l !== '')) {
      const m = line.match(/^([A-Za-z0-9-]+): (.+)$/);
      if (!m) throw new Error(`bad response_headers line ${line}`);
      if (m[1].toLowerCase() === 'content-type') {
        // A media type the response declares a body for.
        if (!response.content?.[m[2]]) throw new Error(`Content-Type ${m[2]} is not declared for this response`);
        continue;
      }
      const declared = Object.keys(response.headers ?? {}).map((h) => h.toLowerCase());
      if (!declared.includes(m[1].toLowerCase())) {
        throw new Error(`header ${m[1]} is not declared for this response`);
      }
      const hv = validatorFor(resolve(response.headers[Object.keys(response.headers)
        .find((h) => h.toLowerCase() === m[1].toLowerCase())]).schema);
      const value = /^[0-9]+$/.test(m[2]) && hv.schema?.type === 'integer' ? Number(m[2]) : m[2];
      if (!hv(value)) throw new Error(`header ${m[1]}: ${ajvErrors(hv)}`);
    }
  }

  const requestText = readOpt(dir, 'request.json');
  if (status.startsWith('2') && operation !== null) {
    const rb = operation.requestBody;
    if (rb) {
      if (requestText === null) throw new Error('a 2xx POST example needs request.json');
      const req = parseJson(requestText, 'request.json');
      const vr = validatorFor(rb.content['application/json'].schema);
      if (!vr(req)) throw new Error(`request.json: ${ajvErrors(vr)}`);
      checkShapes(path, req, body);
    } else if (requestText !== null || readOpt(dir, 'request.txt') !== null) {
      throw new Error(`${method} ${path} takes no body`);
    }
  } else if (requestText !== null) {
    parseJson(requestText, 'request.json');
  }
}

let passed = 0;
let failed = 0;
const cases = readdirSync(examplesDir)
  .filter((d) => statSync(join(examplesDir, d)).isDirectory())
  .sort();
for (const name of cases) {
  try {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error('folder names are lower-case-with-dashes');
    checkCase(join(examplesDir, name));
    passed++;
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
console.log(`validate-examples: ${passed} passed ${failed} failed`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
