// The page of `cbp serve`: a list of runs and models, a run with live curves, a model card with "try it".
// Plain DOM, no framework: text goes in as text (textContent); only the SVG charts that cbp serve draws itself
// (src/app/plot.ts) go in as markup, under a content security policy that allows no inline script.

const view = document.getElementById('view');
let catalog = null;
let shown = null; // what the view shows: {kind: 'list'} | {kind: 'run', path, detail} | {kind: 'model', path, card}
let renderId = 0;

/** An element with attributes (on* not allowed) and children (strings become text). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** The view's new content; null, undefined and false stand for "nothing here". */
function show(...children) {
  view.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

const fmt = (v, digits = 4) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : Math.abs(v) !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6) ? v.toExponential(2) : String(Number(v.toPrecision(digits))));
const pct = (v) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(2)}%`);
const kib = (b) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
const ago = (ms) => {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  return s < 90 ? `${Math.round(s)} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : s < 172800 ? `${Math.round(s / 3600)} h ago` : new Date(ms).toLocaleString();
};
const badge = (status) => h('span', {class: `badge ${status ?? 'unreadable'}`, dataset: {status: status ?? 'unreadable'}}, status ?? 'unreadable');
const link = (kind, path, text) => h('a', {href: `#/${kind}/${encodeURIComponent(path)}`}, text ?? path);

async function getJson(url) {
  const res = await fetch(url);
  const body = await res.json().catch(() => ({error: `${res.status} ${res.statusText}`}));
  if (!res.ok) throw new Error(body.error ?? `${res.status}`);
  return body;
}

function route() {
  const m = /^#\/(run|model)\/(.+)$/.exec(location.hash);
  return m ? {kind: m[1], path: decodeURIComponent(m[2])} : {kind: 'list'};
}

// ---------------------------------------------------------------- the list

function renderList() {
  if (catalog === null) return;
  const runs = catalog.runs.length === 0
    ? h('p', {class: 'muted'}, 'No run yet: a run appears here once `cbp train --out` below this folder has written its first epoch.')
    : h('table', {id: 'runs'},
      h('tr', {}, ['run', 'status', 'model', 'constraint', 'data', 'epoch', 'top-1', 'CFS', 'last write'].map((t) => h('th', {}, t))),
      catalog.runs.map((r) => h('tr', {dataset: {path: r.path}},
        h('td', {}, link('run', r.path)),
        h('td', {}, badge(r.status), r.error ? h('div', {class: 'error'}, r.error) : null),
        h('td', {}, r.config?.model ?? ''), h('td', {}, r.config ? `${r.config.quant}${r.config.method === 'ste' ? ' (STE)' : ''}` : ''), h('td', {}, r.config?.data ?? ''),
        h('td', {class: 'num'}, `${r.epoch}/${r.epochs}`), h('td', {class: 'num'}, pct(r.top1)), h('td', {class: 'num'}, fmt(r.cfs, 3)),
        h('td', {class: 'muted'}, ago(r.lastWrite)))));
  const models = catalog.models.length === 0
    ? h('p', {class: 'muted'}, 'No .onnx model yet: `cbp export --out` into this folder adds one.')
    : h('table', {id: 'models'},
      h('tr', {}, ['model', 'size', 'written', ''].map((t) => h('th', {}, t))),
      catalog.models.map((m) => h('tr', {dataset: {path: m.path}},
        h('td', {}, link('model', m.path)), h('td', {class: 'num'}, kib(m.bytes)), h('td', {class: 'muted'}, ago(m.lastWrite)),
        h('td', {}, link('model', m.path, 'try it')))));
  show(
    h('h1', {}, 'Runs'), runs,
    h('h2', {}, 'Models'), models,
    catalog.truncated ? h('p', {class: 'warn'}, 'The folder is large: the listing stopped early (8 levels deep, 50,000 entries).') : null,
  );
}

// ---------------------------------------------------------------- a run

const CONFIG_NAMES = {model: 'model', quant: 'constraint', method: 'method', data: 'data', numClasses: 'classes', epochs: 'epochs', limit: 'training images', batchSize: 'batch size', lr: 'learning rate', lrLambda: 'λ learning rate', weightDecay: 'weight decay', period: 'λ period', seed: 'seed', init: 'initial weights', inputShape: 'input shape', base: 'width'};

