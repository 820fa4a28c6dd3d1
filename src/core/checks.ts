import {CbpError, describe} from './errors';
import {listed, shown} from './shown';

export function checkInt(flag: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
    throw new CbpError(`${flag} ${describe(value)}: expected ${range}`, 'BAD_FLAG');
  }
  return value;
}

export function checkNumber(flag: string, value: number, min: number, inclusive: boolean, max = Infinity): number {
  const ok = Number.isFinite(value) && (inclusive ? value >= min : value > min) && value <= max;
  if (!ok) {
    const bound = `${inclusive ? '≥' : '>'} ${min}${Number.isFinite(max) ? ` and ≤ ${max}` : ''}`;
    throw new CbpError(`${flag} ${describe(value)}: expected a finite number ${bound}`, 'BAD_FLAG');
  }
  return value;
}

/** One of a registry's names: the value typed as the union, or a CbpError naming the flag, the value and the choices. */
export function checkChoice<T extends string>(flag: string, value: string, choices: readonly T[], what: string): T {
  const found = choices.find((c) => c === value);
  if (found === undefined) throw new CbpError(`${flag} ${value}: unknown ${what}, expected one of ${choices.join(', ')}`, 'UNKNOWN_CHOICE');
  return found;
}

/** `map`'s value for `key`, where cbp itself put every key that is looked up: a missing one is a bug. */
export function required<K, V>(map: ReadonlyMap<K, V>, key: K, what: string): V {
  const value = map.get(key);
  if (value === undefined) throw new Error(`internal: no ${what} for '${String(key)}'`);
  return value;
}

/** A shell-style glob (`*`, `?`) as an anchored regular expression. */
export function globRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/**
 * A test of names against the globs a flag gave; a glob that matches none of `names` is refused, naming them.
 */
export function globMatcher(flag: string, patterns: readonly string[], names: readonly string[], what: string): (name: string) => boolean {
  const res = patterns.map((p) => ({p, re: globRegExp(p)}));
  for (const {p, re} of res) {
    if (!names.some((n) => re.test(n))) throw new CbpError(`${flag} ${shown(p)}: matches no ${what}; they are ${listed(names)}`, 'BAD_FLAG');
  }
  return (name) => res.some(({re}) => re.test(name));
}
