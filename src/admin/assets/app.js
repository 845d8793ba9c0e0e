'use strict';
// The admin page for selecting failed webhook events and sync failures and reprocessing them. It
// only talks to the exporter's authenticated API; the token lives in sessionStorage, i.e. for this
// tab only.

const TOKEN_KEY = 'whe-admin-token';
const PAGE_SIZE = 50;
const $ = (id) => document.getElementById(id);

const state = {
  cursor: null, // cursor of the page shown
  previous: [], // cursors of the pages before it
  next: null,
  events: [],
  selected: new Map(), // event_id -> org
  preselect: null, // event id from a deep link
};

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// crypto.randomUUID needs a secure context; an exporter reached over plain http on a LAN is not.
function uuid4() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${token()}` }, options.headers || {});
  const res = await fetch(path, Object.assign({}, options, { headers, cache: 'no-store' }));
  let body = null;
  try {
    body = await res.json();
  } catch (_) {
    body = null;
  }
  if (!res.ok) {
    const err = new Error((body && body.error && body.error.message) || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

function explain(err) {
  switch (err.status) {
    case 401: return 'The token was refused (401 Unauthorized): it is missing, malformed, expired or unknown. No data is shown.';
    case 403: return 'This token is valid but does not carry the global admin role (403 Forbidden). No data is shown.';
    case 404: return 'The reprocessing API is disabled on this exporter (404): configure an API token hash or a JWT key.';
    default: return err.message;
  }
}

function show(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

function signedOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.events = [];
  state.selected.clear();
  $('events').tBodies[0].replaceChildren();
  $('app').hidden = true;
  $('signin').hidden = false;
  show($('signin-error'), message || '');
  $('token').focus();
}

// ---- filters --------------------------------------------------------------------------------

function orgList() {
  return $('f-org').value.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

function toIso(local) {
  return local ? new Date(`${local}Z`).toISOString() : null;
}

function toLocal(value) {
  if (!value) return '';
  const d = /^\d+$/.test(value) ? new Date(Number(value)) : new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().slice(0, 19);
}

function filterParams() {
  const p = new URLSearchParams();
  orgList().forEach((o) => p.append('org', o));
  if ($('f-stage').value) p.set('stage', $('f-stage').value);
  if ($('f-outcome').value) p.set('outcome', $('f-outcome').value);
  if ($('f-reason').value) p.append('reason', $('f-reason').value);
  if ($('f-sync-class').value) p.append('sync_error_class', $('f-sync-class').value);
  if ($('f-status').value) p.set('status_code', $('f-status').value.trim());
  if ($('f-from').value) p.set('since', toIso($('f-from').value));
  if ($('f-to').value) p.set('until', toIso($('f-to').value));
  return p;
}

function applyDeepLink() {
  const q = new URLSearchParams(window.location.search);
  const orgs = q.getAll('org').flatMap((o) => o.split(',')).filter((o) => o && o !== '$__all' && o !== 'All');
  $('f-org').value = orgs.join(', ');
  $('f-from').value = toLocal(q.get('from'));
  $('f-to').value = toLocal(q.get('to'));
  if (q.get('reason')) $('f-reason').value = q.get('reason');
  if (q.get('stage')) $('f-stage').value = q.get('stage');
  if (q.get('sync_error_class')) $('f-sync-class').value = q.get('sync_error_class');
  if (q.get('status')) $('f-status').value = q.get('status');
  state.preselect = q.get('event');
}

// ---- the event table ------------------------------------------------------------------------

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text == null ? '' : String(text);
  if (cls) td.className = cls;
  return td;
}

function badge(kind, text) {
  const span = document.createElement('span');
  span.className = `badge ${kind}`;
  span.textContent = text;
  return span;
}

function shortTime(t) {
  return t ? t.replace('T', ' ').replace(/\.\d+/, '').replace('Z', '') : '';
}

// A sync failure in one line; an abandoned item (its worker vanished) is returned to the queue by
// the sync service's next claim, so it is shown but cannot be selected.
function syncText(f) {
  if (!f) return '';
  const http = f.http_status ? `, HTTP ${f.http_status}` : '';
  if (f.state === 'abandoned') {
    return `abandoned: lease of ${f.worker || 'a worker'} ran out at ${shortTime(f.lease_expired_at)}, ` +
      `attempt ${f.attempts} (the next claim returns it)`;
  }
  const why = f.last_error ? `: ${f.last_error}` : '';
  if (f.state === 'unaccounted') {
    return `unaccounted for: no open queue item, no logged sync (${f.attempts} attempt` +
      `${f.attempts === 1 ? '' : 's'} logged${why})`;
  }
  return `given up after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'} at ${shortTime(f.given_up_at)}, ` +
    `${f.error_class}${http}${why}`;
}