function layersTable(info) {
  const quantized = info.layers.some((l) => l.levels.length > 0);
  return h('div', {},
    h('table', {class: 'layers'},
      h('tr', {}, ['layer', 'constraint', 'scale', 'weights', 'bits/w', 'float32', 'stored', 'ratio', quantized ? 'weights at each level' : null].filter(Boolean).map((t) => h('th', {}, t))),
      info.layers.map((l) => h('tr', {},
        h('td', {}, l.layer), h('td', {}, l.constraint), h('td', {class: 'num'}, l.scale === null ? '–' : l.scale.toPrecision(4)),
        h('td', {class: 'num'}, l.weights), h('td', {class: 'num'}, l.bitsPerWeight), h('td', {class: 'num'}, kib(l.float32Bytes)),
        h('td', {class: 'num'}, kib(l.storedBytes)), h('td', {class: 'num'}, `${(l.float32Bytes / l.storedBytes).toFixed(1)}×`),
        quantized ? h('td', {}, l.levels.map((v, i) => `${v >= 0 ? '+' : ''}${v}: ${l.counts[i]}`).join('   ')) : null))),
    h('p', {}, `${info.parameters} parameters; float32 ${kib(info.float32Bytes)}; on disk ${kib(info.bytesOnDisk)}; compression `, h('b', {}, `${info.compression.toFixed(1)}×`),
      info.kind === 'checkpoint' ? h('span', {class: 'muted'}, ' (a checkpoint also holds λ and optimizer state; `cbp export` writes the compact form of the "stored" column)') : null));
}

function progressTable(d) {
  const constrained = d.config.quant !== 'none';
  const cols = [['epoch', (r) => r.epoch], ['top-1', (r) => pct(r.top1)], ['top-5', (r) => pct(r.top5)], ['loss', (r) => fmt(r.loss)], [constrained ? 'Lagrangian Σ' : 'loss Σ', (r) => fmt(r.lagrangian)]];
  if (constrained) cols.push(['CFS', (r) => fmt(r.cfs, 3)], ['mean λ', (r) => fmt(r.lambdaMean, 3)], ['ucs', (r) => fmt(r.ucs, 3)], ['λ updated', (r) => (r.lambdaUpdated ? 'yes' : '')]);
  cols.push(['lr', (r) => fmt(r.lr, 3)], ['seconds', (r) => r.seconds.toFixed(1)]);
  const rows = d.progress.slice(-50).reverse();
  return h('table', {id: 'progress'}, h('tr', {}, cols.map(([t]) => h('th', {class: 'num'}, t))), rows.map((r) => h('tr', {}, cols.map(([, f]) => h('td', {class: 'num'}, f(r))))));
}

function svgBlock(id, svg, epochs) {
  const el = h('div', {id, class: 'chart', dataset: {epochs: String(epochs)}});
  // Markup drawn by cbp serve (plot.ts, every text escaped there), not text from the runs themselves.
  el.innerHTML = svg;
  return el;
}

function renderRun(d) {
  const c = d.config;
  const last = d.progress[d.progress.length - 1];
  show(
    h('h1', {}, d.path, ' ', badge(d.status)),
    h('p', {id: 'run-summary', dataset: {epoch: String(d.epoch)}},
      `${c.model} · ${c.quant}${c.method === 'ste' ? ' (STE)' : ''} · ${c.data} — epoch ${d.epoch} of ${c.epochs}`,
      last ? ` · top-1 ${pct(last.top1)}${c.quant !== 'none' ? ` · CFS ${fmt(last.cfs, 3)}` : ''}` : '', ` · last write ${ago(d.lastWrite)} · ${d.backend}`),
    h('pre', {id: 'command'}, d.command),
    h('h2', {}, 'Training curves'),
    d.progress.length > 0 ? svgBlock('curves', d.curves, d.progress.length) : h('p', {class: 'muted'}, 'No epoch completed yet.'),
    h('h2', {}, c.quant === 'none' ? 'Layers' : 'Levels and compression'),
    layersTable(d.info),
    c.quant !== 'none' ? h('h2', {}, 'Latent weights against the allowed levels') : null,
    c.quant !== 'none' ? (d.weights ? svgBlock('weights', d.weights, d.progress.length) : h('p', {class: 'muted'}, 'No constrained layer.')) : null,
    h('h2', {}, 'Epochs', d.progress.length > 50 ? ' (last 50)' : ''),
    progressTable(d),
    h('h2', {}, 'Configuration'),
    h('table', {class: 'kv'}, Object.entries(c).map(([k, v]) => h('tr', {}, h('th', {}, CONFIG_NAMES[k] ?? k), h('td', {}, v === null ? '–' : Array.isArray(v) ? v.join(' × ') : String(v))))),
  );
}

