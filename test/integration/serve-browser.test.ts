import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {spawn, type ChildProcess} from 'node:child_process';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import type {Browser, Page} from 'puppeteer-core';
import {loadMnist} from '../../src/data/mnist';
import {cbp} from '../cli';
import {ROOT, maxAbsDiff, tempDir} from '../helpers';

/**
 * `cbp serve` in a real browser: Debian's chromium (or CBP_CHROMIUM) driven by puppeteer-core. Without either the
 * test is skipped with the command that installs them; `.ci/run` installs chromium.
 */
const CHROMIUM = process.env.CBP_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** Set to a folder (docs) to keep the page's screenshots there. */
const SHOTS = process.env.CBP_SCREENSHOTS;

interface TryResult {
  readonly source: string;
  readonly dims: number[];
  readonly input: number[];
  readonly logits: number[];
  readonly top: {index: number; label: string}[];
}

function startServe(dir: string): Promise<{child: ChildProcess; url: string}> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'run.js'), 'serve', dir, '--port', '0'], {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe']});
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`cbp serve printed no URL in 60 s: ${out} ${err}`)), 60_000);
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /^(http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({child, url: m[1]});
      }
    });
    child.on('exit', (code) => reject(new Error(`cbp serve exited ${code}: ${err}`)));
  });
}

async function ortLogits(model: string, input: number[], dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model);
  try {
    const out = await session.run({[session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(input), dims)});
    const t = out[session.outputNames[0]];
    assert.ok(t.data instanceof Float32Array);
    return t.data;
  } finally {
    await session.release();
  }
}

