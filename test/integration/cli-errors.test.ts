import {after, test} from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {BACKEND_CHOICES, DEVICES, ENGINES, ERROR_CODES, MODEL_NAMES, QUANT_OR_NONE, TRAIN_METHODS, WEIGHT_FORMATS} from '../../src/index';
import {ROOT, tempDir} from '../helpers';
import {cbp, errorText} from '../cli';

const tmp = tempDir('cbp-cli-errors-');
after(() => fs.rmSync(tmp, {recursive: true, force: true}));
const notes = path.join(tmp, 'notes.txt');
fs.writeFileSync(notes, 'not a model\n');

interface JsonError {
  error: {code: string; message: string; exitCode: number};
}

/** The commands oclif finds (package.json's globs leave the helpers out). */
const COMMANDS = fs.readdirSync(path.join(ROOT, 'dist', 'commands'))
  .filter((f) => f.endsWith('.js') && !['base.js', 'failure.js', 'flags.js', 'progress.js', 'suggest.js'].includes(f))
  .map((f) => f.replace(/\.js$/, ''));

test('each class of flag failure has its own stable code, listed in ERROR_CODES', () => {
  const cases: [string[], string, RegExp][] = [
    [['train', '--lr', 'abc'], 'BAD_FLAG', /^--lr 'abc': expected a number See cbp train --help Code: BAD_FLAG$/],
    [['train', '--model', 'lenet6'], 'UNKNOWN_CHOICE', /--model lenet6: unknown model, expected one of lenet5/],
    [['eval', '--device', 'tpu'], 'UNKNOWN_CHOICE', /--device tpu: unknown device, expected one of auto, cuda, webgpu, cpu/],
    [['export'], 'MISSING_FLAG', /--checkpoint: not given; required: checkpoint folder/],
    [['info'], 'MISSING_FLAG', /FILE: not given; required: \.onnx file or checkpoint folder/],
    [['train', '--epoch', '3'], 'UNKNOWN_FLAG', /Unknown flag --epoch; did you mean --epochs\?/],
    [['import', path.join(ROOT, 'test', 'fixtures', 'torch', 'resnet50_legacy.pth'), '--keep-float', 'conv1'], 'FLAG_CONFLICT', /--keep-float: applies to ONNX files/],
  ];
  for (const [args, code, re] of cases) {
    assert.ok((ERROR_CODES as readonly string[]).includes(code), code);
    const r = cbp(args, 60_000);
    assert.equal(r.status, 2, `cbp ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`Code: ${code}\\s*$`), `cbp ${args.join(' ')}`);
    assert.match(errorText(r.stderr).replace(/^Error: /, ''), re, `cbp ${args.join(' ')}`);
  }
});

test('a failing command exits 2 with --json as without, and its JSON says so in a few hundred bytes', () => {
  for (const args of [['info', notes], ['export'], ['train', '--epoch', '3'], ['eval', '--onnx', notes]]) {
    const plain = cbp(args, 60_000);
    const json = cbp([...args, '--json'], 60_000);
    assert.equal(plain.status, 2, `cbp ${args.join(' ')}`);
    assert.equal(json.status, 2, `cbp ${args.join(' ')} --json`);
    assert.ok(json.stdout.length < 1024, `cbp ${args.join(' ')} --json printed ${json.stdout.length} bytes`);
    const parsed = JSON.parse(json.stdout) as JsonError;
    assert.deepEqual(Object.keys(parsed.error).sort(), ['code', 'exitCode', 'message']);
    assert.equal(parsed.error.exitCode, 2);
    assert.match(plain.stderr, new RegExp(`Code: ${parsed.error.code}`));
    // Nothing of oclif's configuration: no local paths, no config object.
    assert.doesNotMatch(json.stdout, new RegExp(`${ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|"config"|cacheDir`));
  }
  const missing = JSON.parse(cbp(['export', '--json']).stdout) as JsonError;
  assert.equal(missing.error.code, 'MISSING_FLAG');
  assert.match(missing.error.message, /^--checkpoint: not given/);
});

test('a misspelt flag prints one line with the nearest flag and where the help is, not the whole help', () => {
  const r = cbp(['train', '--epoch', '3'], 60_000);
  const text = errorText(r.stderr);
  assert.match(text, /Unknown flag --epoch; did you mean --epochs\? See cbp train --help/);
  assert.doesNotMatch(r.stderr, /USAGE|FLAGS/);
  assert.ok(r.stderr.trim().split('\n').length <= 4, r.stderr);
  assert.match(errorText(cbp(['eval', '--batchsize', '8']).stderr), /Unknown flag --batchsize; did you mean --batch-size\?/);
  assert.match(errorText(cbp(['train', '--no-plott']).stderr), /did you mean --no-plot\?/);
  assert.doesNotMatch(errorText(cbp(['info', notes, '--zzzzzz']).stderr), /did you mean/);
});

test('-h is --help on every command, and cbp help COMMAND prints the same help', () => {
  assert.ok(COMMANDS.includes('train') && COMMANDS.includes('help'), COMMANDS.join(', '));
  for (const c of COMMANDS) {
    const short = cbp([c, '-h'], 60_000);
    assert.equal(short.status, 0, `cbp ${c} -h: ${short.stderr}`);
    assert.equal(short.stdout, cbp([c, '--help'], 60_000).stdout, `cbp ${c} -h`);
    // oclif answers `cbp help --help` with the list of commands.
    if (c === 'help') continue;
    assert.match(short.stdout, new RegExp(`USAGE\\s+\\$ cbp ${c}`), `cbp ${c} -h`);
    const viaHelp = cbp(['help', c], 60_000);
    assert.equal(viaHelp.status, 0, `cbp help ${c}: ${viaHelp.stderr}`);
    assert.equal(viaHelp.stdout, short.stdout, `cbp help ${c}`);
  }
  assert.match(cbp(['help']).stdout, /COMMANDS[\s\S]*train/);
  const wrong = cbp(['help', 'trian']);
  assert.equal(wrong.status, 2);
  assert.match(errorText(wrong.stderr), /cbp help trian: no such command; did you mean train\?/);
});

test('the usage line lists the values of every flag with a fixed set, from the registries', () => {
  const usage = (cmd: string): string => {
    const help = cbp([cmd, '--help']).stdout;
    return help.slice(help.indexOf('USAGE'), help.indexOf('\n\n', help.indexOf('USAGE'))).replace(/\s+/g, ' ');
  };
  const want = (flag: string, values: readonly string[]): string => `[--${flag} <${values.join('|')}>]`;
  const train = usage('train');
  for (const [flag, values] of [['model', MODEL_NAMES], ['quant', QUANT_OR_NONE], ['engine', ENGINES], ['device', DEVICES], ['backend', BACKEND_CHOICES], ['method', TRAIN_METHODS]] as const) {
    assert.ok(train.includes(want(flag, values)), `train: ${want(flag, values)} in ${train}`);
  }
  assert.match(train, /\[--data <mnist\|fashion-mnist\|FOLDER>\]/);
  assert.ok(usage('eval').includes(want('device', DEVICES)));
  assert.ok(usage('export').includes(want('weights', WEIGHT_FORMATS)));
});
