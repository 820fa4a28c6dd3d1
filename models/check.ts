import {CbpError, type ErrorCode} from '../src/core/errors';
import {INPUT, kindOf, paramInfos, type ModelSpec} from './spec';

/** The most nodes a spec may have (ResNet-152 has about 500), and the most parameters (float32 within 8 GiB). */
export const MAX_SPEC_NODES = 10_000;
export const MAX_SPEC_PARAMS = 2 ** 31;

/**
 * Checks that a spec describes a network every interpreter can build: unique node names other than the input's,
 * every input defined before it is read, every node accepting its inputs' shapes (each kind's `check`), the output
 * a node giving one logit per class, and a bounded size. Specs that come from outside the program (an imported
 * ONNX file, a stored run state) pass here before anything allocates from them; `what` names them in errors.
 */
export function checkSpec(spec: ModelSpec, what: string, code: ErrorCode): void {
  const fail = (why: string): never => {
    throw new CbpError(`${what}: ${why}`, code);
  };
  if (spec.nodes.length === 0) fail('the model has no layers');
  if (spec.nodes.length > MAX_SPEC_NODES) fail(`${spec.nodes.length} layers, more than the ${MAX_SPEC_NODES} cbp builds`);
  const shapes = new Map<string, readonly number[]>([[INPUT, spec.inputShape]]);
  for (const node of spec.nodes) {
    if (node.name === INPUT) fail(`a layer is named '${INPUT}', the name of the network's input`);
    if (shapes.has(node.name)) fail(`two layers are named '${node.name}'`);
    const kind = kindOf(node);
    const inputs = kind.inputs(node).map((name) => shapes.get(name) ?? fail(`layer ${node.name} (${node.kind}) reads '${name}', which no earlier layer defines`));
    const why = kind.check(node, inputs);
    if (why !== undefined) fail(`layer ${node.name} (${node.kind}) ${why}`);
    shapes.set(node.name, kind.shape(node, inputs));
  }
  const out = shapes.get(spec.output);
  if (out === undefined || spec.output === INPUT) fail(`the output '${spec.output}' is not a layer`);
  else if (out.length !== 1 || out[0] !== spec.numClasses) fail(`the output ${spec.output} gives [${out.join(', ')}] per image, expected [${spec.numClasses}] (one logit per class)`);
  let params = 0;
  for (const p of paramInfos(spec, 'none')) {
    params += p.shape.reduce((a, b) => a * b, 1);
    if (params > MAX_SPEC_PARAMS) fail(`more than ${MAX_SPEC_PARAMS} parameters`);
  }
}
