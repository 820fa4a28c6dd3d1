/** `npm run readme`: regenerates the command reference in docs/CLI.md from the commands themselves. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {updateReadme} from './cli-reference';

const file = path.join(__dirname, '..', '..', 'docs', 'CLI.md');
fs.writeFileSync(file, updateReadme(fs.readFileSync(file, 'utf8')));
process.stdout.write(`updated ${file}\n`);
