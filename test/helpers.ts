import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The repository root, from the compiled test file's location (dist/test/...). */
export const ROOT = path.resolve(__dirname, '..', '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Every TypeScript source under `dir` (relative to the repository root), declaration files excepted. */
export function tsSources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), {withFileTypes: true})) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...tsSources(rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const made: string[] = [];
let cleanupHooked = false;

/**
 * A fresh folder under the system's temporary directory (`prefix` + random suffix), removed when the test file's
 * process exits, so that repeated `npm test` runs do not fill /tmp (a run writes over a gigabyte of checkpoints,
 * exports and datasets). CBP_KEEP_TEST_TMP=1 keeps them, to look at what a failing test wrote.
 */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  if (!cleanupHooked && process.env.CBP_KEEP_TEST_TMP !== '1') {
    cleanupHooked = true;
    process.on('exit', () => {
      for (const d of made) {
        try {
          fs.rmSync(d, {recursive: true, force: true});
        } catch {
          // A folder a test left unremovable stays; the next reboot's /tmp cleanup takes it.
        }
      }
    });
  }
  return dir;
}
