#!/usr/bin/env node
// Opens trace files in the real speedscope web app (the npm package's built
// files, served from 127.0.0.1) in headless Chromium, and prints as JSON what
// a user sees: whether the profile loaded or speedscope showed an error, the
// importer it chose, the profile (thread) it opened on, the profiles in its
// profile menu, and for each profile the rows of its Sandwich table
// (function, file, total, self).
//
//   node check.js [--chromium PATH] [--timeout SEC] [--screenshot DIR] FILE...
//
// speedscope reads speedscope JSON, Chrome trace JSON (its "Trace Event
// Format" importer), collapsed stacks and more, guessing from the content.
// Exit status: 0 when every file loaded, 1 when speedscope showed an error
// for one, 2 when the check itself could not run (no browser, bad usage).
// CHROMIUM sets the browser (default /usr/bin/chromium); VIEWER_CHECK_DEBUG=1
// keeps every console line of the page in the report.
//
// Install: npm ci (make test does). app/viewer_check_test.go runs it.
'use strict';

const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');

const usage = 'usage: node check.js [--chromium PATH] [--timeout SEC] [--screenshot DIR] FILE...';

function parseArgs(argv) {
  const opts = { chromium: process.env.CHROMIUM || '/usr/bin/chromium', timeout: 60, screenshot: '', files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--chromium') opts.chromium = value();
    else if (a === '--timeout') opts.timeout = Number(value());
    else if (a === '--screenshot') opts.screenshot = value();
    else if (a === '-h' || a === '--help') throw new Error('help');
    else if (a.startsWith('--')) throw new Error(`unknown flag ${a}`);
    else opts.files.push(a);
  }
  if (opts.files.length === 0) throw new Error('no FILE given');
  if (!(opts.timeout > 0)) throw new Error('--timeout wants a number of seconds');
  return opts;
}

const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png',
  '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.txt': 'text/plain',
};

