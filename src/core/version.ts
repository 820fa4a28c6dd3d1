import * as fs from 'node:fs';
import * as path from 'node:path';

/** cbp's own version, from package.json (three levels above the compiled dist/src/core). */
export const VERSION: string = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {version: string}).version;
