import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import {CbpError, errorMessage, type ErrorCode} from '../../core/errors';
import {resolveOptions, type GivenOptions, type OptionSchema} from '../../core/options';
import {Cataloguer} from './catalog';
import {ServedRoot} from './paths';
import {modelBytes, modelCard, runDetail} from './views';

/** An address to listen on: an IP address or a host name. */
function checkHost(host: string, flag: string): string {
  if (host === '' || (net.isIP(host) === 0 && !/^[A-Za-z0-9.-]+$/.test(host))) throw new CbpError(`${flag} ${JSON.stringify(host)}: expected an IP address or a host name`, 'BAD_FLAG');
  return host;
}

/** `cbp serve`'s options, one entry each (flag, help, default, check): its flags are built from it. */
export const SERVE_OPTIONS = {
  host: {kind: 'string', default: '127.0.0.1', check: checkHost, help: 'address to listen on; anything but 127.0.0.1/localhost shows the runs to the network'},
  /** 0 picks a free port. */
  port: {kind: 'int', min: 0, max: 65535, default: 8080, help: 'port to listen on (0: a free one)'},
} as const satisfies OptionSchema;

export interface ServeOptions extends GivenOptions<typeof SERVE_OPTIONS> {
  /** RUNS_DIR: the folder whose runs and models are shown; nothing outside it is read. */
  readonly dir: string;
  /** How often the folder is looked at while a page listens, in milliseconds. */
  readonly pollMs?: number;
  readonly log?: (line: string) => void;
}

export interface Served {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Where the page loads onnxruntime-web from, or null (then the page says how to install it). */
  readonly ortDir: string | null;
  close(): Promise<void>;
}

/**
 * The page's own files. They are not TypeScript (the page has no build step), so they stay in the source tree,
 * which package.json ships; from dist/src/app/serve that is four folders up.
 */
export const ASSET_DIR = path.resolve(__dirname, '..', '..', '..', '..', 'src', 'app', 'serve', 'static');
const ASSETS: Readonly<Record<string, {file: string; type: string}>> = {
  '/': {file: 'index.html', type: 'text/html; charset=utf-8'},
  '/static/app.js': {file: 'app.js', type: 'text/javascript; charset=utf-8'},
  '/static/style.css': {file: 'style.css', type: 'text/css; charset=utf-8'},
};

/** The onnxruntime-web files the page needs for its wasm backend with one thread: the module, its loader, the binary. */
const ORT_FILES: Readonly<Record<string, string>> = {
  'ort.wasm.min.mjs': 'text/javascript; charset=utf-8',
  'ort-wasm-simd-threaded.mjs': 'text/javascript; charset=utf-8',
  'ort-wasm-simd-threaded.wasm': 'application/wasm',
};

/** onnxruntime-web's dist folder, found the way Node finds the package, or null when it is not installed. */
function findOrtWeb(): string | null {
  try {
    const dir = path.dirname(require.resolve('onnxruntime-web'));
    return Object.keys(ORT_FILES).every((f) => fs.existsSync(path.join(dir, f))) ? dir : null;
  } catch {
    return null;
  }
}

/*
 * Scripts only from this server; WebAssembly compiled from what it serves; no frames, no form posts, nothing from
 * elsewhere. The SVG charts arrive as markup in JSON and are inserted into the page, so the policy is what keeps a
 * string in a run's config from ever running as script.
 */
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
  "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

function statusOf(code: ErrorCode): number {
  switch (code) {
    case 'OUTSIDE_ROOT':
      return 403;
    case 'NO_FILE':
    case 'NO_CHECKPOINT':
      return 404;
    case 'OVER_BUDGET':
      return 413;
    case 'CBP_ERROR':
    case 'BAD_FLAG':
    case 'UNKNOWN_CHOICE':
      return 400;
    default:
      return 422;
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string | Uint8Array, head: boolean): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.length,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Content-Security-Policy': CSP,
  });
  res.end(head ? undefined : body);
}

function json(res: http.ServerResponse, status: number, value: unknown, head: boolean): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), head);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

/** The host name of a Host header, without the port. */
function hostName(header: string | undefined): string {
  if (header === undefined) return '';
  if (header.startsWith('[')) return header.slice(0, header.indexOf(']') + 1);
  return header.split(':')[0].toLowerCase();
}

