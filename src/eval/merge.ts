import {parseShard} from '../data/imagefolder';
import {CbpError, errorMessage} from '../core/errors';
import {readText} from '../core/read';
import type {EvalResult} from './evaluate';

function field(o: Record<string, unknown>, key: string, file: string): unknown {
  if (!(key in o)) throw new CbpError(`--merge ${file}: has no '${key}' (write shard results with cbp eval --shard K/N --json)`, 'BAD_RESULT');
  return o[key];
}

function count(o: Record<string, unknown>, key: string, file: string, min: number): number {
  const v = field(o, key, file);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new CbpError(`--merge ${file}: '${key}' is ${JSON.stringify(v)}, expected an integer ≥ ${min}`, 'BAD_RESULT');
  }
  return v;
}

function text(o: Record<string, unknown>, key: string, file: string): string {
  const v = field(o, key, file);
  if (typeof v !== 'string' || v.length === 0) throw new CbpError(`--merge ${file}: '${key}' is ${JSON.stringify(v)}, expected a non-empty string`, 'BAD_RESULT');
  return v;
}

/** One shard result, checked field by field: counts are integers, hits never exceed the images. */
function readShard(file: string): EvalResult {
  let raw: unknown;
  try {
    raw = JSON.parse(readText(file, 1024 * 1024));
  } catch (err) {
    if (err instanceof CbpError) throw err;
    throw new CbpError(`--merge ${file}: not a readable JSON result (${errorMessage(err)})`, 'BAD_RESULT');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CbpError(`--merge ${file}: expected a JSON object written by cbp eval --json`, 'BAD_RESULT');
  // Checked just above to be a non-null, non-array object: its fields are read as unknown and checked one by one.
  const o = raw as Record<string, unknown>;
  const images = count(o, 'images', file, 1);
  const top1Hits = count(o, 'top1Hits', file, 0);
  const top5Hits = count(o, 'top5Hits', file, 0);
  const skipped = 'skipped' in o ? count(o, 'skipped', file, 0) : 0;
  if (top5Hits > images || top1Hits > top5Hits) {
    throw new CbpError(`--merge ${file}: top1Hits ${top1Hits}, top5Hits ${top5Hits} of ${images} images; expected top1Hits ≤ top5Hits ≤ images`, 'BAD_RESULT');
  }
  const ips = field(o, 'imagesPerSecond', file);
  if (typeof ips !== 'number' || !Number.isFinite(ips) || ips <= 0) throw new CbpError(`--merge ${file}: 'imagesPerSecond' is ${JSON.stringify(ips)}, expected a finite number > 0`, 'BAD_RESULT');
  const device = o.device === 'cuda' ? 'cuda' : 'cpu';
  let shard: string | undefined;
  if ('shard' in o) {
    shard = text(o, 'shard', file);
    try {
      parseShard(shard);
    } catch {
      throw new CbpError(`--merge ${file}: 'shard' is ${JSON.stringify(shard)}, expected K/N`, 'BAD_RESULT');
    }
  }
  return {
    model: text(o, 'model', file),
    data: text(o, 'data', file),
    top1: top1Hits / images,
    top5: top5Hits / images,
    images,
    top1Hits,
    top5Hits,
    skipped,
    imagesPerSecond: ips,
    device,
    ...(shard !== undefined ? {shard} : {}),
  };
}

/**
 * Combines the counts of shard results (`cbp eval --shard K/N --json > part.json`) into one result. Each result
 * records its shard (K/N; none means the whole set, 1/1): every shard may be given once, all of the same N, for the
 * same model and data, so no image is counted twice.
 */
export function mergeResults(files: readonly string[]): EvalResult {
  if (files.length === 0) throw new CbpError('--merge: expected at least one result file', 'MISSING_FLAG');
  const parts = files.map(readShard);
  const first = parts[0];
  const seen = new Map<number, string>();
  const n = parseShard(first.shard ?? '1/1').count;
  for (const [i, p] of parts.entries()) {
    if (p.model !== first.model || p.data !== first.data) {
      throw new CbpError(`--merge ${files[i]}: result for ${p.model} on ${p.data}, but ${files[0]} is for ${first.model} on ${first.data}`, 'BAD_RESULT');
    }
    const s = parseShard(p.shard ?? '1/1');
    if (s.count !== n) throw new CbpError(`--merge ${files[i]}: shard ${s.index}/${s.count}, but ${files[0]} is a shard of ${n}`, 'BAD_RESULT');
    const twin = seen.get(s.index);
    if (twin !== undefined) throw new CbpError(`--merge ${files[i]}: shard ${s.index}/${s.count} was already given (${twin}); each shard counts once`, 'BAD_RESULT');
    seen.set(s.index, files[i]);
  }
  const sum = (k: 'images' | 'top1Hits' | 'top5Hits' | 'skipped'): number => parts.reduce((acc, p) => acc + p[k], 0);
  const images = sum('images');
  const seconds = parts.reduce((acc, p) => acc + p.images / p.imagesPerSecond, 0);
  return {
    model: first.model,
    data: first.data,
    top1: sum('top1Hits') / images,
    top5: sum('top5Hits') / images,
    images,
    top1Hits: sum('top1Hits'),
    top5Hits: sum('top5Hits'),
    skipped: sum('skipped'),
    imagesPerSecond: images / seconds,
    device: first.device,
    ...(seen.size < n ? {shard: `${[...seen.keys()].sort((a, b) => a - b).join(',')}/${n}`} : {}),
  };
}