// ---------------------------------------------------------------- a model

function metadataValue(v) {
  try {
    const parsed = JSON.parse(v);
    if (typeof parsed === 'object' && parsed !== null) {
      const text = JSON.stringify(parsed);
      return text.length > 300 ? h('details', {}, h('summary', {}, `${text.slice(0, 120)}…`), h('pre', {}, JSON.stringify(parsed, null, 1))) : h('code', {}, text);
    }
  } catch { /* plain text */ }
  return v.length > 300 ? h('details', {}, h('summary', {}, `${v.slice(0, 120)}…`), h('pre', {}, v)) : v;
}

function renderModel(card) {
  const pp = card.preprocessing;
  const cbpKeys = card.metadata.filter((m) => m.key.startsWith('cbp.') && m.key !== 'cbp.layers');
  const others = card.metadata.filter((m) => !m.key.startsWith('cbp.'));
  const feed = pp.resize === null ? `squeezed to ${pp.width}×${pp.height}` : `shorter side resized to ${pp.resize}, centre crop ${pp.width}×${pp.height}`;
  show(
    h('h1', {}, card.path),
    h('p', {}, `${card.info.model} · constraint ${card.info.constraint} · ${kib(card.bytes)} · opset ${card.opset} · ${card.producer}`),
    card.warnings.length > 0 ? h('ul', {class: 'warn'}, card.warnings.map((w) => h('li', {}, w))) : null,
    h('div', {class: 'grid'},
      h('div', {},
        h('h2', {}, 'Try it'),
        tryPanel(card)),
      h('div', {},
        h('h2', {}, 'Model card'),
        h('table', {class: 'kv', id: 'card'},
          h('tr', {}, h('th', {}, 'input'), h('td', {}, `${card.input.name} [${card.input.dims.join(', ')}]`)),
          h('tr', {}, h('th', {}, 'output'), h('td', {}, `${card.output.name} [${card.output.dims.join(', ')}]`)),
          h('tr', {}, h('th', {}, 'preprocessing'), h('td', {}, `${pp.channels === 1 ? 'grey' : 'RGB'}, ${feed}; (pixel/255 − [${pp.mean.map((v) => fmt(v)).join(', ')}]) / [${pp.std.map((v) => fmt(v)).join(', ')}]`, h('div', {class: 'muted'}, `from ${pp.from.join(', ')}`))),
          h('tr', {}, h('th', {}, 'labels'), h('td', {}, `${card.labels.labels.slice(0, 12).join(', ')}${card.labels.labels.length > 12 ? ', …' : ''}`, h('div', {class: 'muted'}, `${card.labels.labels.length} classes, from ${card.labels.from}`))),
          cbpKeys.map((m) => h('tr', {dataset: {key: m.key}}, h('th', {}, m.key), h('td', {}, metadataValue(m.value)))),
          others.map((m) => h('tr', {dataset: {key: m.key}}, h('th', {}, m.key), h('td', {}, metadataValue(m.value))))))),
    h('h2', {}, 'Layers'),
    layersTable(card.info),
  );
}

// ---------------------------------------------------------------- try it: onnxruntime-web in the page

let ortPromise = null;
const sessions = new Map();

