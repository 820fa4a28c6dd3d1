import {importOnnx} from '../../src/app/import-onnx';
import {CbpError} from '../../src/core/errors';

/**
 * One `cbp import` in a process of its own, so that its peak memory is its own: prints {ms, growth, code, message}
 * as JSON. Arguments: the file and the run folder to write.
 */
async function main(): Promise<void> {
  const [file, out] = process.argv.slice(2);
  // node --test runs every file under dist/test: without arguments this is not a run.
  if (file === undefined || out === undefined) return;
  const before = process.memoryUsage().rss;
  const t0 = Date.now();
  let code: string | undefined;
  let message: string | undefined;
  try {
    await importOnnx({file, out});
  } catch (err) {
    code = err instanceof CbpError ? err.code : 'FOREIGN';
    message = err instanceof Error ? err.message : String(err);
  }
  const ms = Date.now() - t0;
  process.stdout.write(JSON.stringify({ms, growth: process.resourceUsage().maxRSS * 1024 - before, code, message}));
}

void main();
