import {CbpError} from './errors';
import {checkChoice, checkInt, checkNumber} from './checks';

/*
 * A command's options as one schema: each entry is one option of the library (its key, camelCase) and one flag of
 * the CLI (the key in kebab-case: `batchSize` is `--batch-size`). From the schema come the library's option types
 * (GivenOptions, ResolvedOptions), the value checks of the command's resolve step (resolveOptions) and, through
 * the adapter in commands/, the oclif flags with their help and usage line. Checks between options (one that
 * applies only with another, values that do not go together) stay hand-written in the resolve step.
 */

interface EntryBase {
  /** The help text of the flag (and the doc of the option). */
  readonly help: string;
  /** Refused as MISSING_FLAG when not given. */
  readonly required?: boolean;
  /**
   * The default is filled in by the resolve step only, not by the flag parser, and the help shows it in its text:
   * for an option the resolve step must see as given or not (one that applies only with another).
   */
  readonly defaultInText?: boolean;
  /** The usage line's placeholder where it is not `<value>` (or the choices). */
  readonly helpValue?: string;
}

export interface IntEntry extends EntryBase {
  readonly kind: 'int';
  readonly default?: number;
  readonly min: number;
  readonly max?: number;
  /** A check of its own (its own message) instead of the range. */
  readonly check?: (value: number, flag: string) => number;
}

export interface NumberEntry extends EntryBase {
  readonly kind: 'number';
  readonly default?: number;
  readonly min: number;
  /** ≥ min where true, > min where false. */
  readonly inclusive: boolean;
  readonly max?: number;
}

export interface ChoiceEntry<T extends string = string> extends EntryBase {
  readonly kind: 'choice';
  readonly choices: readonly T[];
  readonly default?: T;
  /** The check that resolves it (a registry's, with its noun); `noun` builds one from the choices otherwise. */
  readonly check?: (value: string, flag: string) => T;
  /** What a value is, for the refusal: `--x y: unknown NOUN, expected one of …`. */
  readonly noun?: string;
  /** The help text lists the choices after it (`(a, b, c)`); true unless false. */
  readonly listChoices?: boolean;
}

export interface TextEntry extends EntryBase {
  /** `path`: a file or folder (checked where it is read, or by `check`); `string`: any text. */
  readonly kind: 'string' | 'path';
  readonly default?: string;
  readonly check?: (value: string, flag: string) => string;
}

export interface BooleanEntry extends EntryBase {
  readonly kind: 'boolean';
  readonly default?: boolean;
  /** The flag also takes the form --no-NAME. */
  readonly allowNo?: boolean;
}

/** A repeatable flag: every value given, in order. */
export interface ListEntry extends EntryBase {
  readonly kind: 'list';
}

export type OptionEntry = IntEntry | NumberEntry | ChoiceEntry | TextEntry | BooleanEntry | ListEntry;
export type OptionKind = OptionEntry['kind'];
export type OptionSchema = Readonly<Record<string, OptionEntry>>;

/** The value an entry's option takes. */
export type ValueOf<E> = E extends {readonly kind: 'int' | 'number'}
  ? number
  : E extends {readonly kind: 'choice'; readonly choices: readonly (infer T)[]}
    ? T
    : E extends {readonly kind: 'boolean'}
      ? boolean
      : E extends {readonly kind: 'list'}
        ? readonly string[]
        : string;

/** Whether a resolved option always has a value: it has a default, or it is required. */
type Always<E> = E extends {readonly default: unknown} ? true : E extends {readonly required: true} ? true : false;

/** The options a caller gives (every one optional here; `required` ones are refused when missing). */
export type GivenOptions<S extends OptionSchema> = {readonly [K in keyof S]?: ValueOf<S[K]>};

/** The options once resolved: checked, with the defaults filled in. */
export type ResolvedOptions<S extends OptionSchema> = {readonly [K in keyof S as Always<S[K]> extends true ? K : never]: ValueOf<S[K]>} & {
  readonly [K in keyof S as Always<S[K]> extends true ? never : K]?: ValueOf<S[K]>;
};