/**
 * `cbp serve`: a read-only page over RUNS_DIR. Routes: the page and its assets, onnxruntime-web's files, the
 * catalog, a run, a model's card and bytes, and a stream of server-sent events that carries the catalog again
 * whenever it changes (a run wrote an epoch, a model appeared, a run went still), so curves follow `cbp train`.
 */
export async function serve(opts: ServeOptions): Promise<Served> {
  const root = new ServedRoot(opts.dir);
  const {host, port} = resolveOptions(SERVE_OPTIONS, opts);
  const ortDir = findOrtWeb();
  const cataloguer = new Cataloguer(root);
  const listeners = new Set<http.ServerResponse>();
  let lastCatalog = '';
  const pollMs = opts.pollMs ?? 1000;

  const catalogJson = (): string => JSON.stringify({root: root.given, ort: ortDir !== null, ...cataloguer.scan()});
  const tick = (): void => {
    if (listeners.size === 0) return;
    let text: string;
    try {
      text = catalogJson();
    } catch (err) {
      opts.log?.(`cannot list ${root.given}: ${errorMessage(err)}`);
      return;
    }
    if (text === lastCatalog) return;
    lastCatalog = text;
    for (const res of listeners) res.write(`event: catalog\ndata: ${text}\n\n`);
  };
  const timer = setInterval(tick, pollMs);
  // Proxies and browsers drop a stream that says nothing for long; a comment line every 15 s keeps it open.
  const keepAlive = setInterval(() => {
    for (const res of listeners) res.write(': keep-alive\n\n');
  }, 15_000);
  timer.unref();
  keepAlive.unref();

  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      json(res, 405, {error: `${req.method ?? ''}: the page is read-only (GET and HEAD only)`}, false);
      return;
    }
    // A page on another site that resolves its own name to this address (DNS rebinding) must not read the runs.
    if (isLoopback(host) && !isLoopback(hostName(req.headers.host))) {
      json(res, 403, {error: `Host ${JSON.stringify(req.headers.host ?? '')}: this server answers only to localhost`}, head);
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      json(res, 400, {error: 'malformed URL'}, head);
      return;
    }
    const route = url.pathname;
    const param = (): string => {
      const p = url.searchParams.get('path');
      if (p === null) throw new CbpError("missing the query parameter 'path'");
      return p;
    };
    try {
      const asset = Object.prototype.hasOwnProperty.call(ASSETS, route) ? ASSETS[route] : undefined;
      if (asset !== undefined) {
        send(res, 200, asset.type, fs.readFileSync(path.join(ASSET_DIR, asset.file)), head);
      } else if (route.startsWith('/ort/')) {
        const name = route.slice('/ort/'.length);
        const type = Object.prototype.hasOwnProperty.call(ORT_FILES, name) ? ORT_FILES[name] : undefined;
        if (ortDir === null || type === undefined) json(res, 404, {error: ortDir === null ? 'onnxruntime-web is not installed (npm install onnxruntime-web)' : `${name}: not served`}, head);
        else send(res, 200, type, fs.readFileSync(path.join(ortDir, name)), head);
      } else if (route === '/api/catalog') {
        send(res, 200, 'application/json; charset=utf-8', catalogJson(), head);
      } else if (route === '/api/run') {
        json(res, 200, runDetail(root, param()), head);
      } else if (route === '/api/model') {
        json(res, 200, modelCard(root, param()), head);
      } else if (route === '/api/file') {
        send(res, 200, 'application/octet-stream', modelBytes(root, param()).bytes, head);
      } else if (route === '/api/events') {
        res.writeHead(200, {'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff'});
        const text = catalogJson();
        res.write(`retry: 2000\nevent: catalog\ndata: ${text}\n\n`);
        listeners.add(res);
        req.on('close', () => listeners.delete(res));
      } else {
        json(res, 404, {error: `${route}: no such page`}, head);
      }
    } catch (err) {
      if (err instanceof CbpError) json(res, statusOf(err.code), {error: err.message, code: err.code}, head);
      else {
        opts.log?.(`${route}: ${errorMessage(err)}`);
        json(res, 500, {error: errorMessage(err), code: 'INTERNAL'}, head);
      }
    }
  };

  const server = http.createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new CbpError(`--host ${host} --port ${port}: cannot listen (${errorMessage(err)})`)));
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  const shown = net.isIPv6(host) ? `[${host}]` : host;
  return {
    url: `http://${shown}:${bound}/`,
    host,
    port: bound,
    ortDir,
    close: async () => {
      clearInterval(timer);
      clearInterval(keepAlive);
      for (const res of listeners) res.end();
      listeners.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
