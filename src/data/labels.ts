import {CbpError} from '../core/errors';
import {readText} from '../core/read';

/** The most classes a labels file may name, and the longest name: the bounds the run state keeps too. */
export const MAX_LABELS = 100_000;
export const MAX_LABEL_LENGTH = 4096;

/**
 * Class names from a text file, one per line in output order (`--labels FILE`). Surrounding spaces and a final
 * newline are dropped; an empty line inside would shift every later class, so it is refused with its number.
 */
export function readLabels(file: string, flag = '--labels'): string[] {
  const text = readText(file, MAX_LABELS * (MAX_LABEL_LENGTH + 2));
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).map((l) => l.trim());
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new CbpError(`${flag} ${file}: no class names (expected one per line)`);
  if (lines.length > MAX_LABELS) throw new CbpError(`${flag} ${file}: ${lines.length} lines, expected at most ${MAX_LABELS} class names`, 'OVER_BUDGET');
  lines.forEach((l, i) => {
    if (l === '') throw new CbpError(`${flag} ${file}: line ${i + 1} is empty; expected one class name per line, in output order`);
    if (l.length > MAX_LABEL_LENGTH) throw new CbpError(`${flag} ${file}: line ${i + 1} has ${l.length} characters, expected at most ${MAX_LABEL_LENGTH}`);
  });
  return lines;
}

/** Labels must name every output of the model, no more, no fewer. */
export function checkLabels(labels: readonly string[], numClasses: number, what: string): readonly string[] {
  if (labels.length !== numClasses) throw new CbpError(`${what}: ${labels.length} class names for a model with ${numClasses} outputs; expected one name per output, in order`);
  return labels;
}
