import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {updateReadme} from '../../bench/cli-reference';
import {ROOT} from '../helpers';

test('docs/CLI.md holds the command reference generated from the commands (run `npm run readme` after changing a flag)', () => {
  const cli = fs.readFileSync(path.join(ROOT, 'docs', 'CLI.md'), 'utf8');
  assert.equal(updateReadme(cli), cli);
  for (const c of ['train', 'export', 'eval', 'import', 'info', 'plot', 'serve']) assert.match(cli, new RegExp(`### \`cbp ${c}\``));
});

test('README gives the install and test commands that CI runs', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const ci = fs.readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8');
  for (const cmd of ['npm install', 'npm test']) {
    assert.match(readme, new RegExp(`^${cmd}$`, 'm'));
    assert.match(ci, new RegExp(`^${cmd}$`, 'm'));
  }
});
