import {CbpError} from '../core/errors';

export type Obj = Record<string, unknown>;

/**
 * The run state as a schema: every field named, typed and bounded, and a fresh object built from those fields
 * only, so nothing else a file carries (a `__proto__` key, a nesting a million deep) travels on into the program.
 */
export class StateReader {
  constructor(readonly file: string) {}

  fail(key: string, value: unknown, expected: string): never {
    let shown: string;
    try {
      shown = JSON.stringify(value)?.slice(0, 80) ?? String(value);
    } catch {
      shown = typeof value;
    }
    throw new CbpError(`${this.file}: run state '${key}' is ${shown}, expected ${expected}`, 'BAD_CHECKPOINT');
  }

  obj(v: unknown, key: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(key, v, 'an object');
    // Checked on the line above to be a non-null, non-array object.
    return v as Obj;
  }

  int(v: unknown, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) this.fail(key, v, `an integer in [${min}, ${max}]`);
    return v;
  }

  num(v: unknown, key: string, min = -Infinity, minInclusive = true): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || (minInclusive ? v < min : v <= min)) this.fail(key, v, `a finite number ${minInclusive ? '≥' : '>'} ${min}`);
    return v;
  }

  str(v: unknown, key: string): string {
    if (typeof v !== 'string' || v.length === 0 || v.length > 4096) this.fail(key, v, 'a string of 1 to 4096 characters');
    return v;
  }

  bool(v: unknown, key: string): boolean {
    if (typeof v !== 'boolean') this.fail(key, v, 'true or false');
    return v;
  }
}

