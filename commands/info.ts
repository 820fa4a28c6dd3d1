import {Args} from '@oclif/core';
import {inspect, type ModelInfo} from '../src/app/info';
import {CbpCommand} from './base';

function kb(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

export default class Info extends CbpCommand {
  static override summary = 'Per-layer constraint, scale, level histogram and storage of an .onnx file or a checkpoint folder.';
  static override examples = ['<%= config.bin %> info lenet5_bin.onnx', '<%= config.bin %> info runs/lenet5-bin --json'];
  static override enableJsonFlag = true;
  static override args = {file: Args.string({description: '.onnx file or checkpoint folder', required: true})};

  async run(): Promise<ModelInfo> {
    const {args} = await this.parse(Info);
    const r = inspect(args.file);
    this.log(`${r.file} (${r.kind}): ${r.model}, constraint ${r.constraint}`);
    const rows = [['layer', 'constraint', 'scale', 'weights', 'bits/w', 'float32', 'stored', 'ratio', 'weights at each level']];
    for (const l of r.layers) {
      const hist = l.levels.map((v, i) => `${v >= 0 ? '+' : ''}${v}:${l.counts[i]}`).join(' ');
      rows.push([l.layer, l.constraint, l.scale === null ? '-' : l.scale.toPrecision(4), String(l.weights), String(l.bitsPerWeight), kb(l.float32Bytes), kb(l.storedBytes), `${(l.float32Bytes / l.storedBytes).toFixed(1)}x`, hist]);
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
    for (const row of rows) this.log(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  '));
    this.log(`parameters ${r.parameters}; float32 ${kb(r.float32Bytes)}; on disk ${kb(r.bytesOnDisk)}; compression ${r.compression.toFixed(1)}x`);
    if (r.kind === 'checkpoint') this.log('(a checkpoint holds latent float weights, λ and optimizer state; `cbp export` writes the compact form the "stored" column shows)');
    return r;
  }
}