function loadOrt() {
  ortPromise ??= import('/ort/ort.wasm.min.mjs').then((ort) => {
    ort.env.wasm.wasmPaths = `${location.origin}/ort/`;
    // One thread: threads need a cross-origin-isolated page, and one image needs none.
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    return ort;
  });
  return ortPromise;
}

async function sessionFor(card) {
  const key = `${card.path}@${card.lastWrite}`;
  if (!sessions.has(key)) {
    sessions.set(key, (async () => {
      const ort = await loadOrt();
      const res = await fetch(`/api/file?path=${encodeURIComponent(card.path)}`);
      if (!res.ok) throw new Error(`cannot fetch ${card.path}: ${res.status}`);
      return ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()), {executionProviders: ['wasm']});
    })());
  }
  return sessions.get(key);
}

/** RGBA pixels to the model's input, NCHW: (pixel / 255 − mean) / std per channel, grey as luma. */
function toInput(rgba, pp, invert) {
  const n = pp.width * pp.height;
  const x = new Float32Array(pp.channels * n);
  for (let i = 0; i < n; i++) {
    let r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
    if (invert) [r, g, b] = [255 - r, 255 - g, 255 - b];
    if (pp.channels === 1) {
      const v = r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b;
      x[i] = (v / 255 - pp.mean[0]) / pp.std[0];
    } else {
      x[i] = (r / 255 - pp.mean[0]) / pp.std[0];
      x[n + i] = (g / 255 - pp.mean[1]) / pp.std[1];
      x[2 * n + i] = (b / 255 - pp.mean[2]) / pp.std[2];
    }
  }
  return x;
}

function canvas(w, h2) {
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h2;
  return c;
}

/** An image (ImageBitmap) fitted to the input as the model's preprocessing says: squeezed, or resized and centre-cropped. */
function imageInput(bitmap, pp, invert) {
  const c = canvas(pp.width, pp.height);
  const ctx = c.getContext('2d', {willReadFrequently: true});
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, pp.width, pp.height);
  if (pp.resize === null) ctx.drawImage(bitmap, 0, 0, pp.width, pp.height);
  else {
    const s = pp.resize / Math.min(bitmap.width, bitmap.height);
    const w = bitmap.width * s;
    const hh = bitmap.height * s;
    ctx.drawImage(bitmap, (pp.width - w) / 2, (pp.height - hh) / 2, w, hh);
  }
  return toInput(ctx.getImageData(0, 0, pp.width, pp.height).data, pp, invert);
}

/**
 * A drawn digit as MNIST's digits were made: the strokes' bounding box scaled to fit 20 × 20, then placed in the
 * 28 × 28 frame so that its centre of mass sits at the centre.
 */
