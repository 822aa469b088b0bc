// classgate operator dashboard. No build step, no dependencies.
//
// The admin token is typed into the page, kept in this tab's sessionStorage
// only, and sent as "Authorization: Bearer …" on every request. The page
// polls /admin/stats and /admin/rooms every `interval` ms (default 2000,
// ?interval=N to change). Every value from the server is inserted with
// textContent: room and user names come from clients.
//
// window.dashboard exposes the state for tests and the curious.

const TOKEN_KEY = 'classgate.admin.token';
const HISTORY = 60; // points per sparkline

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const interval = Math.max(250, Number(params.get('interval')) || 2000);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  stats: null,
  rooms: null,
  presenceRoom: '',
  polls: 0,
  error: '',
  timer: null,
  history: { connections: [], framesIn: [], deliveries: [], p99: [] },
};

class HTTPError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + state.token };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  if (!res.ok) throw new HTTPError(res.status, (json && json.error) || `HTTP ${res.status}`);
  return json;
}

// ---------------------------------------------------------------- format

function fmtRate(v) {
  if (v == null || Number.isNaN(v)) return '—';
  if (v === 0) return '0';
  if (v < 10) return v.toFixed(2);
  if (v < 100) return v.toFixed(1);
  return Math.round(v).toLocaleString();
}

function fmtCount(v) {
  return v == null ? '—' : Math.round(v).toLocaleString();
}

function fmtSeconds(s) {
  if (s == null) return '—';
  const ms = s * 1000;
  if (ms < 1) return ms.toFixed(2) + ' ms';
  if (ms < 100) return ms.toFixed(1) + ' ms';
  if (ms < 10000) return Math.round(ms) + ' ms';
  return s.toFixed(1) + ' s';
}

function setText(id, text, bad = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle('bad', bad);
}

function setStatus(text, cls) {
  const el = $('status');
  el.textContent = text;
  el.className = 'status ' + cls;
}

function push(series, v) {
  series.push(v == null ? 0 : v);
  if (series.length > HISTORY) series.shift();
}

