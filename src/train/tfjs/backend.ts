import {tf} from './tf';
import {CbpError, errnoCode, errorMessage} from '../../core/errors';

import {checkBackend} from '../../core/backend-choice';

export {BACKEND_CHOICES, checkBackend, type BackendChoice} from '../../core/backend-choice';

export interface BackendInfo {
  /** The tfjs backend in use: tensorflow, wasm or cpu. */
  readonly name: string;
  /** What provides it (tfjs-node-gpu, tfjs-node, tfjs-backend-wasm, tfjs-backend-cpu). */
  readonly provider: string;
  /** Why each better option was not used, for the run log. */
  readonly skipped: readonly string[];
}

/** The native bindings, best first. Each registers the `tensorflow` backend when it loads. */
const NATIVE = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

function loadNative(skipped: string[]): string | undefined {
  for (const pkg of NATIVE) {
    try {
      require(pkg);
      if (tf.findBackend('tensorflow') !== null || tf.findBackendFactory('tensorflow') !== null) return pkg;
      skipped.push(`${pkg} loaded but registered no 'tensorflow' backend with this copy of tfjs-core (versions must match 4.22.0)`);
    } catch (err) {
      const message = errorMessage(err);
      skipped.push(errnoCode(err) === 'MODULE_NOT_FOUND' && message.includes(pkg) ? `${pkg} is not installed` : `${pkg} failed to load: ${message.split('\n')[0]}`);
    }
  }
  return undefined;
}

async function trySet(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/**
 * Picks the tfjs backend: with `auto`, tfjs-node-gpu, then tfjs-node, then wasm (XNNPACK), then the pure-JS cpu
 * backend, recording why each better one was not used. An explicit choice that cannot load is an error.
 */
export async function selectBackend(choice: string): Promise<BackendInfo> {
  checkBackend(choice);
  const skipped: string[] = [];
  if (choice === 'auto' || choice === 'tensorflow') {
    const pkg = loadNative(skipped);
    if (pkg !== undefined && (await trySet('tensorflow'))) return {name: 'tensorflow', provider: pkg.replace('@tensorflow/', ''), skipped};
    if (choice === 'tensorflow') {
      throw new CbpError(`--backend tensorflow: not available (${skipped.join('; ')}). Install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu 4.22.0, or use --backend auto`);
    }
  }
  if (choice === 'auto' || choice === 'wasm') {
    if (await trySet('wasm')) return {name: 'wasm', provider: 'tfjs-backend-wasm', skipped};
    if (choice === 'wasm') throw new CbpError('--backend wasm: the WebAssembly backend failed to initialise');
    skipped.push('tfjs-backend-wasm failed to initialise');
  }
  if (await trySet('cpu')) return {name: 'cpu', provider: 'tfjs-backend-cpu', skipped};
  throw new CbpError(`--backend ${choice}: no tfjs backend could be initialised`);
}

export function describeBackend(info: BackendInfo): string {
  const why = info.skipped.length > 0 ? ` (not used: ${info.skipped.join('; ')})` : '';
  return `backend: ${info.name} via ${info.provider}${why}`;
}