function digitInput(pad, pp) {
  const src = pad.getContext('2d', {willReadFrequently: true}).getImageData(0, 0, pad.width, pad.height).data;
  let x0 = pad.width, y0 = pad.height, x1 = -1, y1 = -1;
  for (let y = 0; y < pad.height; y++) {
    for (let x = 0; x < pad.width; x++) {
      if (src[4 * (y * pad.width + x)] > 16) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1, s = 20 / Math.max(bw, bh);
  const place = (dx, dy) => {
    const c = canvas(28, 28);
    const ctx = c.getContext('2d', {willReadFrequently: true});
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, 28, 28);
    ctx.drawImage(pad, x0, y0, bw, bh, (28 - bw * s) / 2 + dx, (28 - bh * s) / 2 + dy, bw * s, bh * s);
    return ctx.getImageData(0, 0, 28, 28).data;
  };
  const first = place(0, 0);
  let m = 0, mx = 0, my = 0;
  for (let i = 0; i < 28 * 28; i++) {
    const v = first[4 * i];
    m += v;
    mx += v * ((i % 28) + 0.5);
    my += v * (Math.floor(i / 28) + 0.5);
  }
  const dx = m > 0 ? Math.round(14 - mx / m) : 0;
  const dy = m > 0 ? Math.round(14 - my / m) : 0;
  return toInput(place(dx, dy), pp, false);
}

function showPreview(input, pp) {
  const prev = document.getElementById('preview');
  if (!prev) return;
  prev.width = pp.width;
  prev.height = pp.height;
  const ctx = prev.getContext('2d');
  const img = ctx.createImageData(pp.width, pp.height);
  const n = pp.width * pp.height;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < 3; ch++) {
      const c = pp.channels === 1 ? 0 : ch;
      img.data[4 * i + ch] = Math.round((input[c * n + i] * pp.std[c] + pp.mean[c]) * 255);
    }
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

async function classify(card, input, source) {
  const pp = card.preprocessing;
  const status = document.getElementById('try-status');
  const results = document.getElementById('try-results');
  showPreview(input, pp);
  status.textContent = 'running in onnxruntime-web…';
  try {
    const ort = await loadOrt();
    const session = await sessionFor(card);
    const t0 = performance.now();
    const out = await session.run({[session.inputNames[0]]: new ort.Tensor('float32', input, [1, pp.channels, pp.height, pp.width])});
    const ms = performance.now() - t0;
    const logits = Array.from(out[session.outputNames[0]].data);
    const max = Math.max(...logits);
    const exp = logits.map((v) => Math.exp(v - max));
    const sum = exp.reduce((a, b) => a + b, 0);
    const top = logits.map((v, i) => ({index: i, label: card.labels.labels[i] ?? String(i), logit: v, p: exp[i] / sum})).sort((a, b) => b.logit - a.logit).slice(0, 5);
    results.replaceChildren(h('table', {id: 'top5'},
      h('tr', {}, ['', 'class', 'probability', 'logit'].map((t) => h('th', {}, t))),
      top.map((t, i) => h('tr', {class: i === 0 ? 'top1' : '', dataset: {index: String(t.index)}},
        h('td', {class: 'num'}, i + 1), h('td', {}, t.label),
        h('td', {}, h('span', {class: 'bar', style: `width:${Math.max(1, Math.round(t.p * 160))}px`}), ` ${(t.p * 100).toFixed(1)}%`),
        h('td', {class: 'num'}, t.logit.toFixed(3))))));
    status.textContent = `${source}: ${top[0].label} (${ms.toFixed(1)} ms in onnxruntime-web, wasm)`;
    // For tests and curious users: the exact input and logits of the last run.
    window.cbpLast = {model: card.path, source, dims: [1, pp.channels, pp.height, pp.width], input: Array.from(input), logits, top};
    document.body.dataset.tries = String(Number(document.body.dataset.tries ?? 0) + 1);
  } catch (err) {
    status.textContent = '';
    results.replaceChildren(h('p', {class: 'error'}, `onnxruntime-web: ${err.message ?? err}`));
  }
}

async function fileChosen(card, file) {
  const pp = card.preprocessing;
  const status = document.getElementById('try-status');
  try {
    // Pixels as stored: no colour-space conversion, so a grey PNG reads back its own values.
    const bitmap = await createImageBitmap(file, {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
    const invert = document.getElementById('invert')?.checked ?? false;
    await classify(card, imageInput(bitmap, pp, invert), file.name || 'image');
  } catch (err) {
    status.textContent = `${file.name}: cannot read it as an image (${err.message ?? err})`;
  }
}

function tryPanel(card) {
  const pp = card.preprocessing;
  if (catalog && !catalog.ort) return h('p', {class: 'warn'}, 'onnxruntime-web is not installed next to cbp, so the model cannot run here: npm install onnxruntime-web@1.30.0, then restart cbp serve.');
  const input = h('input', {type: 'file', id: 'file', accept: 'image/*'});
  input.addEventListener('change', () => input.files[0] && fileChosen(card, input.files[0]));
  const drop = h('div', {id: 'drop'}, h('p', {}, 'Drop an image here, or ', input),
    pp.channels === 1 ? h('label', {}, h('input', {type: 'checkbox', id: 'invert'}), ' invert (dark ink on light paper)') : null);
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer?.files?.[0];
    if (file) fileChosen(card, file);
  });
  const parts = [drop];
  if (pp.drawable) {
    const pad = h('canvas', {id: 'pad', width: 280, height: 280});
    const ctx = pad.getContext('2d', {willReadFrequently: true});
    const clear = () => {
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, pad.width, pad.height);
    };
    clear();
    let last = null;
    const at = (e) => {
      const r = pad.getBoundingClientRect();
      return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
    };
    pad.addEventListener('pointerdown', (e) => {
      pad.setPointerCapture(e.pointerId);
      last = at(e);
    });
    pad.addEventListener('pointermove', (e) => {
      if (last === null) return;
      const p = at(e);
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = 20;
      ctx.lineCap = 'round';
      ctx.lineJoin = 'round';
      ctx.beginPath();
      ctx.moveTo(last[0], last[1]);
      ctx.lineTo(p[0], p[1]);
      ctx.stroke();
      last = p;
    });
    const done = () => {
      if (last === null) return;
      last = null;
      const x = digitInput(pad, pp);
      if (x) classify(card, x, 'drawing');
    };
    pad.addEventListener('pointerup', done);
    pad.addEventListener('pointercancel', done);
    const button = h('button', {type: 'button', id: 'clear'}, 'clear');
    button.addEventListener('click', () => {
      clear();
      document.getElementById('try-results').replaceChildren();
      document.getElementById('try-status').textContent = '';
    });
    parts.push(h('p', {}, 'or draw a digit (white on black, as MNIST):'), pad, h('p', {}, button));
  }
  parts.push(
    h('p', {}, h('canvas', {id: 'preview', width: pp.width, height: pp.height, style: `width:${Math.min(168, pp.width * 6)}px`, title: 'what the model sees'}), ' ', h('span', {class: 'muted'}, 'what the model sees')),
    h('p', {id: 'try-status', class: 'muted'}),
    h('div', {id: 'try-results'}),
  );
  return h('div', {class: 'card', id: 'try'}, parts);
}

