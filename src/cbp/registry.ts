import {CbpError} from '../core/errors';

/** How a constraint's level codes are stored in an ONNX file (see onnx/codes.ts and docs/FORMAT.md). */
export type Storage = 'bit1' | 'int2' | 'int4';

export interface ConstraintDef {
  /** The allowed weight values in units of the layer's scale, ascending, from −1 to 1. */
  readonly levels: readonly number[];
  /** level = code × unit: the levels as small integers, restored in ONNX as float(code) × step, step = unit·scale. */
  readonly unit: number;
  /** The narrowest storage onnxruntime runs that holds every code. */
  readonly storage: Storage;
  /** Part of the reference implementation (dooseokjeong/CBP); its published checkpoints and fixtures exist. */
  readonly seed: boolean;
  /** One line for --help and `cbp info`. */
  readonly help: string;
}

/**
 * Every weight constraint cbp knows: one entry each. Levels, quantizer thresholds, c(w), ONNX codes and storage,
 * `cbp info`, flag choices and help all derive from this table; a new constraint is a new entry.
 */
export const CONSTRAINTS = {
  bin: {levels: [-1, 1], unit: 1, storage: 'bit1', seed: true, help: 'binary {−1, 1}·s'},
  ter: {levels: [-1, 0, 1], unit: 1, storage: 'int2', seed: true, help: 'ternary {−1, 0, 1}·s'},
  '1bit': {levels: [-1, -1 / 2, 0, 1 / 2, 1], unit: 1 / 2, storage: 'int4', seed: true, help: '1-bit shift {0, ±½, ±1}·s'},
  '2bit': {levels: [-1, -1 / 2, -1 / 4, 0, 1 / 4, 1 / 2, 1], unit: 1 / 4, storage: 'int4', seed: true, help: '2-bit shift {0, ±¼, ±½, ±1}·s'},
  uni2: {levels: [-1, -1 / 3, 1 / 3, 1], unit: 1 / 3, storage: 'int4', seed: false, help: 'uniform 2-bit {±⅓, ±1}·s'},
} as const satisfies Record<string, ConstraintDef>;

export type Quant = keyof typeof CONSTRAINTS;
export type QuantOrNone = Quant | 'none';

export const QUANTS = Object.keys(CONSTRAINTS).filter(isQuant);
export const QUANT_OR_NONE: readonly QuantOrNone[] = ['none', ...QUANTS];
/** The constraints of the reference implementation, for which PyTorch fixtures and published models exist. */
export const SEED_QUANTS: readonly Quant[] = QUANTS.filter((q) => CONSTRAINTS[q].seed);

/** A value per constraint, computed from its entry. */
export function perConstraint<T>(f: (c: ConstraintDef, quant: Quant) => T): Record<Quant, T> {
  const out: Partial<Record<Quant, T>> = {};
  for (const q of QUANTS) out[q] = f(CONSTRAINTS[q], q);
  // Filled for every key of QUANTS just above, so the record is complete.
  return out as Record<Quant, T>;
}

/** The level codes (level / unit, integers) of a constraint, ascending. */
export function levelCodes(quant: Quant): number[] {
  const c = CONSTRAINTS[quant];
  return c.levels.map((l) => Math.round(l / c.unit));
}

export function isQuant(value: string): value is Quant {
  return Object.prototype.hasOwnProperty.call(CONSTRAINTS, value);
}

export function isQuantOrNone(value: string): value is QuantOrNone {
  return value === 'none' || isQuant(value);
}

export function checkQuant(value: string, flag = '--quant'): QuantOrNone {
  if (!isQuantOrNone(value)) throw new CbpError(`${flag} ${value}: unknown constraint, expected one of ${QUANT_OR_NONE.join(', ')}`, 'UNKNOWN_CHOICE');
  return value;
}

/** One line per constraint, for help texts. */
export function constraintHelp(): string {
  return QUANTS.map((q) => `${q}: ${CONSTRAINTS[q].help}`).join('; ');
}

// Checked once at load: every level is a whole number of units and the levels span [−1, 1] ascending, which the
// quantizer formula (Σ gap·step − 1) and the ONNX codes rely on.
for (const q of QUANTS) {
  const {levels, unit} = CONSTRAINTS[q];
  const ok = levels[0] === -1 && levels[levels.length - 1] === 1 && levels.every((l, i) => i === 0 || l > levels[i - 1]) && levels.every((l) => Math.abs(l / unit - Math.round(l / unit)) < 1e-9);
  if (!ok) throw new Error(`internal: constraint ${q} has levels ${levels.join(', ')} that are not whole units of ${unit} ascending from −1 to 1`);
}