function selectable(e) {
  return !(e.sync_failure && e.sync_failure.state === 'abandoned');
}

function renderEvents() {
  const rows = state.events.map((e) => {
    const tr = document.createElement('tr');
    tr.dataset.eventId = e.event_id;
    if (e.event_id === state.preselect) tr.className = 'highlight';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.className = 'select';
    box.disabled = !selectable(e);
    box.checked = state.selected.has(e.event_id);
    box.setAttribute('aria-label', `Select event ${e.event_id}`);
    box.addEventListener('change', () => {
      if (box.checked) state.selected.set(e.event_id, e.org);
      else state.selected.delete(e.event_id);
      updateSelection();
    });
    const first = document.createElement('td');
    first.append(box);
    const pending = document.createElement('td');
    pending.className = 'pending-cell';
    if (e.reprocess_pending) pending.append(badge('pending', 'pending'));
    tr.append(
      first,
      cell(shortTime(e.received_at)),
      cell(e.org),
      cell(e.event_id, 'id'),
      cell(e.outcome),
      cell(e.http_status),
      cell(e.rejection_reason),
      cell(e.error_detail, 'detail'),
      cell(syncText(e.sync_failure), e.sync_failure ? `detail sync ${e.sync_failure.state}` : 'detail'),
      pending,
    );
    return tr;
  });
  $('events').tBodies[0].replaceChildren(...rows);
  $('empty').hidden = state.events.length > 0;
  $('first-page').disabled = state.previous.length === 0;
  $('next-page').disabled = !state.next;
  updateSelection();
}

function updateSelection() {
  const n = state.selected.size;
  $('reprocess').textContent = `Reprocess selected (${n})`;
  $('reprocess').disabled = n === 0;
  const boxes = Array.from(document.querySelectorAll('#events tbody input.select:not(:disabled)'));
  $('select-all').checked = boxes.length > 0 && boxes.every((b) => b.checked);
}

async function load(cursor) {
  show($('error'), '');
  const p = filterParams();
  p.set('limit', String(PAGE_SIZE));
  if (cursor) p.set('cursor', cursor);
  try {
    const page = await api(`/api/v1/events?${p}`);
    state.cursor = cursor;
    state.events = page.events;
    state.next = page.next_cursor;
    const linked = page.events.find((e) => e.event_id === state.preselect);
    if (linked && selectable(linked)) state.selected.set(linked.event_id, linked.org);
    renderEvents();
  } catch (err) {
    if (err.status === 401 || err.status === 403) signedOut(explain(err));
    else show($('error'), explain(err));
  }
}

// ---- reprocessing ---------------------------------------------------------------------------

function askConfirmation() {
  const orgs = Array.from(new Set(state.selected.values())).sort();
  const n = state.selected.size;
  $('confirm-text').textContent =
    `Reprocess ${n} event${n === 1 ? '' : 's'} from ${orgs.length === 1 ? 'organization' : 'organizations'} ` +
    `${orgs.join(', ')}? They will be re-enqueued for the portal sync service with the reprocessing flag.`;
  $('confirm').hidden = false;
  $('confirm-yes').focus();
}