// ---------------------------------------------------------------- routing and live updates

async function render() {
  const id = ++renderId;
  const r = route();
  try {
    if (r.kind === 'list') {
      shown = {kind: 'list'};
      renderList();
    } else if (r.kind === 'run') {
      const detail = await getJson(`/api/run?path=${encodeURIComponent(r.path)}`);
      if (id !== renderId) return;
      shown = {kind: 'run', path: r.path, detail};
      renderRun(detail);
    } else {
      const card = await getJson(`/api/model?path=${encodeURIComponent(r.path)}`);
      if (id !== renderId) return;
      shown = {kind: 'model', path: r.path, card};
      renderModel(card);
    }
    document.body.dataset.view = r.kind;
  } catch (err) {
    if (id !== renderId) return;
    shown = {kind: 'error'};
    show(h('h1', {}, r.path ?? ''), h('p', {class: 'error', id: 'error'}, err.message), h('p', {}, h('a', {href: '#/'}, 'back to the list')));
  }
}

/** A new catalog from the server: the list redraws; an open run reloads when it has written since it was drawn. */
function onCatalog() {
  if (shown === null) return;
  if (shown.kind === 'list') renderList();
  else if (shown.kind === 'run') {
    const entry = catalog.runs.find((x) => x.path === shown.detail.path);
    if (entry && (entry.lastWrite !== shown.detail.lastWrite || entry.epoch !== shown.detail.epoch)) render();
    else if (entry && entry.status !== shown.detail.status) {
      shown.detail.status = entry.status;
      const b = view.querySelector('h1 .badge');
      if (b) b.replaceWith(badge(entry.status));
    }
  }
}

const events = new EventSource('/api/events');
const live = document.getElementById('live');
events.addEventListener('catalog', (e) => {
  const first = catalog === null;
  catalog = JSON.parse(e.data);
  document.getElementById('root').textContent = catalog.root;
  live.textContent = 'live';
  if (first && shown === null) render();
  else onCatalog();
});
events.addEventListener('error', () => {
  live.textContent = 'disconnected; retrying…';
});
window.addEventListener('hashchange', render);
// "3 s ago" grows old while nothing is written; the list redraws now and then to say so.
setInterval(() => shown?.kind === 'list' && renderList(), 10_000);
// The list needs the catalog (it comes with the first event); a run or a model can be fetched at once.
if (route().kind !== 'list') render();
