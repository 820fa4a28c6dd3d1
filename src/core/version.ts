import * as fs from 'node:fs';
import * as path from 'node:path';

function versionOf(pkg: unknown): string {
  if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') return pkg.version;
  throw new Error('internal: package.json has no version string');
}

/** cbp's own version, from package.json (three levels above the compiled dist/src/core). */
export const VERSION: string = versionOf(JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')));
