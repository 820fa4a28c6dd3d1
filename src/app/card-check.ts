import {errorMessage} from '../core/errors';
import {isDatasetName} from '../data/index';
import type {DataFacts} from '../eval/evaluate';
import {CARD_KEYS, readCard, type CardView} from './card';

const fmt = (v: readonly number[]): string => v.map((x) => String(Number(x.toPrecision(4)))).join(', ');

/** Per-channel statistics equal to float32 precision: a card's JSON and a data set's table hold the same decimals. */
function sameStats(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) <= 1e-6 * Math.max(1, Math.abs(x)));
}

/**
 * Where the data `cbp eval` is about to run disagrees with the model card of `file` (docs/FORMAT.md, "Model card"),
 * as sentences for a warning: an MNIST model scored on Fashion-MNIST gets 10% and should say why. At most one:
 * - the training data (cbp.data) is a built-in set, or the data is, and they differ: the classes and the
 *   normalisation then differ too, and the data set is what to fix;
 * - else the class names (cbp.labels) disagree with the data's at some output, when both name classes in the same
 *   terms (a folder's WordNet ids are not comparable with names a user gave at export);
 * - else the data is normalised with another mean or std than the card's (cbp.preprocessing).
 * The input shape and the number of outputs need no warning: evaluation refuses a model whose shape does not fit.
 * A file without a card, or without a field, is not compared on it.
 */
export function cardWarnings(file: string, metadata: Readonly<Record<string, string>>, data: DataFacts): string[] {
  let card: CardView;
  try {
    card = readCard(metadata, file, 0);
  } catch (err) {
    return [`${file}: its model card cannot be read (${errorMessage(err)}); the data is not checked against it`];
  }
  const trained = card.source?.data ?? metadata['cbp.data'] ?? null;
  if (trained !== null && trained !== data.name && (isDatasetName(trained) || isDatasetName(data.name))) {
    return [`${file} was trained on ${trained} (cbp.data); evaluating on ${data.name}`];
  }
  const labels = card.labels;
  if (labels !== null && data.labels.some((l) => labels.includes(l))) {
    const at = data.labels.findIndex((l, i) => labels[i] !== l);
    if (at >= 0) {
      return [`${file}: output ${at} is '${labels[at] ?? '(none)'}' (${CARD_KEYS.labels}), but class ${at} of ${data.name} is '${data.labels[at]}'; the data's classes are not the model's, in its order`];
    }
  }
  const p = card.preprocessing;
  if (p !== null && p.known && p.mean !== null && p.std !== null && (!sameStats(p.mean, data.mean) || !sameStats(p.std, data.std))) {
    return [`${file} was trained on inputs normalised with mean ${fmt(p.mean)}, std ${fmt(p.std)} (${CARD_KEYS.preprocessing}); ${data.name} is normalised with mean ${fmt(data.mean)}, std ${fmt(data.std)}`];
  }
  return [];
}