function renderResults(res) {
  const t = res.totals;
  $('results-totals').textContent =
    `Request ${res.request_id}: ${t.enqueued} enqueued, ${t.already_pending} already pending, ` +
    `${t.not_eligible} not eligible, ${t.not_found} not found (of ${t.requested}).`;
  const rows = res.results.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.eventId = r.event_id;
    const td = document.createElement('td');
    td.append(badge(r.result, r.result.replace('_', ' ')));
    tr.append(cell(r.event_id, 'id'), td);
    return tr;
  });
  $('results-table').tBodies[0].replaceChildren(...rows);
  $('results').hidden = false;
  for (const r of res.results) {
    const row = document.querySelector(`#events tr[data-event-id="${r.event_id}"] td.pending-cell`);
    if (row && (r.result === 'enqueued' || r.result === 'already_pending')) row.replaceChildren(badge('pending', 'pending'));
  }
  show($('status'), `${t.enqueued} enqueued, ${t.already_pending} already pending, ${t.not_eligible} not eligible.`);
}

async function reprocess() {
  $('confirm').hidden = true;
  const ids = Array.from(state.selected.keys());
  $('reprocess').disabled = true;
  show($('status'), `Reprocessing ${ids.length} events...`);
  try {
    const res = await api('/api/v1/reprocess', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': uuid4() },
      body: JSON.stringify({ event_ids: ids }),
    });
    state.selected.clear();
    document.querySelectorAll('#events tbody input.select').forEach((b) => { b.checked = false; });
    renderResults(res);
    updateSelection();
  } catch (err) {
    if (err.status === 401 || err.status === 403) signedOut(explain(err));
    else { show($('error'), explain(err)); show($('status'), ''); updateSelection(); }
  }
}

async function dryRun() {
  const out = $('dry-run-result');
  const orgs = orgList();
  if (orgs.length === 0 || !$('f-from').value) {
    show(out, 'A dry run of a filter needs one or more organizations and a From time.');
    return;
  }
  const filter = { orgs, since: toIso($('f-from').value) };
  if ($('f-to').value) filter.until = toIso($('f-to').value);
  if ($('f-stage').value) filter.stage = $('f-stage').value;
  if ($('f-outcome').value) filter.outcome = $('f-outcome').value;
  if ($('f-reason').value) filter.reasons = [$('f-reason').value];
  if ($('f-sync-class').value) filter.sync_error_classes = [$('f-sync-class').value];
  if ($('f-status').value) filter.status_code = Number($('f-status').value);
  try {
    const res = await api('/api/v1/reprocess', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ filter, dry_run: true }),
    });
    const t = res.totals;
    show(out, `Dry run: reprocessing this filter would enqueue ${t.would_enqueue} events ` +
      `(${t.already_pending} already pending, ${t.not_eligible} not eligible). Nothing was written.`);
  } catch (err) {
    if (err.status === 401 || err.status === 403) signedOut(explain(err));
    else show(out, explain(err));
  }
}

// ---- wiring ---------------------------------------------------------------------------------

async function signIn(candidate) {
  sessionStorage.setItem(TOKEN_KEY, candidate);
  try {
    await api('/api/v1/events?limit=1');
  } catch (err) {
    signedOut(explain(err));
    return;
  }
  $('signin').hidden = true;
  $('app').hidden = false;
  show($('signin-error'), '');
  $('who').textContent = 'Signed in (token kept for this tab only)';
  await load(null);
}

document.addEventListener('DOMContentLoaded', () => {
  applyDeepLink();
  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    $('token').value = '';
    if (t) signIn(t);
  });
  $('signout').addEventListener('click', () => signedOut('Signed out.'));
  $('filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.previous = [];
    load(null);
  });
  $('dry-run').addEventListener('click', dryRun);
  $('select-all').addEventListener('change', () => {
    const on = $('select-all').checked;
    for (const e of state.events.filter(selectable)) {
      if (on) state.selected.set(e.event_id, e.org);
      else state.selected.delete(e.event_id);
    }
    document.querySelectorAll('#events tbody input.select:not(:disabled)').forEach((b) => { b.checked = on; });
    updateSelection();
  });
  $('reprocess').addEventListener('click', askConfirmation);
  $('confirm-yes').addEventListener('click', reprocess);
  $('confirm-no').addEventListener('click', () => { $('confirm').hidden = true; $('reprocess').focus(); });
  $('next-page').addEventListener('click', () => {
    state.previous.push(state.cursor);
    load(state.next);
  });
  $('first-page').addEventListener('click', () => {
    state.previous = [];
    load(null);
  });
  if (token()) signIn(token());
  else $('token').focus();
});
