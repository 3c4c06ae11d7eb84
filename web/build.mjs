// Builds the dashboard: node web/build.mjs OUTDIR
// writes OUTDIR/index.html, OUTDIR/app.js and OUTDIR/app.css (uPlot's CSS
// included), bundled and minified by esbuild. src/web/CMakeLists.txt runs it
// and embeds OUTDIR into the binary (docs/dashboard.md).
import {copyFile, mkdir} from 'node:fs/promises';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

import * as esbuild from 'esbuild';

const NOTICE = '/*! txpipe dashboard. Includes uPlot (https://github.com/leeoniya/uPlot), ' +
               'Copyright (c) Leon Sorokin, MIT License. */';
const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out || process.argv.length > 3) {
  console.error('usage: node web/build.mjs OUTDIR');
  process.exit(2);
}
const outdir = resolve(out);
await mkdir(outdir, {recursive: true});
try {
  await esbuild.build({
    entryPoints: {app: join(here, 'src/main.js')},
    outdir,
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['es2022'],
    // uPlot's notice (its own comment is not a /*! one, so minifying drops it).
    banner: {js: NOTICE, css: NOTICE},
    legalComments: 'eof',
    logLevel: 'warning',
  });
} catch {
  process.exit(1);  // esbuild has printed the errors
}
await copyFile(join(here, 'index.html'), join(outdir, 'index.html'));
