import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {spawnSync} from 'node:child_process';
import {cbp, errorText} from '../cli';
import {classifier, encode, importCases, node} from '../hostile/onnx-import';
import {tempDir} from '../helpers';

/**
 * `cbp import MODEL.onnx` on a hostile-file suite (test/hostile/onnx-import.ts): each file is refused with one
 * line that names it — or accepted, where it is valid — within 5 s and 500 MB of peak memory (each in a process
 * of its own: test/hostile/import-child.ts), and nothing is written for a refused one.
 */

const tmp = tempDir('cbp-hostile-onnx-');
const MAX_MS = 5000;
const MAX_GROWTH = 500 * 2 ** 20;

for (const c of importCases()) {
  test(`cbp import, ${c.name}`, async () => {
    const file = path.join(tmp, `${c.name.replace(/\W+/g, '_')}.onnx`);
    if (typeof c.bytes === 'function') fs.writeFileSync(file, c.bytes());
    else c.bytes.write(file);
    const out = path.join(tmp, `out-${path.basename(file, '.onnx')}`);
    const run = spawnSync(process.execPath, [path.join(__dirname, '..', 'hostile', 'import-child.js'), file, out], {encoding: 'utf8', timeout: 60_000});
    assert.equal(run.status, 0, `${c.name}: the child process failed: ${run.stderr}`);
    const {ms, growth, code, message} = JSON.parse(run.stdout) as {ms: number; growth: number; code?: string; message?: string};
    fs.rmSync(file, {force: true});
    assert.ok(ms < MAX_MS, `${c.name}: ${ms} ms`);
    assert.ok(growth < MAX_GROWTH, `${c.name}: peak memory grew ${(growth / 2 ** 20).toFixed(0)} MiB`);
    if ('accepted' in c.expect) {
      assert.equal(message, undefined, `${c.name}: ${message}`);
      assert.ok(fs.existsSync(path.join(out, 'weights.safetensors')), `${c.name}: no checkpoint written`);
      return;
    }
    assert.ok(message !== undefined, `${c.name}: accepted`);
    assert.equal(code, c.expect.code, `${c.name}: ${message}`);
    assert.ok(message.startsWith(file), `${c.name}: does not name the file first: ${message.slice(0, 200)}`);
    assert.ok(!message.includes('\n'), `${c.name}: more than one line`);
    assert.ok(message.length < 2500, `${c.name}: ${message.length} characters`);
    // No control character of the file reaches the message.
    assert.ok(!/[\x00-\x1f\x7f-\x9f]/.test(message), `${c.name}: a raw control character in ${JSON.stringify(message.slice(0, 300))}`);
    for (const re of Array.isArray(c.expect.re) ? c.expect.re : [c.expect.re]) assert.match(message, re, c.name);
    assert.ok(!fs.existsSync(out), `${c.name}: ${out} was written`);
  });
}

test('the terminal sees escaped names: cbp import of a node named with escape sequences exits 2 with one short line', () => {
  const c = importCases().find((x) => x.name.startsWith('echo: node and value names'));
  assert.ok(c !== undefined && typeof c.bytes === 'function');
  const file = path.join(tmp, 'escapes.onnx');
  fs.writeFileSync(file, c.bytes());
  const r = cbp(['import', file, '--out', path.join(tmp, 'escapes-out')]);
  assert.equal(r.status, 2);
  assert.ok(!r.stderr.includes('\x1b') && !r.stderr.includes('\x07'), JSON.stringify(r.stderr.slice(0, 400)));
  assert.match(errorText(r.stderr), /escapes\.onnx: cannot import this model; unsupported: Erf \(1 node: \\x1b\[2J/);
});

test('every line a command prints is safe for the terminal: cbp info of a file whose layers are named with escape sequences', () => {
  const m = classifier();
  node(m, '/conv2/Conv').name = '/conv2\x1b]0;owned\x07/Conv\u202e';
  const file = path.join(tmp, 'escaped-layers.onnx');
  fs.writeFileSync(file, encode(m));
  const r = cbp(['info', file]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/.test(r.stdout), JSON.stringify(r.stdout));
  assert.match(r.stdout, /\/conv2\\x1b\]0;owned\\x07\/Conv\\u\{202e\}/);
});