// serve speedscope's built files at / and the files to check at /profile/N/NAME,
// so speedscope sees each file's own name (it uses it to guess the format).
//
// The server answers only the requests it is sent. With Node's defaults it
// also answers a connection that has sent nothing for headersTimeout (60 s)
// with "408 Request Timeout", and closes a kept-alive one after 5 s idle.
// Chromium opens sockets ahead of need and keeps them idle for minutes, so
// when a check outlasts a minute (a loaded machine) a navigation sent on such
// a socket as the 408 is written gets the 408 for an answer and fails with
// net::ERR_HTTP_RESPONSE_CODE_FAILURE. No timeouts, then: the connections
// live until Chromium closes them or the check ends.
function serve(root, files) {
  const server = http.createServer({ headersTimeout: 0, requestTimeout: 0 }, (req, res) => {
    // say what was not served (but the favicon Chromium asks for itself)
    res.on('finish', () => {
      if (res.statusCode >= 400 && req.url !== '/favicon.ico') console.error(`viewer-check: server: ${res.statusCode} for ${req.method} ${req.url}`);
    });
    const url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let p;
    const m = /^\/profile\/(\d+)\//.exec(url);
    if (m) p = files[Number(m[1])];
    else {
      p = path.join(root, path.normalize(url === '/' ? '/index.html' : url));
      if (!p.startsWith(root + path.sep)) p = undefined;
    }
    if (!p) {
      res.writeHead(404).end();
      return;
    }
    const s = fs.createReadStream(p);
    s.on('error', () => res.writeHead(404).end());
    s.on('open', () => {
      res.writeHead(200, { 'Content-Type': types[path.extname(p)] || 'application/octet-stream' });
      s.pipe(res);
    });
  });
  server.keepAliveTimeout = 0;
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// What the page shows, read from its DOM: runs in the browser.
function pageState() {
  const text = document.body ? document.body.innerText : '';
  if (/Something went wrong/.test(text)) return { state: 'error' };
  const symbol = [...document.querySelectorAll('th')].find(th => th.textContent.trim() === 'Symbol Name');
  if (symbol) return { state: 'loaded' };
  return { state: 'waiting' };
}

// The profile menu (toolbar centre): the name shown, "(i/n)" when the file
// has several profiles, and the menu's rows (name, total weight). Runs in the
// browser.
function readToolbar() {
  const tab = [...document.querySelectorAll('div')].find(d => d.children.length > 0 && d.textContent.trim().endsWith('Sandwich') && d.textContent.length < 20);
  // toolbar: [view tabs] [profile name and menu] [Export, Import, ...]
  const tabs = tab.parentElement;
  const right = tabs.parentElement.lastElementChild;
  let centre = '';
  for (let n = tabs.nextSibling; n && n !== right; n = n.nextSibling) {
    if (n.nodeType === 1 && n.style && n.style.display === 'none') continue;
    if (n.nodeType === 1) {
      const c = n.cloneNode(true);
      c.querySelectorAll('[style*="display: none"]').forEach(x => x.remove());
      centre += c.textContent;
    } else centre += n.textContent;
  }
  centre = centre.trim();
  let index = 1;
  let count = 1;
  const m = /^(.*?)\s*\((\d+)\/(\d+)\)$/s.exec(centre);
  if (m) {
    centre = m[1];
    index = Number(m[2]);
    count = Number(m[3]);
  }
  const menu = [];
  for (const th of document.querySelectorAll('th')) {
    if (th.textContent.trim() !== 'Total Weight') continue;
    for (const tr of th.closest('table').querySelectorAll('tbody tr')) {
      const td = tr.querySelectorAll('td');
      menu.push({ name: td[1].textContent, total: td[2].textContent });
    }
  }
  return { shown: centre, index, count, menu };
}

// The Sandwich table: a virtual list, so scroll it to the end, reading the
// rows drawn at each position. Runs in the browser.
async function readSandwich() {
  const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const th = [...document.querySelectorAll('th')].find(t => t.textContent.trim() === 'Symbol Name');
  // the scrolling element is the header table's next sibling
  const scroller = th.closest('table').nextElementSibling;
  const rows = new Map();
  scroller.scrollTop = 0;
  for (let guard = 0; guard < 100000; guard++) {
    await frame();
    for (const inner of scroller.querySelectorAll('div[style*="translateY"]')) {
      const off = Number((/translateY\(([\d.]+)px\)/.exec(inner.style.transform) || [0, 0])[1]);
      const trs = inner.querySelectorAll('tr');
      trs.forEach((tr, i) => {
        const td = tr.querySelectorAll('td');
        if (td.length < 3) return;
        const h = tr.getBoundingClientRect().height || 1;
        const pos = Math.round(off / h) + i;
        // total and self cells also hold a bar: take their text only
        const cell = c => [...c.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
        rows.set(pos, { name: td[2].textContent.trim(), file: td[2].getAttribute('title') || '', total: cell(td[0]), self: cell(td[1]) });
      });
    }
    if (scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 1) break;
    const before = scroller.scrollTop;
    scroller.scrollTop += Math.max(1, scroller.clientHeight - 40);
    if (scroller.scrollTop === before) break;
  }
  return [...rows.keys()].sort((a, b) => a - b).map(k => rows.get(k));
}

// showProfile presses "n" or "p" until speedscope shows profile want (from
// 1), and returns the toolbar then.
async function showProfile(page, want, file, opts) {
  const deadline = Date.now() + opts.timeout * 1000;
  for (;;) {
    const bar = await page.evaluate(readToolbar);
    if (bar.index === want) return bar;
    if (Date.now() > deadline) throw new Error(`${file}: "n" and "p" did not show profile ${want} (at ${bar.index})`);
    await page.keyboard.press(bar.index < want ? 'n' : 'p');
    for (let tries = 0; tries < 20; tries++) {
      await page.waitForTimeout(50);
      if ((await page.evaluate(readToolbar)).index !== bar.index) break;
    }
  }
}

async function checkFile(context, base, i, file, opts) {
  const t0 = Date.now();
  const out = { file, loaded: false, error: '', importer: '', title: '', profileCount: 0, opened: null, profiles: [], console: [], ms: 0 };
  const page = await context.newPage();
  let dialog = '';
  page.on('dialog', d => {
    dialog = d.message();
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', e => out.console.push(`page error: ${e.message}`));
  page.on('console', m => {
    const t = m.text();
    const imp = /^Importing as (.*)$/.exec(t);
    if (imp) out.importer = imp[1];
    // the exception's message, without its stack
    if (/^Failed to load format/.test(t)) out.error = t.replace(/^Failed to load format\s*/, '').split('\n')[0];
    if (process.env.VIEWER_CHECK_DEBUG || m.type() === 'error' || /^Failed to load format/.test(t)) out.console.push(t.split('\n')[0]);
  });
  const profileURL = `${base}/profile/${i}/${encodeURIComponent(path.basename(file))}`;
  await page.goto(`${base}/index.html#profileURL=${encodeURIComponent(profileURL)}&view=sandwich`);
  const deadline = Date.now() + opts.timeout * 1000;
  let state = 'waiting';
  while (Date.now() < deadline) {
    if (dialog) break;
    ({ state } = await page.evaluate(pageState));
    if (state !== 'waiting') break;
    await page.waitForTimeout(100);
  }
  out.title = await page.title();
  if (dialog) {
    out.error = dialog; // "Unrecognized format! ..." or "... but it's empty!"
  } else if (state === 'error') {
    // the page says "Something went wrong"; the reason is on the console
    out.error = `speedscope shows "Something went wrong."${out.error ? ': ' + out.error : ''}`;
  } else if (state === 'waiting') {
    const text = (await page.evaluate(() => document.body.innerText)).replace(/\s+/g, ' ').trim();
    out.error = `nothing shown after ${opts.timeout} s; the page says: ${text.slice(0, 300)}`;
  } else {
    out.loaded = true;
    out.error = '';
    let bar = await page.evaluate(readToolbar);
    out.profileCount = bar.count;
    // the profile the file opens on (speedscope files say it in
    // activeProfileIndex)
    out.opened = { index: bar.index, name: bar.shown };
    const menu = bar.menu;
    for (let p = 0; p < bar.count; p++) {
      // "n" and "p" show the next and previous profile, as a user would
      // press them
      bar = await showProfile(page, p + 1, file, opts);
      const total = menu[p] ? menu[p].total : '';
      out.profiles.push({ name: bar.shown, total, functions: await page.evaluate(readSandwich) });
      if (opts.screenshot) {
        await page.screenshot({ path: path.join(opts.screenshot, `${path.basename(file)}.${p + 1}.png`) });
      }
    }
  }
  if (opts.screenshot && !out.loaded) {
    await page.screenshot({ path: path.join(opts.screenshot, `${path.basename(file)}.png`) });
  }
  await page.close();
  out.ms = Date.now() - t0;
  return out;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e.message !== 'help') console.error(`viewer-check: ${e.message}`);
    console.error(usage);
    return 2;
  }
  for (const f of opts.files) {
    if (!fs.statSync(f, { throwIfNoEntry: false })) {
      console.error(`viewer-check: ${f}: no such file`);
      return 2;
    }
  }
  const files = opts.files.map(f => path.resolve(f));
  const pkg = require('speedscope/package.json');
  const root = path.join(path.dirname(require.resolve('speedscope/package.json')), 'dist', 'release');
  const { chromium } = require('playwright-core');

  const server = await serve(root, files);
  const base = `http://127.0.0.1:${server.address().port}`;
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'viewer-check-'));
  let context;
  try {
    try {
      context = await chromium.launchPersistentContext(profileDir, {
        executablePath: opts.chromium,
        headless: true,
        viewport: { width: 1280, height: 900 },
        // no GPU here: WebGL runs on SwiftShader; the network flags keep
        // Chromium from calling home
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
          '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
    } catch (e) {
      console.error(`viewer-check: cannot start ${opts.chromium}: ${e.message.split('\n')[0]}`);
      return 2;
    }
    const result = { viewer: `speedscope ${pkg.version}`, browser: context.browser() ? context.browser().version() : '', files: [] };
    for (let i = 0; i < files.length; i++) {
      result.files.push(await checkFile(context, base, i, files[i], opts));
    }
    process.stdout.write(JSON.stringify(result, null, 1) + '\n');
    return result.files.every(f => f.loaded) ? 0 : 1;
  } finally {
    if (context) await context.close();
    server.close();
    server.closeAllConnections();
    fs.rmSync(profileDir, { recursive: true, force: true });
  }
}

main().then(code => process.exit(code), e => {
  console.error(`viewer-check: ${e.stack || e}`);
  process.exit(2);
});