/** A string the page computes. The test is compiled without the DOM's types, so page code is passed as text. */
async function text(page: Page, code: string): Promise<string> {
  const v = await page.evaluate(code);
  assert.equal(typeof v, 'string', `${code.slice(0, 80)} gave ${String(v)}`);
  return String(v);
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** The drop a user makes: a DataTransfer holding the PNG as a file, dispatched on the page's drop zone. */
async function dropPng(page: Page, png: Buffer): Promise<void> {
  await page.evaluate(`(() => {
    const bytes = Uint8Array.from(atob(${JSON.stringify(png.toString('base64'))}), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'mnist-test-0.png', {type: 'image/png'}));
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
    return 0;
  })()`);
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

test('cbp serve in chromium: runs listed, live curves, histograms, a model card, and a drawn digit and a dropped MNIST image classified as onnxruntime-node does', async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    t.skip(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) or set CBP_CHROMIUM`);
    return;
  }
  let puppeteer: typeof import('puppeteer-core');
  try {
    puppeteer = await import('puppeteer-core');
  } catch {
    t.skip('puppeteer-core is not installed: npm install');
    return;
  }
  const tmp = tempDir('cbp-serve-browser-');
  const runs = path.join(tmp, 'runs');
  const run = path.join(runs, 'lenet5-bin');
  const model = path.join(runs, 'lenet5_bin.onnx');
  const children: ChildProcess[] = [];
  let browser: Browser | undefined;
  try {
    const trained = cbp(['train', '--model', 'lenet5', '--quant', 'bin', '--data', 'mnist', '--limit', '512', '--batch-size', '64', '--lr', '0.05', '--epochs', '2', '--test-limit', '500', '--engine', 'onnxruntime', '--no-plot', '--out', run]);
    assert.equal(trained.status, 0, trained.stderr);
    const exported = cbp(['export', '--format', 'onnx', '--checkpoint', run, '--out', model]);
    assert.equal(exported.status, 0, exported.stderr);
    const int8Model = path.join(runs, 'lenet5_bin_int8.onnx');
    const int8 = cbp(['export', '--checkpoint', run, '--out', int8Model, '--activations', 'int8']);
    assert.equal(int8.status, 0, int8.stderr);
    const float = cbp(['train', '--model', 'lenet5', '--quant', 'none', '--data', 'mnist', '--limit', '256', '--batch-size', '64', '--lr', '0.05', '--epochs', '2', '--test-limit', '200', '--engine', 'onnxruntime', '--no-plot', '--out', path.join(runs, 'lenet5-float')]);
    assert.equal(float.status, 0, float.stderr);

    const served = await startServe(runs);
    children.push(served.child);
    browser = await puppeteer.launch({executablePath: CHROMIUM, headless: true, args: FLAGS, userDataDir: path.join(tmp, 'profile'), defaultViewport: {width: 1280, height: 900}});
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));

    // The list: the run with its status, the model.
    await page.goto(served.url);
    await page.waitForSelector('#runs tr[data-path="lenet5-bin"] .badge[data-status="finished"]', {timeout: 30_000});
    await page.waitForSelector('#models tr[data-path="lenet5_bin.onnx"]');
    assert.doesNotMatch(await text(page, 'document.body.innerText'), /\b(null|undefined|NaN)\b/);
    if (SHOTS) await page.screenshot({path: path.join(SHOTS, 'serve-runs.png')});

    // A run: curves with lines (two epochs), histograms with bars, the level counts.
    await page.goto(`${served.url}#/run/lenet5-bin`);
    await page.waitForSelector('#curves svg path');
    const drawn = JSON.parse(await text(page, `JSON.stringify({
      paths: Array.from(document.querySelectorAll('#curves svg path')).map((p) => p.getAttribute('d') ?? ''),
      bars: document.querySelectorAll('#weights svg rect').length,
      levels: document.querySelector('table.layers')?.textContent ?? '',
      epochs: document.querySelector('#curves')?.getAttribute('data-epochs'),
    })`)) as {paths: string[]; bars: number; levels: string; epochs: string};
    assert.equal(drawn.paths.length, 6, 'six curves for a constrained run');
    for (const d of drawn.paths) assert.match(d, /^M[\d.]+,[\d.]+ L[\d.]+,[\d.]+$/);
    assert.ok(drawn.bars > 70, `histogram bars: ${drawn.bars}`);
    assert.match(drawn.levels, /-1: \d+ {3}\+1: \d+/);
    assert.equal(drawn.epochs, '2');
    if (SHOTS) await page.screenshot({path: path.join(SHOTS, 'serve-run.png'), fullPage: true});

    // A float run: three curves, no constraint panels, no histograms.
    await page.goto(`${served.url}#/run/lenet5-float`);
    // Only the hash changes: wait for the float run's own view, not the previous run's still on screen.
    await page.waitForFunction("document.querySelector('h1')?.textContent?.startsWith('lenet5-float') === true");
    await page.waitForSelector('#curves svg path');
    const floatPage = JSON.parse(await text(page, `JSON.stringify({
      paths: document.querySelectorAll('#curves svg path').length,
      weights: document.querySelector('#weights') !== null,
      text: document.querySelector('#curves').textContent,
    })`)) as {paths: number; weights: boolean; text: string};
    assert.deepEqual([floatPage.paths, floatPage.weights], [3, false]);
    assert.doesNotMatch(floatPage.text, /CFS|Lagrange multiplier|ucs/);
    await page.goto(`${served.url}#/run/lenet5-bin`);
    await page.waitForFunction("document.querySelector('h1')?.textContent?.startsWith('lenet5-bin') === true");
    await page.waitForSelector('#curves svg path');

    // Live: a third epoch written by cbp train shows up without a reload.
    await page.evaluate('window.notReloaded = true; 0');
    const resumed = spawn(process.execPath, [path.join(ROOT, 'bin', 'run.js'), 'train', '--resume', run, '--epochs', '3', '--test-limit', '500', '--engine', 'onnxruntime', '--no-plot'], {cwd: ROOT, stdio: 'ignore'});
    children.push(resumed);
    await page.waitForSelector('#curves[data-epochs="3"]', {timeout: 240_000});
    assert.equal(await text(page, `String('notReloaded' in window)`), 'true', 'the page updated in place');
    assert.match(await text(page, `document.querySelector('#run-summary').textContent`), /epoch 3 of 3/);

    // A model: its card, then try it.
    await page.goto(`${served.url}#/model/lenet5_bin.onnx`);
    await page.waitForSelector('#pad');
    const card = await text(page, `document.querySelector('#card').textContent`);
    for (const key of ['cbp.model', 'cbp.constraint', 'cbp.input_mean', 'cbp.top1']) assert.ok(card.includes(key), `card shows ${key}`);
    // The preprocessing comes from the model card (cbp.preprocessing), which exports carry.
    assert.match(card, /from cbp\.preprocessing\.mean, cbp\.preprocessing\.std/);

    // A dropped MNIST test image: the page's input is the data set's own, its logits those of onnxruntime-node.
    const test0 = loadMnist().test;
    const pixels = test0.images.subarray(0, 784);
    const png = await sharp(Buffer.from(pixels), {raw: {width: 28, height: 28, channels: 1}}).png().toBuffer();
    await dropPng(page, png);
    await page.waitForSelector('body[data-tries="1"]', {timeout: 60_000});
    const d = JSON.parse(await text(page, 'JSON.stringify(window.cbpLast)')) as TryResult;
    assert.deepEqual(d.dims, [1, 1, 28, 28]);
    const expected = Array.from(pixels, (p) => (p / 255 - 0.1307) / 0.3081);
    assert.ok(maxAbsDiff(d.input, expected) < 1e-5, `input differs from the data set's by ${maxAbsDiff(d.input, expected)}`);
    const nodeDropped = await ortLogits(model, d.input, d.dims);
    assert.ok(maxAbsDiff(d.logits, nodeDropped) < 1e-4, `logits differ by ${maxAbsDiff(d.logits, nodeDropped)}`);
    assert.equal(d.top[0].index, argmax(nodeDropped));

    // A digit drawn with the mouse: a 7.
    const box = JSON.parse(await text(page, `(document.querySelector('#pad').scrollIntoView({block: 'center'}), JSON.stringify((({left, top, width}) => ({x: left, y: top, w: width}))(document.querySelector('#pad').getBoundingClientRect())))`)) as {x: number; y: number; w: number};
    const at = (u: number, v: number): [number, number] => [box.x + u * box.w, box.y + v * box.w];
    await page.mouse.move(...at(0.25, 0.2));
    await page.mouse.down();
    await page.mouse.move(...at(0.75, 0.2), {steps: 12});
    await page.mouse.move(...at(0.45, 0.85), {steps: 16});
    await page.mouse.up();
    await page.waitForSelector('body[data-tries="2"]', {timeout: 60_000});
    const drawnDigit = JSON.parse(await text(page, 'JSON.stringify(window.cbpLast)')) as TryResult;
    assert.equal(drawnDigit.source, 'drawing');
    assert.ok(drawnDigit.input.filter((v) => v > 1).length > 30, 'the drawing reached the input');
    const nodeDrawn = await ortLogits(model, drawnDigit.input, drawnDigit.dims);
    assert.ok(maxAbsDiff(drawnDigit.logits, nodeDrawn) < 1e-4, `logits differ by ${maxAbsDiff(drawnDigit.logits, nodeDrawn)}`);
    assert.equal(drawnDigit.top[0].index, argmax(nodeDrawn));
    assert.equal(await text(page, `String(document.querySelectorAll('#top5 tr').length)`), '6');
    // Stray null/undefined/NaN from rendering, outside the metadata rows, whose values are the file's own JSON.
    const rendered = (await text(page, 'document.body.innerText')).split('\n').filter((l) => !l.startsWith('cbp.')).join('\n');
    assert.doesNotMatch(rendered, /\b(null|undefined|NaN)\b/);
    if (SHOTS) await page.screenshot({path: path.join(SHOTS, 'serve-try.png'), fullPage: true});

    // The int8-activation file of the same run: onnxruntime-web's wasm runs its integer graph in the page, to the
    // logits and the class onnxruntime-node gives for the same input.
    await page.goto(`${served.url}#/model/lenet5_bin_int8.onnx`);
    await page.waitForFunction("document.querySelector('h1')?.textContent?.includes('lenet5_bin_int8') === true");
    await page.waitForSelector('#pad');
    assert.match(await text(page, `document.querySelector('#card').textContent`), /cbp\.activations/);
    const before = await text(page, 'document.body.dataset.tries ?? ""');
    await dropPng(page, png);
    await page.waitForFunction(`document.body.dataset.tries !== ${JSON.stringify(before)}`, {timeout: 60_000});
    const q = JSON.parse(await text(page, 'JSON.stringify(window.cbpLast)')) as TryResult;
    const nodeInt8 = await ortLogits(int8Model, q.input, q.dims);
    assert.ok(maxAbsDiff(q.logits, nodeInt8) < 1e-4, `int8 logits differ between the page and onnxruntime-node by ${maxAbsDiff(q.logits, nodeInt8)}`);
    assert.equal(q.top[0].index, argmax(nodeInt8));
    assert.equal(q.top[0].index, argmax(nodeDropped), 'the int8 file gives the float file\'s class for the test image');
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    for (const c of children) await stop(c);
    fs.rmSync(tmp, {recursive: true, force: true});
  }
});
