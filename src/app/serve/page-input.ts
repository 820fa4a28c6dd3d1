import {FOLDER_TRANSFORM} from '../../data/source';

/**
 * How the page turns an image into the model's input, read from the model's metadata so that a model exported by
 * another version (or with the keys another branch adds) is fed as its trainer fed it. Every value is checked;
 * one that does not fit the input is left out with a warning rather than trusted.
 */
export interface Preprocessing {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Per channel, of pixel / 255. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** Shorter side the image is resized to before a centre crop of height × width; null: squeezed to height × width. */
  readonly resize: number | null;
  /** Metadata keys the values came from, or 'input shape' / 'default'. */
  readonly from: readonly string[];
  /** 28 × 28 grey: the page offers a canvas to draw a digit on, as MNIST's digits (white on black, centred by mass). */
  readonly drawable: boolean;
}

export interface Labels {
  readonly labels: readonly string[];
  readonly from: string;
}

export interface CardNotes {
  readonly warnings: string[];
}

const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function numbers(v: unknown): number[] | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return [v];
  if (!Array.isArray(v) || v.length === 0 || v.length > 64) return undefined;
  const out: number[] = [];
  for (const x of v) {
    if (typeof x !== 'number' || !Number.isFinite(x)) return undefined;
    out.push(x);
  }
  return out;
}

function field(obj: unknown, names: readonly string[]): unknown {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return undefined;
  for (const n of names) if (Object.prototype.hasOwnProperty.call(obj, n)) return Object.getOwnPropertyDescriptor(obj, n)?.value;
  return undefined;
}

/** The first of these metadata keys present, as a JSON value or plain text, with the key it came from. */
function lookup(meta: Readonly<Record<string, string>>, objects: readonly {key: string; value: unknown}[], keys: readonly string[], fields: readonly string[]): {value: unknown; from: string} | undefined {
  for (const o of objects) {
    for (const f of fields) {
      const v = field(o.value, [f]);
      if (v !== undefined) return {value: v, from: `${o.key}.${f}`};
    }
  }
  for (const k of keys) {
    if (!Object.prototype.hasOwnProperty.call(meta, k)) continue;
    const raw = meta[k];
    const parsed = parseJson(raw);
    return {value: parsed === undefined ? raw : parsed, from: k};
  }
  return undefined;
}

/**
 * The preprocessing of a model: from a JSON object under cbp.preprocessing (or cbp.preprocess), from single keys
 * (cbp.input_mean, cbp.input_std, cbp.input_resize / cbp.resize), else from the input shape: mean 0, std 1,
 * ImageNet's resize-then-crop for colour inputs of 64 pixels and more, a plain squeeze for small ones.
 */
export function preprocessingOf(meta: Readonly<Record<string, string>>, inputDims: readonly (number | string)[], notes: CardNotes): Preprocessing {
  const dims = inputDims.slice(-3).map((d) => (typeof d === 'number' && Number.isInteger(d) && d > 0 ? d : 0));
  let [channels, height, width] = dims.length === 3 ? dims : [0, 0, 0];
  if (!(channels === 1 || channels === 3) || height === 0 || width === 0 || height > 4096 || width > 4096) {
    notes.warnings.push(`input shape [${inputDims.join(', ')}] is not [batch, 1 or 3, height, width]; assuming 3 × 224 × 224`);
    [channels, height, width] = [3, 224, 224];
  }
  const objects = ['cbp.preprocessing', 'cbp.preprocess'].filter((k) => Object.prototype.hasOwnProperty.call(meta, k)).map((key) => ({key, value: parseJson(meta[key])}));
  const from: string[] = [];
  const perChannel = (name: string, keys: string[], fields: string[], fallback: number): number[] => {
    const found = lookup(meta, objects, keys, fields);
    const v = numbers(found?.value);
    if (found !== undefined && v !== undefined && (v.length === channels || v.length === 1) && (name !== 'std' || v.every((x) => x > 0))) {
      from.push(found.from);
      return v.length === channels ? v : new Array<number>(channels).fill(v[0]);
    }
    if (found !== undefined) notes.warnings.push(`${found.from}: ${JSON.stringify(found.value)?.slice(0, 80)} is not a ${name} for ${channels} channel(s); using ${fallback}`);
    return new Array<number>(channels).fill(fallback);
  };
  const mean = perChannel('mean', ['cbp.input_mean', 'cbp.mean'], ['mean', 'input_mean'], 0);
  const std = perChannel('std', ['cbp.input_std', 'cbp.std'], ['std', 'input_std'], 1);
  let resize: number | null = channels === 3 && Math.min(height, width) >= 64 ? Math.round((Math.min(height, width) * FOLDER_TRANSFORM.resize) / FOLDER_TRANSFORM.crop) : null;
  const r = lookup(meta, objects, ['cbp.input_resize', 'cbp.resize'], ['resize', 'resize_shorter', 'input_resize']);
  if (r !== undefined) {
    const v = numbers(r.value);
    if (r.value === null || r.value === false) {
      resize = null;
      from.push(r.from);
    } else if (v !== undefined && v.length === 1 && Number.isInteger(v[0]) && v[0] >= Math.min(height, width) && v[0] <= 8192) {
      resize = v[0];
      from.push(r.from);
    } else {
      notes.warnings.push(`${r.from}: ${JSON.stringify(r.value)?.slice(0, 80)} is not a shorter side of at least ${Math.min(height, width)} pixels; ignored`);
    }
  }
  if (from.length === 0) from.push('input shape');
  return {channels, height, width, mean, std, resize, from, drawable: channels === 1 && height === 28 && width === 28};
}

/** Class names: cbp.labels (a JSON array), else those of the built-in data set named by cbp.data, else indices. */
export function labelsOf(meta: Readonly<Record<string, string>>, classes: number, notes: CardNotes): Labels {
  const raw = parseJson(meta['cbp.labels']);
  if (Object.prototype.hasOwnProperty.call(meta, 'cbp.labels')) {
    if (Array.isArray(raw) && raw.every((l) => typeof l === 'string' || typeof l === 'number')) {
      const list = raw.map(String);
      if (list.length !== classes) notes.warnings.push(`cbp.labels has ${list.length} names for ${classes} outputs`);
      return {labels: Array.from({length: classes}, (_, i) => list[i] ?? String(i)), from: 'cbp.labels'};
    }
    notes.warnings.push('cbp.labels is not a JSON array of names; showing class indices');
  }
  if (meta['cbp.data'] === 'mnist' && classes === 10) return {labels: Array.from({length: 10}, (_, i) => String(i)), from: 'cbp.data (mnist digits)'};
  if (meta['cbp.data'] === 'fashion-mnist' && classes === 10) return {labels: FASHION, from: 'cbp.data (Fashion-MNIST classes)'};
  return {labels: Array.from({length: classes}, (_, i) => String(i)), from: 'class indices'};
}
