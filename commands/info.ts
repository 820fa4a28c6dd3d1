import {Args} from '@oclif/core';
import {info as inspect, type CardView, type ModelInfo} from '../src/index';
import {CbpCommand} from './base';

function kb(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

const num = (v: number): string => String(Number(v.toPrecision(6)));

/** The model card in a few lines: what a deployer reads before feeding the model an image. */
function cardLines(card: CardView): string[] {
  const lines: string[] = [];
  const l = card.labels;
  lines.push(`labels        ${l === null ? 'not recorded' : `${l.length}: ${l.slice(0, 5).join(', ')}${l.length > 5 ? ', …' : ''}`}`);
  const p = card.preprocessing;
  if (p === null) {
    lines.push('preprocessing not recorded (a file from before model cards)');
  } else {
    const shape = `float32 [batch, ${p.shape.join(', ')}] ${p.layout}`;
    lines.push(
      p.known
        ? `preprocessing ${shape}, ${p.colour ?? '?'}, ${p.resize !== null ? `shorter side → ${p.resize}` : `images of ${p.shape[1]}×${p.shape[2]}`}${p.crop !== null ? `, centre crop ${p.crop}` : ''}, ` +
            `x = (pixel·${p.scale !== null ? `1/${Math.round(1 / p.scale)}` : '?'} − mean)/std, mean ${(p.mean ?? []).map(num).join(' ')}, std ${(p.std ?? []).map(num).join(' ')}`
        : `preprocessing ${shape}; the rest not recorded (cbp was not told the training data)`,
    );
  }
  lines.push(`runtime       ONNX Runtime ≥ ${card.minOnnxRuntime ?? '?'}${card.weights !== null ? ` (--weights ${card.weights})` : ''}`);
  const s = card.source;
  lines.push(
    s === null
      ? 'source        not recorded'
      : s.kind === 'trained'
        ? `source        trained${s.cbpVersion !== null ? ` by cbp ${s.cbpVersion}` : ''}: ${s.command}`
        : `source        imported from ${s.file}${s.sha256 !== null ? ` (sha256 ${s.sha256.slice(0, 16)}…)` : ''}; training data ${s.data ?? 'not recorded'}`,
  );
  const a = card.activations;
  if (a !== null) {
    const c = a.check;
    const pct = (v: number | null): string => (v === null ? '?' : `${(v * 100).toFixed(2)}%`);
    lines.push(`activations   int8 (uint8), calibrated by ${a.method ?? '?'} on ${a.images ?? '?'} images of ${a.data ?? '?'}` +
      (c === null ? '' : c.int8Top1 !== null ? `; test top-1 ${pct(c.int8Top1)} (float activations ${pct(c.floatTop1)}) on ${c.images ?? '?'} images` : `; top-1 agrees with float activations on ${pct(c.agreement)} of ${c.images ?? '?'} images`));
  }
  return lines;
}

export default class Info extends CbpCommand {
  static override summary = 'Per-layer constraint, scale, level histogram and storage of an .onnx file or a checkpoint folder, and its model card.';
  static override description =
    'The model card: class names, preprocessing, the oldest ONNX Runtime that loads the file and where the weights came ' +
    'from (for a checkpoint folder, the card `cbp export` would write). --json gives every field (docs/FORMAT.md).';
  static override examples = ['<%= config.bin %> info lenet5_bin.onnx', '<%= config.bin %> info runs/lenet5-bin --json'];
  static override enableJsonFlag = true;
  static override args = {file: Args.string({description: '.onnx file or checkpoint folder', required: true})};

  async run(): Promise<ModelInfo> {
    const {args} = await this.parse(Info);
    const r = inspect(args.file);
    this.log(`${r.file} (${r.kind}): ${r.model}, constraint ${r.constraint}`);
    for (const line of cardLines(r.card)) this.log(line);
    const int8 = r.layers.some((l) => l.activations !== undefined);
    const rows = [['layer', 'constraint', 'scale', 'weights', 'bits/w', 'stored as', ...(int8 ? ['runs on'] : []), 'float32', 'stored', 'ratio', 'weights at each level']];
    for (const l of r.layers) {
      const hist = l.levels.map((v, i) => `${v >= 0 ? '+' : ''}${v}:${l.counts[i]}`).join(' ');
      const runs = int8 ? [l.activations === 'int8' ? 'int8' : 'float'] : [];
      rows.push([l.layer, l.constraint, l.scale === null ? '-' : l.scale.toPrecision(4), String(l.weights), String(l.bitsPerWeight), l.storage === 'matmulnbits' ? 'MatMulNBits' : l.storage, ...runs, kb(l.float32Bytes), kb(l.storedBytes), `${(l.float32Bytes / l.storedBytes).toFixed(1)}x`, hist]);
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
    for (const row of rows) this.log(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  '));
    this.log(`parameters ${r.parameters}; float32 ${kb(r.float32Bytes)}; on disk ${kb(r.bytesOnDisk)}; compression ${r.compression.toFixed(1)}x`);
    if (r.kind === 'checkpoint') this.log('(a checkpoint holds latent float weights, λ and optimizer state; `cbp export` writes the compact form the "stored" column shows)');
    return r;
  }
}
