import * as fs from 'node:fs';

/**
 * Replaces what stands between the markers `<!-- NAME:start -->` and `<!-- NAME:end -->` in the Markdown file
 * `doc` with `block` (the benchmarks' `--write`): the measured table goes into the docs without touching the prose.
 */
export function writeDocBlock(doc: string, name: string, block: string): void {
  const text = fs.readFileSync(doc, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${doc}: no ${start} … ${end} markers`);
  fs.writeFileSync(doc, `${text.slice(0, a + start.length)}\n${block}${text.slice(b)}`);
  process.stderr.write(`wrote the table into ${doc}\n`);
}
