// A server for working on the dashboard without rebuilding txpipe:
//   node web/dev.mjs [--api http://127.0.0.1:8080] [--port 5173]
// serves the page from web/ (rebuilt by esbuild on each change, not minified)
// and passes every other request (/api/..., /metrics) to a running txpipe.
// Reload the browser after an edit.
import {copyFile, mkdtemp, readFile} from 'node:fs/promises';
import http from 'node:http';
import {tmpdir} from 'node:os';
import {dirname, extname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';

import * as esbuild from 'esbuild';

const {values: args} = parseArgs({options: {api: {type: 'string', default: 'http://127.0.0.1:8080'},
                                            port: {type: 'string', default: '5173'}}});
const here = dirname(fileURLToPath(import.meta.url));
const outdir = await mkdtemp(join(tmpdir(), 'txpipe-web-'));
const api = new URL(args.api);
const TYPES = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
               '.css': 'text/css; charset=utf-8'};
const PAGE = new Set(['/index.html', '/app.js', '/app.css']);

const ctx = await esbuild.context({
  entryPoints: {app: join(here, 'src/main.js')}, outdir, bundle: true, format: 'iife',
  target: ['es2022'], sourcemap: 'inline', logLevel: 'info',
  plugins: [{name: 'index.html', setup(b) {
    b.onEnd(() => copyFile(join(here, 'index.html'), join(outdir, 'index.html')));
  }}],
});
await ctx.watch();

http.createServer(async (req, res) => {
  const path = req.url === '/' ? '/index.html' : req.url.split('?')[0];
  if (PAGE.has(path)) {
    try {
      const body = await readFile(join(outdir, path));
      res.writeHead(200, {'Content-Type': TYPES[extname(path)], 'Cache-Control': 'no-cache'});
      res.end(body);
    } catch {
      res.writeHead(503).end('not built yet');
    }
    return;
  }
  const upstream = http.request({host: api.hostname, port: api.port, path: req.url, method: req.method,
                                 headers: req.headers}, (up) => {
    res.writeHead(up.statusCode, up.headers);
    up.pipe(res);
  });
  upstream.on('error', () => res.headersSent ? res.destroy() : res.writeHead(502).end('txpipe unreachable'));
  req.pipe(upstream);
}).listen(Number(args.port), '127.0.0.1', () => {
  console.log(`dashboard on http://127.0.0.1:${args.port}/ (API: ${api.origin})`);
});
