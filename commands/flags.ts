import {Flags, type Interfaces} from '@oclif/core';
import {
  CbpError,
  checkEntry,
  entryHelp,
  flagName,
  usageChoices,
  type FlagName,
  type GivenOptions,
  type OptionEntry,
  type OptionSchema,
  type ValueOf,
} from '../src/index';

/*
 * Every command's flags come from the library's option schemas (TRAIN_OPTIONS, EVALUATE_OPTIONS, EXPORT_OPTIONS,
 * SERVE_OPTIONS, IMPORT_OPTIONS, PLOT_OPTIONS; `cbp info` takes none) by flagsOf below. `cbp eval --merge`, which
 * only the CLI has, is the one flag written by hand.
 */

/** The usage line's form of a flag with a fixed set of values: `--device <auto|cuda|webgpu|cpu>`. */
const choices = usageChoices;

/*
 * The adapter from a command's option schema (the library's: EXPORT_OPTIONS, EVALUATE_OPTIONS, …) to oclif: one
 * flag per entry, named by its key in kebab-case, with the entry's help, default and, in the usage line, its
 * choices. Numbers and choices are checked as they are parsed, by the entry's own check (a bad value is refused
 * with the library's message); the library does not rely on it: its resolve step checks every option again.
 */

/** Whether oclif fills in the flag's value when it is not given (a default it shows), or it is required. */
type Filled<E> = E extends {readonly defaultInText: true} ? false : E extends {readonly default: unknown} ? true : E extends {readonly required: true} ? true : false;

type FlagOf<E> = E extends {readonly kind: 'boolean'}
  ? Interfaces.BooleanFlag<boolean>
  : E extends {readonly kind: 'list'}
    ? Interfaces.OptionFlag<string[] | undefined>
    : Interfaces.OptionFlag<Filled<E> extends true ? ValueOf<E> : ValueOf<E> | undefined>;

/** The oclif flags of a schema, typed by it. */
export type SchemaFlags<S extends OptionSchema> = {[K in keyof S & string as FlagName<K>]: FlagOf<S[K]>};

/** The values oclif parsed for a schema's flags. */
export type ParsedFlags<S extends OptionSchema> = {readonly [K in keyof S & string as FlagName<K>]?: ValueOf<S[K]> | string[]};

export function flagsOf<S extends OptionSchema>(schema: S): SchemaFlags<S> {
  const out: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(schema)) out[flagName(key)] = flagOf(`--${flagName(key)}`, entry);
  // One flag per key, named FlagName<key>, built by flagOf from the entry whose kind FlagOf reads.
  return out as SchemaFlags<S>;
}

/** The parsed flags as the library's options, by key. */
export function optionsOf<S extends OptionSchema>(schema: S, flags: ParsedFlags<S>): GivenOptions<S> {
  const parsed: Readonly<Record<string, unknown>> = flags;
  // Each key's value is its flag's, which oclif parsed as the entry's kind says (checked again when resolved).
  return Object.fromEntries(Object.keys(schema).map((key) => [key, parsed[flagName(key)]])) as GivenOptions<S>;
}

/** oclif's flag for one entry (typed by FlagOf where flagsOf returns it). */
function flagOf(flag: string, entry: OptionEntry): unknown {
  const common = {description: entryHelp(entry), ...(entry.helpValue !== undefined ? {helpValue: entry.helpValue} : {})};
  const required = entry.required === true ? {required: true} : {};
  const def = entry.kind !== 'list' && entry.defaultInText !== true ? entry.default : undefined;
  switch (entry.kind) {
    case 'int':
      return Flags.integer({...common, ...required, ...(typeof def === 'number' ? {default: def} : {})});
    case 'number': {
      const parse = async (input: string): Promise<number> => Number(checkEntry(flag, entry, parseNumber(flag, input)));
      return typeof def === 'number' ? Flags.custom<number>({...common, parse, default: def})() : Flags.custom<number>({...common, parse})();
    }
    case 'choice': {
      const parse = async (input: string): Promise<string> => String(checkEntry(flag, entry, input));
      const helpValue = entry.helpValue ?? choices(entry.choices);
      return typeof def === 'string' ? Flags.custom<string>({...common, helpValue, parse, default: def})() : Flags.custom<string>({...common, helpValue, parse})();
    }
    case 'string':
    case 'path':
      return Flags.string({...common, ...required, ...(typeof def === 'string' ? {default: def} : {})});
    case 'boolean':
      return Flags.boolean({...common, allowNo: entry.allowNo === true, ...(typeof def === 'boolean' ? {default: def} : {})});
    case 'list':
      return Flags.string({...common, multiple: true});
  }
}

/** A number as the flag gives it, before its entry's range is checked. */
function parseNumber(flag: string, input: string): number {
  const v = Number(input);
  if (input.trim() === '' || Number.isNaN(v)) throw new CbpError(`${flag} '${input}': expected a number`, 'BAD_FLAG');
  return v;
}
