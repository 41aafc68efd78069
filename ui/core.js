// The window's shared ground: the app's commands and events, two DOM
// helpers, and the state the other modules share. Imports nothing.
//
// The modules form a tree (each imports only those below it):
//   app.js       start: the first snapshot, then the app's events
//   ├ forms.js   Set up, API key, Add a service, Remove
//   │ └ cards.js the cards, their buttons, the Disconnect dialog
//   │   └ accounts.js  a card's accounts: Switch, Disconnect one, Add another
//   ├ settings.js  the tabs, Settings and About
//   └ time.js, core.js

export const scriptStart = Date.now(); // launch timing (bench/floor.sh)

export const { invoke } = window.__TAURI__.core;
export const { listen } = window.__TAURI__.event;

export const $ = (sel, root = document) => root.querySelector(sel);

export const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

// ---- state ---------------------------------------------------------------
/** The last snapshot shown, and its version (an older one is ignored). */
export const view = { version: 0, snapshot: null };
export const pasteOpen = new Set();   // cards whose "Paste code instead" panel is open
export const rendered = new Map();    // service -> the key its card was last rendered with
export const busy = new Set();        // cards with a command on its way
export const panels = new Map();      // service -> its open Set up panel (kept across re-renders)
export const flash = new Map();       // service -> what its last Save said