function spark(id, series) {
  const svg = $(id);
  if (!svg) return;
  const maxV = Math.max(...series, 1e-9);
  const step = series.length > 1 ? 120 / (series.length - 1) : 0;
  const pts = series.map((v, i) => `${(i * step).toFixed(1)},${(29 - (v / maxV) * 27).toFixed(1)}`).join(' ');
  let line = svg.querySelector('polyline');
  if (!line) {
    line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    svg.appendChild(line);
  }
  line.setAttribute('points', pts);
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function button(text, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

function fill(tableId, rows, render, empty) {
  const tbody = $(tableId).querySelector('tbody');
  tbody.replaceChildren();
  if (!rows.length) {
    const tr = document.createElement('tr');
    const td = cell(tr, empty, 'muted');
    td.colSpan = $(tableId).querySelectorAll('th').length;
    tbody.appendChild(tr);
    return;
  }
  for (const r of rows) {
    const tr = document.createElement('tr');
    render(tr, r);
    tbody.appendChild(tr);
  }
}

// ---------------------------------------------------------------- render

function renderStats(s) {
  $('node').textContent = [s.node, s.version].filter(Boolean).join(' · ');
  setText('connections', fmtCount(s.connections));
  setText('rooms', fmtCount(s.rooms));
  setText('frames-in', fmtRate(s.rates.frames_in));
  setText('deliveries', fmtRate(s.rates.deliveries));
  setText('p99', fmtSeconds(s.fanout_p99_seconds), s.fanout_p99_seconds != null && s.fanout_p99_seconds > 0.25);
  setText('plugin-errors', fmtRate(s.rates.plugin_errors), s.rates.plugin_errors > 0);
  $('plugin-errors-total').textContent = `${fmtCount(s.totals.plugin_errors)} since start`;
  setText('errors', fmtRate(s.rates.errors));
  $('rate-limited').textContent = `rate limited ${fmtRate(s.rates.rate_limited)}/s · slow closes ${fmtCount(s.totals.slow_consumer_closes)}`;
  setText('store-p99', fmtSeconds(s.store_p99_seconds));
  $('store-errors').textContent = `${fmtCount(s.totals.store_errors)} store errors`;
  $('window').textContent = s.window_seconds > 0
    ? `rates and quantiles over the last ${Math.round(s.window_seconds)} s · up ${Math.round(s.uptime_seconds)} s · updated ${new Date(s.time).toLocaleTimeString()}`
    : `first reading: rates appear with the next one · up ${Math.round(s.uptime_seconds)} s`;

  push(state.history.connections, s.connections);
  push(state.history.framesIn, s.rates.frames_in);
  push(state.history.deliveries, s.rates.deliveries);
  push(state.history.p99, s.fanout_p99_seconds);
  spark('spark-connections', state.history.connections);
  spark('spark-frames-in', state.history.framesIn);
  spark('spark-deliveries', state.history.deliveries);
  spark('spark-p99', state.history.p99);

  fill('plugins', s.plugins || [], (tr, p) => {
    cell(tr, p.plugin);
    cell(tr, p.version || '—');
    cell(tr, fmtRate(p.calls_per_second));
    cell(tr, fmtRate(p.errors_per_second), p.errors_per_second > 0 ? 'bad' : '');
    cell(tr, fmtCount(p.errors_total), p.errors_total > 0 ? 'bad' : '');
    cell(tr, fmtSeconds(p.p99_seconds));
  }, 'no plugin calls yet');

  const codes = Object.entries(s.errors_by_code || {}).sort((a, b) => b[1] - a[1]);
  fill('errors-by-code', codes, (tr, [code, rate]) => {
    cell(tr, code);
    cell(tr, fmtRate(rate));
  }, 'no error frames');
}

function renderRooms(rooms) {
  fill('room-list', rooms, (tr, r) => {
    cell(tr, r.room);
    cell(tr, fmtCount(r.members));
    cell(tr, fmtCount(r.users));
    // ns@role and the first 12 hex digits of the module serving it.
    const pv = r.plugin_versions || {};
    cell(tr, Object.entries(r.plugins || {}).map(([ns, v]) => `${ns}@${v}` + (pv[ns] && pv[ns].sha256 ? ` ${pv[ns].sha256.slice(0, 12)}` : '')).join(', ') || '—');
    const td = document.createElement('td');
    td.appendChild(button('presence', () => showPresence(r.room)));
    tr.appendChild(td);
  }, 'no rooms with members on this node');
}

async function showPresence(room) {
  state.presenceRoom = room;
  $('presence').hidden = false;
  $('presence-room').textContent = room;
  try {
    const p = await api('GET', `/admin/rooms/${encodeURIComponent(room)}/presence`);
    if (state.presenceRoom !== room) return;
    fill('presence-list', p.members, (tr, m) => {
      cell(tr, m.user.id);
      cell(tr, m.user.name || '');
      cell(tr, m.user.role || '');
      cell(tr, m.conn);
      const td = document.createElement('td');
      td.appendChild(button('kick', () => kick(m.user.id, room)));
      tr.appendChild(td);
    }, 'nobody');
  } catch (e) {
    result(`presence of ${room}: ${e.message}`, true);
  }
}

function result(text, bad = false) {
  const el = $('action-result');
  el.textContent = text;
  el.className = bad ? 'bad' : 'muted';
}

// ---------------------------------------------------------------- actions

async function kick(user, room) {
  try {
    const r = await api('POST', '/admin/kick', { user, room: room || undefined });
    result(`kicked ${user}${room ? ' from ' + room : ''}: ${r.closed} connection(s) closed with 4003`);
    if (state.presenceRoom) showPresence(state.presenceRoom);
  } catch (e) {
    result(`kick ${user}: ${e.message}`, true);
  }
}

async function sendMessage(room, text) {
  try {
    const r = await api('POST', `/admin/rooms/${encodeURIComponent(room)}/message`, { type: 'system.message', data: { text } });
    result(`message sent to ${room} (seq ${r.seq})`);
  } catch (e) {
    result(`message to ${room}: ${e.message}`, true);
  }
}

async function reload() {
  try {
    await api('POST', '/admin/reload');
    result('configuration reloaded');
  } catch (e) {
    result(`reload: ${e.message}`, true);
  }
}

async function drain() {
  if (!window.confirm('Drain this node? New connections are refused and every client is closed with 1012 (they reconnect elsewhere).')) return;
  result('draining…');
  try {
    const r = await api('POST', '/admin/drain');
    result(r.complete ? 'node drained: every connection closed' : `draining: ${r.detail || 'connections still closing'}`);
  } catch (e) {
    result(`drain: ${e.message}`, true);
  }
  refresh();
}

// ---------------------------------------------------------------- polling

async function refresh() {
  if (!state.token) {
    setStatus('enter the admin token', 'idle');
    return;
  }
  try {
    const [s, r] = await Promise.all([api('GET', '/admin/stats'), api('GET', '/admin/rooms')]);
    state.stats = s;
    state.rooms = r.rooms;
    state.error = '';
    state.polls++;
    renderStats(s);
    renderRooms(r.rooms);
    if (s.draining) setStatus('draining', 'draining');
    else setStatus('live', 'ok');
  } catch (e) {
    state.error = e.message;
    if (e.status === 401) {
      setStatus('wrong or missing token (401)', 'bad');
      stop();
      return;
    }
    setStatus(`unreachable: ${e.message}`, 'bad');
  }
}

function stop() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

function start() {
  stop();
  $('forget').hidden = !state.token;
  refresh();
  state.timer = setInterval(refresh, interval);
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.token = $('token').value.trim();
  $('token').value = '';
  sessionStorage.setItem(TOKEN_KEY, state.token);
  start();
});
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = '';
  stop();
  $('forget').hidden = true;
  setStatus('enter the admin token', 'idle');
});
$('presence-close').addEventListener('click', () => {
  state.presenceRoom = '';
  $('presence').hidden = true;
});
$('message-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sendMessage($('message-room').value.trim(), $('message-text').value);
  $('message-text').value = '';
});
$('kick-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  kick($('kick-user').value.trim(), $('kick-room').value.trim());
});
$('reload').addEventListener('click', reload);
$('drain').addEventListener('click', drain);

window.dashboard = { state, refresh, interval };
if (state.token) start();
