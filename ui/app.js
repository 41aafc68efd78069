// PlanOpticon Auth: the window. Renders the snapshots the app sends (one
// card per service) and invokes its commands; no auth logic here. This is
// the entry module (index.html); core.js shows how the modules hang together.

import { $, esc, invoke, listen, scriptStart, view } from './core.js';
import { renderCards } from './cards.js';
import './forms.js';
import './settings.js';

function accept(published) {
  if (published.version < view.version) return;
  view.version = published.version;
  view.snapshot = published;
  const dir = published.services_file.replace(/\/services\.toml$/, '');
  $('#config-dir').textContent = dir;
  renderCards();
}

// The browser's own marks of the page's load, as Unix ms.
function pageTiming() {
  const at = (t) => performance.timeOrigin + t;
  const out = [['navigation', performance.timeOrigin]];
  const nav = performance.getEntriesByType('navigation')[0];
  if (nav) {
    for (const k of ['responseEnd', 'domInteractive', 'domContentLoadedEventStart', 'domContentLoadedEventEnd']) {
      if (nav[k]) out.push([k.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`), at(nav[k])]);
    }
  }
  for (const p of performance.getEntriesByType('paint')) out.push([p.name.replace(/-/g, ' '), at(p.startTime)]);
  return out;
}

async function start() {
  // The app puts its first snapshot in the page (an initialization script):
  // the cards are drawn in the first frame. Then the page listens, and asks
  // once for anything that changed in between.
  const marks = [['script start', scriptStart], ['script', Date.now()]];
  const first = window.__PLANOPTICON_FIRST_SNAPSHOT__;
  if (first) accept(first);
  marks.push(['rendered', Date.now()]);
  const ready = () => requestAnimationFrame(() => {
    marks.push(['frame', Date.now()], ...pageTiming());
    invoke('ui_ready', { marks }).catch(() => {});
  });
  if (first) ready();
  await listen('snapshot', (ev) => accept(ev.payload));
  accept(await invoke('snapshot'));
  if (!first) ready();
  document.body.dataset.ready = 'true';
}

start().catch((e) => {
  const root = $('#cards');
  root.innerHTML = `<p class="banner error" role="alert">The window could not reach the app: ${esc(e)}</p>`;
});
