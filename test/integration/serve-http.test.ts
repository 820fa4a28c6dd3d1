import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import {serve} from '../../src/app/serve/server';
import {cbp, errorText} from '../cli';
import {tempDir} from '../helpers';

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly headers: http.IncomingHttpHeaders;
}

/** A request with the path exactly as given (fetch and URL would normalise '..' away before it left). */
function request(port: number, rawPath: string, opts: {method?: string; host?: string} = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, path: rawPath, method: opts.method ?? 'GET', headers: {host: opts.host ?? `127.0.0.1:${port}`}}, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers}));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every file and folder below `dir` with its size and modification time, to show that nothing was written. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, {withFileTypes: true})) {
      const full = path.join(d, e.name);
      const st = fs.lstatSync(full);
      out.push(`${path.relative(dir, full)} ${st.size} ${st.mtimeMs}`);
      if (e.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return out.sort();
}

test('cbp serve refuses every path outside RUNS_DIR (.., %2e%2e, absolute, symlinks out), lists nothing outside, writes nothing', async () => {
  const tmp = tempDir('cbp-serve-http-');
  const root = path.join(tmp, 'runs');
  const outside = path.join(tmp, 'outside');
  fs.mkdirSync(path.join(root, 'sub'), {recursive: true});
  fs.mkdirSync(path.join(outside, 'run'), {recursive: true});
  fs.writeFileSync(path.join(root, 'sub', 'inside.onnx'), 'inside bytes');
  fs.writeFileSync(path.join(root, 'notes.txt'), 'not a model');
  fs.writeFileSync(path.join(outside, 'secret.onnx'), 'SECRET');
  fs.writeFileSync(path.join(outside, 'run', 'state.json'), '{}');
  fs.symlinkSync(path.join(outside, 'secret.onnx'), path.join(root, 'link.onnx'));
  fs.symlinkSync(path.join(outside, 'run'), path.join(root, 'linkdir'));
  fs.symlinkSync(outside, path.join(root, 'sub', 'up'));
  const before = snapshot(tmp);
  const served = await serve({dir: root, port: 0});
  try {
    assert.match(served.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const get = (p: string, o?: {method?: string; host?: string}): Promise<Reply> => request(served.port, p, o);

    const inside = await get('/api/file?path=sub/inside.onnx');
    assert.equal(inside.status, 200);
    assert.equal(inside.body, 'inside bytes');

    const refused = [
      '/api/file?path=../outside/secret.onnx',
      '/api/file?path=%2e%2e/outside/secret.onnx',
      '/api/file?path=%2E%2E%2Foutside%2Fsecret.onnx',
      '/api/file?path=sub/../../outside/secret.onnx',
      `/api/file?path=${encodeURIComponent(path.join(outside, 'secret.onnx'))}`,
      '/api/file?path=link.onnx',
      '/api/file?path=sub/up/secret.onnx',
      '/api/model?path=link.onnx',
      '/api/run?path=linkdir',
      '/api/run?path=..%2Foutside%2Frun',
      `/api/run?path=${encodeURIComponent(path.join(outside, 'run'))}`,
      '/api/file?path=notes.txt',
    ];
    for (const p of refused) {
      const r = await get(p);
      assert.equal(r.status, 403, `${p}: ${r.status} ${r.body}`);
      assert.doesNotMatch(r.body, /SECRET/);
    }
    // Paths that are no route at all, whatever they try to climb to.
    for (const p of ['/../outside/secret.onnx', '/static/../../package.json', '/static/..%2f..%2fpackage.json', '/ort/../package.json', '/ort/%2e%2e%2fpackage.json', '//etc/passwd', '/constructor', '/ort/constructor', '/ort/__proto__']) {
      const r = await get(p);
      assert.equal(r.status, 404, `${p}: ${r.status} ${r.body}`);
    }
    assert.equal((await get('/api/file?path=sub/none.onnx')).status, 404);
    assert.equal((await get('/api/file')).status, 400);
    assert.equal((await get('/api/file?path=sub/inside.onnx', {method: 'POST'})).status, 405);
    assert.equal((await get('/api/file?path=sub/inside.onnx', {method: 'DELETE'})).status, 405);
    // Another site's name for this address (DNS rebinding) gets nothing.
    assert.equal((await get('/api/catalog', {host: 'evil.example:80'})).status, 403);

    const catalog = JSON.parse((await get('/api/catalog')).body) as {runs: {path: string}[]; models: {path: string}[]};
    assert.deepEqual(catalog.models.map((m) => m.path), ['sub/inside.onnx']);
    assert.deepEqual(catalog.runs, [], 'the symlinked run folder outside is not listed');

    const page = await get('/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.match(page.body, /\/static\/app\.js/);
    assert.equal((await get('/static/app.js')).status, 200);
  } finally {
    await served.close();
  }
  assert.deepEqual(snapshot(tmp), before, 'serving wrote nothing');
  fs.rmSync(tmp, {recursive: true, force: true});
});

test('cbp serve names RUNS_DIR or the flag when it cannot start', () => {
  const missing = cbp(['serve', path.join(os.tmpdir(), 'cbp-no-such-runs-dir'), '--port', '0']);
  assert.equal(missing.status, 2);
  assert.match(errorText(missing.stderr), /RUNS_DIR \S*cbp-no-such-runs-dir: no such folder/);
  const port = cbp(['serve', os.tmpdir(), '--port', '70000']);
  assert.equal(port.status, 2);
  assert.match(errorText(port.stderr), /70000/);
  const host = cbp(['serve', os.tmpdir(), '--port', '0', '--host', 'bad host!']);
  assert.equal(host.status, 2);
  assert.match(errorText(host.stderr), /--host "bad host!": expected an IP address or a host name/);
});
