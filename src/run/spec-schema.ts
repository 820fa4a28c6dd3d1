import {INPUT, MAX_SPEC_NODES, checkSpec, isNodeKind, readNode, type ModelSpec, type NodeReader, type Pair, type SpecNode} from '../../models/index';
import type {StateReader} from './state-reader';

/** The longest layer or model name a stored spec may hold. */
export const MAX_NAME = 256;

/**
 * A spec stored in a run state (`config.spec`, written by `cbp import` of an ONNX file), read as the rest of the
 * run state is: every node's kind one cbp knows, its fields read by the kind itself through a NodeReader that
 * checks each type and bound, and then the whole spec checked (checkSpec) so that a spec that lies about its
 * shapes fails here, naming the field, before anything is built from it.
 */
export function readSpec(r: StateReader, v: unknown, key = 'config.spec'): ModelSpec {
  const s = r.obj(v, key);
  const name = r.str(s.name, `${key}.name`);
  if (name.length > MAX_NAME) r.fail(`${key}.name`, name, `at most ${MAX_NAME} characters`);
  if (!Array.isArray(s.inputShape) || s.inputShape.length !== 3) r.fail(`${key}.inputShape`, s.inputShape, '[channels, height, width]');
  // Checked on the line above to be an array of three; each element is checked as it is read.
  const [c, h, w] = s.inputShape as unknown[];
  const inputShape = [r.int(c, `${key}.inputShape[0]`, 1, 64), r.int(h, `${key}.inputShape[1]`, 1, 4096), r.int(w, `${key}.inputShape[2]`, 1, 4096)] as const;
  const numClasses = r.int(s.numClasses, `${key}.numClasses`, 1, 100_000);
  if (!Array.isArray(s.nodes) || s.nodes.length === 0 || s.nodes.length > MAX_SPEC_NODES) r.fail(`${key}.nodes`, `${Array.isArray(s.nodes) ? s.nodes.length : typeof s.nodes} nodes`, `a list of 1 to ${MAX_SPEC_NODES} layers`);
  // Checked on the line above to be an array; each node is checked as it is read.
  const nodes = (s.nodes as unknown[]).map((n, i) => readNodeAt(r, n, `${key}.nodes[${i}]`));
  const output = r.str(s.output, `${key}.output`);
  const spec: ModelSpec = {name, inputShape, numClasses, nodes, output};
  checkSpec(spec, `${r.file}: run state '${key}'`, 'BAD_CHECKPOINT');
  return spec;
}

function readNodeAt(r: StateReader, v: unknown, key: string): SpecNode {
  const o = r.obj(v, key);
  const kind = r.str(o.kind, `${key}.kind`);
  if (!isNodeKind(kind)) r.fail(`${key}.kind`, kind, 'a node kind cbp knows');
  const name = r.str(o.name, `${key}.name`);
  if (name.length > MAX_NAME || name === INPUT) r.fail(`${key}.name`, name, `a name of at most ${MAX_NAME} characters other than '${INPUT}'`);
  const at = (field: string): string => `${key}.${field}`;
  const int = (value: unknown, field: string, min: number, max: number): number => r.int(value, field, min, max);
  const reader: NodeReader = {
    name,
    value: (f) => r.str(o[f], at(f)),
    valuePair: (f) => {
      const p = o[f];
      if (!Array.isArray(p) || p.length !== 2) r.fail(at(f), p, 'two value names');
      // Checked on the line above to be an array of two; each element is checked as it is read.
      const [a, b] = p as unknown[];
      return [r.str(a, `${at(f)}[0]`), r.str(b, `${at(f)}[1]`)];
    },
    values: (f, min, max) => {
      const p = o[f];
      if (!Array.isArray(p) || p.length < min || p.length > max) r.fail(at(f), Array.isArray(p) ? `${p.length} values` : p, `a list of ${min} to ${max} value names`);
      // Checked on the line above to be an array; each element is checked as it is read.
      return (p as unknown[]).map((x, i) => r.str(x, `${at(f)}[${i}]`));
    },
    int: (f, min, max) => int(o[f], at(f), min, max),
    pair: (f, min, max): Pair => {
      const p = o[f];
      if (!Array.isArray(p) || p.length !== 2) r.fail(at(f), p, `two integers in [${min}, ${max}]`);
      // Checked on the line above to be an array of two; each element is checked as it is read.
      const [a, b] = p as unknown[];
      return [int(a, `${at(f)}[0]`, min, max), int(b, `${at(f)}[1]`, min, max)];
    },
    ints: (f, min, max, count) => {
      const p = o[f];
      if (!Array.isArray(p) || p.length < count[0] || p.length > count[1]) r.fail(at(f), Array.isArray(p) ? `${p.length} values` : p, `a list of ${count[0]} to ${count[1]} integers in [${min}, ${max}]`);
      // Checked on the line above to be an array; each element is checked as it is read.
      return (p as unknown[]).map((x, i) => int(x, `${at(f)}[${i}]`, min, max));
    },
    num: (f, min, max) => {
      const x = r.num(o[f], at(f), min);
      if (x > max) r.fail(at(f), x, `a number in [${min}, ${max}]`);
      return x;
    },
    flag: (f) => r.bool(o[f], at(f)),
    word: (f, words) => {
      const x = r.str(o[f], at(f));
      const found = words.find((w) => w === x);
      return found ?? r.fail(at(f), x, `one of ${words.join(', ')}`);
    },
    has: (f) => Object.prototype.hasOwnProperty.call(o, f) && o[f] !== undefined,
  };
  return readNode(kind, reader);
}
