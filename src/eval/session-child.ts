/**
 * The child process of an isolated ONNX Runtime session (see isolated.ts): it opens the session and answers each
 * batch with logits or with an error message. It holds nothing the parent needs, so the parent may kill it at any
 * moment, which is how a model that never terminates is stopped: onnxruntime-node runs a model synchronously on its
 * thread, and neither a timer nor a worker thread can interrupt it or let the process exit.
 */
import {CbpError} from '../core/errors';
import {openSession, runBatch, type OpenSession} from '../core/ort';

export type ToChild = {kind: 'open'; model: Uint8Array; device: string; source: string; needs?: string} | {kind: 'run'; x: Float32Array; dims: number[]};
export type FromChild =
  | {kind: 'opened'; device: 'cuda' | 'webgpu' | 'cpu'; line: string}
  | {kind: 'logits'; data: Float32Array; dims: number[]}
  | {kind: 'error'; message: string; code: string};

let opened: OpenSession | undefined;
let source = 'model';

function reply(m: FromChild): void {
  process.send?.(m);
}

async function handle(m: ToChild): Promise<void> {
  try {
    if (m.kind === 'open') {
      source = m.source;
      opened = await openSession(m.model, m.device, m.source, m.needs);
      reply({kind: 'opened', device: opened.device, line: opened.line});
      return;
    }
    if (opened === undefined) throw new CbpError('internal: run before open');
    const out = await runBatch(opened.session, m.x, m.dims, source);
    reply({kind: 'logits', data: out.data, dims: out.dims});
  } catch (err) {
    reply({kind: 'error', message: err instanceof Error ? err.message : String(err), code: err instanceof CbpError ? err.code : 'ONNX_RUNTIME'});
  }
}

process.on('message', (m: ToChild) => void handle(m));
// The parent gone, nothing is left to answer.
process.on('disconnect', () => process.exit(0));
