import {test} from 'node:test';
import * as assert from 'node:assert/strict';
import {CbpError} from '../../src/core/errors';
import {defaultsOf, entryHelp, flagName, resolveOptions, type OptionSchema, type ResolvedOptions} from '../../src/core/options';
import {EVALUATE_OPTIONS, EXPORT_OPTIONS, IMPORT_OPTIONS, PLOT_OPTIONS, SERVE_OPTIONS, TRAIN_OPTIONS, importModel, plot} from '../../src/index';
import Eval from '../../commands/eval';
import Export from '../../commands/export';
import Import from '../../commands/import';
import Info from '../../commands/info';
import Plot from '../../commands/plot';
import Serve from '../../commands/serve';
import Train from '../../commands/train';

const SCHEMA = {
  batchSize: {kind: 'int', min: 1, default: 64, help: 'images per run'},
  lr: {kind: 'number', min: 0, inclusive: false, help: 'learning rate'},
  mode: {kind: 'choice', choices: ['fast', 'exact'], default: 'exact', noun: 'mode', help: 'how'},
  file: {kind: 'path', required: true, help: 'the input file'},
  keep: {kind: 'list', help: 'names to keep'},
} as const satisfies OptionSchema;

const refused = (code: string, message: string) => (err: unknown): boolean => err instanceof CbpError && err.code === code && err.message === message;

test('resolveOptions fills in the defaults and types the result by the schema', () => {
  const r: ResolvedOptions<typeof SCHEMA> = resolveOptions(SCHEMA, {file: 'a.onnx'});
  assert.deepEqual(r, {batchSize: 64, mode: 'exact', file: 'a.onnx'});
  assert.deepEqual(resolveOptions(SCHEMA, {file: 'a', lr: 0.5, mode: 'fast', keep: ['x'], batchSize: 3}), {batchSize: 3, lr: 0.5, mode: 'fast', file: 'a', keep: ['x']});
  assert.deepEqual(defaultsOf(SCHEMA), {batchSize: 64, mode: 'exact'});
});

test('resolveOptions refuses a value outside its entry with the flag, the value and what was expected', () => {
  assert.throws(() => resolveOptions(SCHEMA, {file: 'a', batchSize: 0}), refused('BAD_FLAG', '--batch-size 0: expected an integer ≥ 1'));
  assert.throws(() => resolveOptions(SCHEMA, {file: 'a', batchSize: 2.5}), refused('BAD_FLAG', '--batch-size 2.5: expected an integer ≥ 1'));
  assert.throws(() => resolveOptions(SCHEMA, {file: 'a', lr: 0}), refused('BAD_FLAG', '--lr 0: expected a finite number > 0'));
  assert.throws(() => resolveOptions(SCHEMA, {file: 'a', lr: Infinity}), refused('BAD_FLAG', '--lr Infinity: expected a finite number > 0'));
  // @ts-expect-error: not one of the choices, as a JavaScript caller may pass it
  assert.throws(() => resolveOptions(SCHEMA, {file: 'a', mode: 'slow'}), refused('UNKNOWN_CHOICE', '--mode slow: unknown mode, expected one of fast, exact'));
  assert.throws(() => resolveOptions(SCHEMA, {}), refused('MISSING_FLAG', '--file: not given; required: the input file'));
  // @ts-expect-error: a number where a path belongs, as a JavaScript caller may pass it
  assert.throws(() => resolveOptions(SCHEMA, {file: 3}), refused('BAD_FLAG', '--file 3: expected a string'));
});

test('an option key is its flag in kebab-case, and the help lists choices and a default the parser does not show', () => {
  assert.equal(flagName('calibrationImages'), 'calibration-images');
  assert.equal(flagName('lr'), 'lr');
  assert.equal(entryHelp(SCHEMA.mode), 'how (fast, exact)');
  assert.equal(entryHelp({kind: 'int', min: 1, default: 5, defaultInText: true, help: 'n'}), 'n [default: 5]');
});

/** A command's flags against its schema: one flag per entry, named, described and defaulted by it. */
function assertFlagsOf(schema: OptionSchema, flags: Readonly<Record<string, {description?: string; default?: unknown; required?: boolean; multiple?: boolean}>>, own: readonly string[]): void {
  assert.deepEqual(Object.keys(flags).filter((f) => !own.includes(f)).sort(), Object.keys(schema).map(flagName).sort());
  for (const [key, entry] of Object.entries(schema)) {
    const flag = flags[flagName(key)];
    assert.equal(flag.description, entryHelp(entry), key);
    const shown = entry.kind !== 'list' && entry.defaultInText !== true ? entry.default : undefined;
    assert.equal(flag.default, shown, key);
    assert.equal(flag.required === true, entry.required === true, key);
    assert.equal(flag.multiple === true, entry.kind === 'list', key);
  }
}

test('cbp train, eval, export and serve take their flags from their schemas (eval adds --merge)', () => {
  assertFlagsOf(TRAIN_OPTIONS, Train.flags, []);
  assertFlagsOf(EXPORT_OPTIONS, Export.flags, []);
  assertFlagsOf(EVALUATE_OPTIONS, Eval.flags, ['merge']);
  assertFlagsOf(SERVE_OPTIONS, Serve.flags, []);
});

test('cbp import and plot take their flags from their schemas; cbp info has none', () => {
  assertFlagsOf(IMPORT_OPTIONS, Import.flags, []);
  assertFlagsOf(PLOT_OPTIONS, Plot.flags, []);
  assert.deepEqual(Object.keys(Info.flags ?? {}), []);
  // The flags kept their forms: --[no-]strict on by default, --keep-float repeatable, --data's usage line.
  assert.equal(Import.flags.strict.allowNo, true);
  assert.equal(Import.flags.strict.default, true);
  assert.equal(Import.flags['keep-float'].multiple, true);
  assert.equal(Import.flags.data.helpValue, '<imagenet|mnist|fashion-mnist|FOLDER>');
});

test('importModel and plot check each value by their schema before any file is read', async () => {
  // No file is read: the value is refused first (a missing file would be refused as NO_FILE otherwise).
  await assert.rejects(importModel({file: 'no-such.pth', model: 'lenet5', quant: 'bin', numClasses: 0}), refused('BAD_FLAG', '--num-classes 0: expected an integer ≥ 1'));
  await assert.rejects(importModel({file: 'no-such.pth', model: 'lenet5', quant: 'bin', inputSize: 8}), refused('BAD_FLAG', '--input-size 8: expected an integer in [32, 4096]'));
  // @ts-expect-error: not a model, as a JavaScript caller may pass it
  await assert.rejects(importModel({file: 'no-such.pth', model: 'lenet6', quant: 'bin'}), (err: unknown) => err instanceof CbpError && err.code === 'UNKNOWN_CHOICE' && err.message.startsWith('--model lenet6: unknown model'));
  // @ts-expect-error: a number where a folder belongs, as a JavaScript caller may pass it
  await assert.rejects(plot('no-such-run', {out: 3}), refused('BAD_FLAG', '--out 3: expected a string'));
});
