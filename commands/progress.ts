/** A one-line progress bar on stderr for terminals; silent when stderr is not a TTY (logs stay clean). */
export class ProgressBar {
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  update(done: number, total: number, label: string, fields: string, elapsedSeconds: number): void {
    if (!this.stream.isTTY) return;
    const now = Date.now();
    if (done < total && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 24;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    const eta = done > 0 ? (elapsedSeconds / done) * (total - done) : NaN;
    const bar = '='.repeat(filled) + (filled < width ? '>' : '') + ' '.repeat(Math.max(width - filled - 1, 0));
    this.stream.write(`\r\x1b[K${label} [${bar}] ${done}/${total} ${fields} ETA ${formatSeconds(eta)}`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn && this.stream.isTTY) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
