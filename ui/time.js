// Expiry times in words ("expires in 5 min"), kept moving without a new
// snapshot.

export function relative(expiresAt) {
  const secs = expiresAt - Date.now() / 1000;
  const a = Math.abs(secs);
  let span;
  if (a < 90) span = `${Math.round(a)} s`;
  else if (a < 90 * 60) span = `${Math.round(a / 60)} min`;
  else if (a < 48 * 3600) span = `${Math.round(a / 3600)} h`;
  else span = `${Math.round(a / 86400)} days`;
  return secs >= 0 ? `in ${span}` : `${span} ago`;
}

export function absolute(expiresAt) {
  return new Date(expiresAt * 1000).toLocaleString();
}

export function expiryWords(expiresAt) {
  return `${expiresAt * 1000 < Date.now() ? 'expired' : 'expires'} ${relative(expiresAt)}`;
}

// Relative expiry times move on without a new snapshot (a card that needs
// reconnecting is not re-rendered while its token runs out): every second
// while one is shown in seconds, else every 30 s. Only the words change.
let expiryTimer = null;
export function tickExpiries() {
  clearTimeout(expiryTimer);
  let seconds = false;
  for (const x of document.querySelectorAll('[data-role="expiry"]')) {
    const at = Number(x.dataset.expiresAt);
    const words = expiryWords(at);
    if (x.textContent !== words) x.textContent = words;
    if (Math.abs(at - Date.now() / 1000) < 90) seconds = true;
  }
  expiryTimer = setTimeout(tickExpiries, seconds ? 1000 : 30000);
}