/** An option's key as its flag's name: `calibrationImages` → `calibration-images`. */
export type FlagName<K extends string> = K extends `${infer H}${infer T}` ? `${H extends Lowercase<H> ? H : `-${Lowercase<H>}`}${FlagName<T>}` : K;

/** The usage line's form of a flag with a fixed set of values: `--device <auto|cuda|webgpu|cpu>`. */
export const usageChoices = (values: readonly string[]): string => `<${values.join('|')}>`;

export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The help text of an entry as the flag shows it: its text, the default where the parser does not show it, the choices. */
export function entryHelp(entry: OptionEntry): string {
  const def = entry.defaultInText === true && entry.kind !== 'list' && entry.default !== undefined ? ` [default: ${String(entry.default)}]` : '';
  const list = entry.kind === 'choice' && entry.listChoices !== false ? ` (${entry.choices.join(', ')})` : '';
  return `${entry.help}${def}${list}`;
}

/** The check an entry's value passes, as the resolve step runs it (and the flag parser, for numbers and choices). */
export function checkEntry(flag: string, entry: OptionEntry, value: unknown): unknown {
  switch (entry.kind) {
    case 'int': {
      const v = typeOf(flag, value, 'number');
      return entry.check !== undefined ? entry.check(v, flag) : checkInt(flag, v, entry.min, entry.max);
    }
    case 'number':
      return checkNumber(flag, typeOf(flag, value, 'number'), entry.min, entry.inclusive, entry.max);
    case 'choice': {
      const v = typeOf(flag, value, 'string');
      if (entry.check !== undefined) return entry.check(v, flag);
      return checkChoice(flag, v, entry.choices, entry.noun ?? 'value');
    }
    case 'string':
    case 'path': {
      const v = typeOf(flag, value, 'string');
      return entry.check !== undefined ? entry.check(v, flag) : v;
    }
    case 'boolean':
      return typeOf(flag, value, 'boolean');
    case 'list':
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new CbpError(`${flag}: expected a list of strings`, 'BAD_FLAG');
      return value;
  }
}

function typeOf<T extends 'number' | 'string' | 'boolean'>(flag: string, value: unknown, type: T): {number: number; string: string; boolean: boolean}[T];
function typeOf(flag: string, value: unknown, type: 'number' | 'string' | 'boolean'): unknown {
  if (typeof value !== type) throw new CbpError(`${flag} ${String(value)}: expected a ${type}`, 'BAD_FLAG');
  return value;
}

/**
 * Every option of `schema` in `given` checked by its entry (range, choice, integer), in the schema's order, with
 * the defaults filled in; a required one not given is refused. Options the schema does not name are left out.
 */
export function resolveOptions<S extends OptionSchema>(schema: S, given: GivenOptions<S>): ResolvedOptions<S> {
  const out: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(schema)) {
    const flag = `--${flagName(key)}`;
    const value: unknown = given[key] ?? ('default' in entry ? entry.default : undefined);
    if (value === undefined) {
      if (entry.required === true) throw new CbpError(`${flag}: not given; required: ${entry.help}`, 'MISSING_FLAG');
      continue;
    }
    out[key] = checkEntry(flag, entry, value);
  }
  // Every key of the schema with a default or required has a value (filled above or refused), and each value
  // passed its entry's check, which returns the entry's value type.
  return out as ResolvedOptions<S>;
}

/** The defaults of a schema's options, by key (what a command's DEFAULTS constant lists). */
export type DefaultsOf<S extends OptionSchema> = {readonly [K in keyof S as S[K] extends {readonly default: unknown} ? K : never]: S[K] extends {readonly default: infer D} ? D : never};

export function defaultsOf<S extends OptionSchema>(schema: S): DefaultsOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(schema)) if ('default' in entry && entry.default !== undefined) out[key] = entry.default;
  // Exactly the keys whose entry has a default, each with its entry's default.
  return out as DefaultsOf<S>;
}
