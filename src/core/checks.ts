import {CbpError, describe} from './errors';

export function checkInt(flag: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
    throw new CbpError(`${flag} ${describe(value)}: expected ${range}`);
  }
  return value;
}

export function checkNumber(flag: string, value: number, min: number, inclusive: boolean, max = Infinity): number {
  const ok = Number.isFinite(value) && (inclusive ? value >= min : value > min) && value <= max;
  if (!ok) {
    const bound = `${inclusive ? '≥' : '>'} ${min}${Number.isFinite(max) ? ` and ≤ ${max}` : ''}`;
    throw new CbpError(`${flag} ${describe(value)}: expected a finite number ${bound}`);
  }
  return value;
}
