// Raftlite status dashboard: polls this node's /status, /nodes?ver=2 and /readyz every 2 s and renders
// them, plus a small SQL console over /db/request. Plain browser JavaScript, no dependencies.
//
// Rules the code keeps:
// - Every field of every response may be missing (the node answers while it is still starting or
//   recovering, with `store: {"open": false}`); renderers read through `get()` and never throw. Each
//   panel renders inside its own try/catch so one bad value cannot blank the page.
// - Data is never shown as current when it is not: when a refresh fails the page says "Unreachable",
//   dims the last values and says when they were received.
// - Server text is only ever inserted with textContent, never as HTML.
// - Panels are independent render functions fed from one refresh cycle, so later panels (replication
//   lag, snapshots, backups, rates) plug in the same way.
(function () {
  'use strict';

  var REFRESH_MS = 2000;
  var FETCH_TIMEOUT_MS = 1800;
  // Without a successful refresh for this long the page is stale even if no request has failed yet
  // (e.g. timers throttled in a background tab).
  var STALE_AFTER_MS = 3 * REFRESH_MS;
  var SQL_TIMEOUT_MS = 60000;

  // The API lives at the root that serves /console/, so the page also works behind a path prefix.
  var API_BASE = (function () {
    var p = window.location.pathname;
    var i = p.indexOf('/console/');
    if (i < 0 && /\/console$/.test(p)) i = p.length - '/console'.length;
    return i > 0 ? p.slice(0, i) : '';
  })();

  function apiURL(path) { return API_BASE + path; }

  // ---- small helpers --------------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  /** Reads a dotted path from a value; undefined when any step is missing or not an object. */
  function get(obj, path) {
    var parts = path.split('.');
    var cur = obj;
    for (var i = 0; i < parts.length; i++) {
      if (cur === null || typeof cur !== 'object') return undefined;
      cur = cur[parts[i]];
    }
    return cur;
  }

  function isObject(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }
  function present(v) { return v !== undefined && v !== null && v !== ''; }

  /** A display string for a scalar; '—' for missing. */
  function show(v) {
    if (!present(v)) return '—';
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    if (typeof v === 'object') {
      try { return JSON.stringify(v); } catch (e) { return String(v); }
    }
    return String(v);
  }

  function setText(id, v) {
    var el = $(id);
    if (el) el.textContent = v;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] === undefined) continue;
        if (k === 'class') node.className = attrs[k];
        else if (k === 'text') node.textContent = attrs[k];
        else node.setAttribute(k, attrs[k]);
      }
    }
    if (children) {
      for (var i = 0; i < children.length; i++) {
        var c = children[i];
        if (c === null || c === undefined) continue;
        node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
      }
    }
    return node;
  }

  function clear(node) { while (node && node.firstChild) node.removeChild(node.firstChild); }

  function formatBytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return undefined;
    var units = ['B', 'kB', 'MB', 'GB', 'TB'];
    var i = 0;
    var v = n;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + ' ' + units[i];
  }

  function pad2(n) { return (n < 10 ? '0' : '') + n; }

  function clockTime(d) {
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }

  /** An RFC 3339 timestamp as local date and time, or the original text if it does not parse. */
  function formatTimestamp(s) {
    if (!present(s)) return undefined;
    var d = new Date(String(s));
    if (isNaN(d.getTime())) return String(s);
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + clockTime(d);
  }

  function ago(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 1) return 'just now';
    if (s < 120) return s + ' s ago';
    var m = Math.floor(s / 60);
    if (m < 120) return m + ' min ago';
    return Math.floor(m / 60) + ' h ago';
  }

  function errorReason(err) {
    if (!err) return 'unknown error';
    if (err.name === 'AbortError') return 'request timed out';
    if (err instanceof TypeError) return 'network error (connection refused or dropped)';
    return err.message || String(err);
  }

  /** fetch with a deadline; rejects with AbortError when it passes. */
  function fetchWithTimeout(path, options, timeoutMs) {
    var opts = options || {};
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = null;
    var init = {
      method: opts.method || 'GET',
      headers: opts.headers,
      body: opts.body,
      cache: 'no-store',
      credentials: 'same-origin',
      signal: ctl ? ctl.signal : undefined
    };
    if (ctl) timer = setTimeout(function () { ctl.abort(); }, timeoutMs);
    return fetch(apiURL(path), init).then(function (resp) {
      return resp.text().then(function (text) {
        if (timer) clearTimeout(timer);
        return { status: resp.status, ok: resp.ok, text: text, headers: resp.headers };
      });
    }, function (err) {
      if (timer) clearTimeout(timer);
      throw err;
    });
  }

  function parseJSON(text) {
    try { return { ok: true, value: JSON.parse(text) }; } catch (e) { return { ok: false, error: e }; }
  }

  // ---- refresh cycle --------------------------------------------------------------------------------

  var state = {
    lastOk: null,          // Date of the last successful /status
    failing: false,        // the last refresh failed
    failReason: '',
    failingSince: null,    // Date of the first failure in the current run of failures
    status: null,          // last /status document
    inFlight: false
  };

  function fetchStatus() {
    return fetchWithTimeout('/status', null, FETCH_TIMEOUT_MS).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status + (r.text ? ': ' + r.text.trim().slice(0, 200) : ''));
      var parsed = parseJSON(r.text);
      if (!parsed.ok || !isObject(parsed.value)) throw new Error('invalid /status response');
      return parsed.value;
    });
  }

  function fetchNodes() {
    return fetchWithTimeout('/nodes?ver=2', null, FETCH_TIMEOUT_MS).then(function (r) {
      if (!r.ok) return { ok: false, message: (r.text || '').trim() || ('HTTP ' + r.status) };
      var parsed = parseJSON(r.text);
      if (!parsed.ok) return { ok: false, message: 'invalid /nodes response' };
      var nodes = get(parsed.value, 'nodes');
      return { ok: true, nodes: Array.isArray(nodes) ? nodes : [] };
    });
  }

  function fetchReadyz() {
    return fetchWithTimeout('/readyz', null, FETCH_TIMEOUT_MS).then(function (r) {
      return { status: r.status, ok: r.ok, text: r.text || '' };
    });
  }

  function settle(p) {
    return p.then(function (v) { return { ok: true, value: v }; }, function (e) { return { ok: false, error: e }; });
  }

  function refresh() {
    if (state.inFlight) return Promise.resolve();
    state.inFlight = true;
    return Promise.all([settle(fetchStatus()), settle(fetchNodes()), settle(fetchReadyz())])
      .then(function (r) {
        var status = r[0], nodes = r[1], readyz = r[2];
        if (!status.ok) {
          markUnreachable(errorReason(status.error));
          return;
        }
        state.lastOk = new Date();
        state.failing = false;
        state.failReason = '';
        state.failingSince = null;
        state.status = status.value;
        var nodesResult = nodes.ok ? nodes.value : { ok: false, message: 'could not fetch: ' + errorReason(nodes.error) };
        var readyResult = readyz.ok ? readyz.value : { error: errorReason(readyz.error) };
        renderAll(status.value, nodesResult, readyResult);
      })
      .catch(function (e) {
        // Rendering is guarded per panel; this is only a last line of defence.
        if (window.console) console.error('refresh failed', e);
      })
      .then(function () {
        state.inFlight = false;
        renderConnection();
      });
  }

  function markUnreachable(reason) {
    if (!state.failing) state.failingSince = new Date();
    state.failing = true;
    state.failReason = reason;
  }

  var loopTimer = null;
  function loop() {
    var started = Date.now();
    refresh().then(function () {
      var wait = Math.max(250, REFRESH_MS - (Date.now() - started));
      loopTimer = setTimeout(loop, wait);
    });
  }

  function refreshNow() {
    if (loopTimer) clearTimeout(loopTimer);
    loopTimer = null;
    loop();
  }

  // ---- connection state (header pill, banner, "last updated") -----------------------------------

  function renderConnection() {
    var now = Date.now();
    var pill = $('conn-pill');
    var banner = $('unreachable-banner');
    var stale = false;
    var label, pillState, updated;

    if (state.failing) {
      pillState = 'unreachable';
      label = 'Unreachable';
      stale = true;
    } else if (!state.lastOk) {
      pillState = 'connecting';
      label = 'Connecting…';
    } else if (now - state.lastOk.getTime() > STALE_AFTER_MS) {
      pillState = 'stale';
      label = 'Stale';
      stale = true;
    } else {
      pillState = 'live';
      label = 'Live';
    }

    if (state.lastOk) {
      updated = (stale ? 'Last update ' : 'Updated ') + clockTime(state.lastOk) + ' (' + ago(now - state.lastOk.getTime()) + ')';
    } else {
      updated = state.failing ? 'Never updated' : 'Not yet updated';
    }

    if (pill) pill.setAttribute('data-state', pillState);
    setText('conn-label', label);
    setText('last-updated', updated);
    document.body.classList.toggle('is-stale', stale);

    if (banner) {
      banner.hidden = !state.failing;
      if (state.failing) {
        setText('unreachable-title', 'Node unreachable' +
          (state.failingSince ? ' since ' + clockTime(state.failingSince) : ''));
        setText('unreachable-detail', '— ' + state.failReason + '. Retrying every ' + (REFRESH_MS / 1000) + ' s. ' +
          (state.lastOk
            ? 'The values below were received at ' + clockTime(state.lastOk) + ' and are not current.'
            : 'No status has been received from this node yet.'));
      }
    }
  }

  // ---- panels ---------------------------------------------------------------------------------------

  function safely(name, fn) {
    try {
      fn();
    } catch (e) {
      if (window.console) console.error('render ' + name, e);
    }
  }

  function renderAll(status, nodes, readyz) {
    safely('summary', function () { renderSummary(status, readyz); });
    safely('raft', function () { renderRaft(status); });
    safely('storage', function () { renderStorage(status); });
    safely('process', function () { renderProcess(status); });
    safely('readyz', function () { renderReadyz(readyz); });
    safely('nodes', function () { renderNodes(nodes, status); });
    safely('raw', function () { renderRaw(status); });
  }

  function tone(node, t) { if (node) node.setAttribute('data-tone', t); }

  function phaseTone(phase) {
    if (phase === 'ready') return 'ok';
    if (phase === 'shutting down' || phase === 'stopped') return 'muted';
    if (phase === 'failed' || phase === 'error') return 'bad';
    return 'warn';
  }

  function roleTone(role) {
    switch (role) {
      case 'Leader': return 'ok';
      case 'Follower': return 'muted';
      case 'Candidate': return 'warn';
      case 'Shutdown': return 'bad';
      default: return 'muted';
    }
  }

  /**
   * Recovery progress in whatever shape the node reports it: a fraction (0..1), a percentage, or an
   * object with `percent`, or `done`/`current` and `total`. Returns {percent, label} or null.
   */
  function readProgress(p) {
    if (typeof p === 'number' && isFinite(p)) {
      return { percent: p <= 1 ? p * 100 : p, label: '' };
    }
    if (!isObject(p)) return null;
    var label = present(p.label) ? String(p.label) : (present(p.stage) ? String(p.stage) : '');
    if (typeof p.percent === 'number') return { percent: p.percent, label: label };
    if (typeof p.fraction === 'number') return { percent: p.fraction * 100, label: label };
    var done = typeof p.done === 'number' ? p.done : p.current;
    if (typeof done === 'number' && typeof p.total === 'number' && p.total > 0) {
      var unit = present(p.unit) ? ' ' + p.unit : '';
      return { percent: (done / p.total) * 100, label: (label ? label + ': ' : '') + done + ' / ' + p.total + unit };
    }
    return null;
  }

  function renderSummary(status, readyz) {
    var store = isObject(status.store) ? status.store : {};
    var open = store.open === true;
    var nodeID = get(store, 'node_id');

    setText('node-id', present(nodeID) ? String(nodeID) : '—');

    var role = get(store, 'raft.state');
    var roleEl = $('raft-state');
    if (roleEl) {
      roleEl.textContent = present(role) ? String(role) : '—';
      tone(roleEl, present(role) ? roleTone(String(role)) : 'muted');
    }
    setText('role-note', open ? '' : 'store not open');

    var phase = get(status, 'node.phase');
    var phaseEl = $('phase');
    if (phaseEl) {
      phaseEl.textContent = present(phase) ? String(phase) : 'unknown';
      tone(phaseEl, present(phase) ? phaseTone(String(phase)) : 'muted');
    }
    var detail = get(status, 'node.phase_detail');
    setText('phase-detail', present(detail) ? String(detail) : '');

    var progress = readProgress(get(status, 'node.progress'));
    var progWrap = $('phase-progress');
    if (progWrap) {
      progWrap.hidden = !progress;
      if (progress) {
        var pct = Math.max(0, Math.min(100, progress.percent));
        $('phase-progress-bar').value = pct;
        setText('phase-progress-label', pct.toFixed(1) + ' %' + (progress.label ? ' · ' + progress.label : ''));
      }
    }

    var leaderID = get(store, 'leader.node_id');
    var leaderAddr = get(store, 'leader.addr');
    var leaderText;
    var leaderNote = [];
    if (!open) leaderText = '—';
    else if (present(leaderID)) leaderText = String(leaderID);
    else leaderText = 'none';
    if (open && present(leaderID) && String(leaderID) === String(nodeID)) leaderNote.push('this node');
    if (open && present(leaderAddr)) leaderNote.push(String(leaderAddr));
    setText('leader', leaderText);
    setText('leader-addr', leaderNote.join(' · '));
    tone($('leader'), open && !present(leaderID) ? 'bad' : 'muted');

    var readyEl = $('ready');
    if (readyEl) {
      if (readyz && typeof readyz.status === 'number') {
        var isReady = readyz.status === 200;
        readyEl.textContent = isReady ? 'ready' : 'not ready';
        // Expected while the node starts or recovers; alarming once it says it is ready.
        tone(readyEl, isReady ? 'ok' : (phase === 'ready' ? 'bad' : 'warn'));
      } else {
        readyEl.textContent = 'unknown';
        tone(readyEl, 'muted');
      }
    }

    setText('uptime', show(get(status, 'node.uptime')));
    var started = formatTimestamp(get(status, 'node.start_time'));
    setText('start-time', started ? 'since ' + started : '');

    var host = get(status, 'os.hostname');
    var bind = get(status, 'http.bind_addr');
    var brand = [];
    if (present(nodeID)) brand.push('node ' + nodeID);
    if (present(host)) brand.push(String(host));
    if (present(bind)) brand.push(String(bind));
    setText('brand-node', brand.join(' · '));
    document.title = 'Raftlite · ' + (present(nodeID) ? 'node ' + nodeID : 'status') +
      (present(role) ? ' · ' + role : '');

    var version = get(status, 'build.version');
    var commit = get(status, 'build.commit');
    setText('footer-build', 'Raftlite' + (present(version) ? ' ' + version : '') +
      (present(commit) && commit !== 'unknown' ? ' (' + String(commit).slice(0, 12) + ')' : ''));
  }

  /**
   * Fills a <dl> from rows [label, value, {always, mono, title}]. Rows whose value is missing are left
   * out unless `always` is set (then shown as a muted dash), so fields the node adds later just appear.
   */
  function fillKV(id, rows) {
    var dl = $(id);
    if (!dl) return;
    var frag = document.createDocumentFragment();
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var opts = row[2] || {};
      var v = row[1];
      if (!present(v) && !opts.always) continue;
      var dd = el('dd', { class: (opts.mono ? 'mono' : '') + (present(v) ? '' : ' missing'), title: opts.title });
      dd.textContent = show(v);
      frag.appendChild(el('dt', { text: row[0] }));
      frag.appendChild(dd);
    }
    clear(dl);
    dl.appendChild(frag);
  }

  function setClosedPlaceholder(panelID, open, status) {
    var panel = $(panelID);
    if (!panel) return;
    var p = panel.querySelector('[data-when-closed]');
    if (!p) return;
    p.hidden = open;
    if (!open) {
      var phase = get(status, 'node.phase');
      p.textContent = 'Store not open yet' + (present(phase) ? ' (node is ' + phase + ').' : '.');
    }
  }

  function renderRaft(status) {
    var store = isObject(status.store) ? status.store : {};
    var open = store.open === true;
    setClosedPlaceholder('panel-raft', open, status);
    if (!open) { fillKV('kv-raft', []); return; }
    var raft = isObject(store.raft) ? store.raft : {};
    var members = Array.isArray(store.nodes) ? store.nodes : null;
    var voters = members ? members.filter(function (n) { return get(n, 'suffrage') !== 'nonvoter'; }).length : undefined;
    var membersText = members
      ? members.length + ' (' + voters + ' voter' + (voters === 1 ? '' : 's') + ')'
      : undefined;
    fillKV('kv-raft', [
      ['State', raft.state, { always: true }],
      ['Voter', raft.voter, { always: true }],
      ['Term', raft.term],
      ['Peers', raft.num_peers, { always: true }],
      ['Members', membersText],
      ['Commit index', raft.commit_index],
      ['Applied index', raft.applied_index],
      ['Last log index', raft.last_log_index],
      ['Last log term', raft.last_log_term],
      ['Last snapshot index', raft.last_snapshot_index],
      ['Last contact', raft.last_contact],
      ['FSM pending', raft.fsm_pending],
      ['Log size', present(raft.log_size_friendly) ? raft.log_size_friendly : formatBytes(raft.log_size)],
      ['Raft address', store.addr, { mono: true }]
    ]);
  }

  function renderStorage(status) {
    var store = isObject(status.store) ? status.store : {};
    var open = store.open === true;
    setClosedPlaceholder('panel-storage', open, status);
    if (!open) { fillKV('kv-storage', []); return; }
    var sq = isObject(store.sqlite3) ? store.sqlite3 : {};
    var fk = get(store, 'db_conf.fk_constraints');
    var snaps = get(store, 'snapshot_store.snapshots');
    fillKV('kv-storage', [
      ['Data directory', store.dir, { always: true, mono: true }],
      ['Directory size', present(store.dir_size_friendly) ? store.dir_size_friendly : formatBytes(store.dir_size), { always: true }],
      ['Database size', present(sq.db_size_friendly) ? sq.db_size_friendly : formatBytes(sq.db_size), { always: true }],
      ['WAL size', formatBytes(sq.wal_size)],
      ['SQLite version', sq.version],
      ['Database file', sq.path, { mono: true }],
      ['Foreign keys', typeof fk === 'boolean' ? (fk ? 'enforced' : 'off') : undefined],
      ['Snapshots', Array.isArray(snaps) ? String(snaps.length) : undefined],
      ['Last modified', formatTimestamp(sq.last_modified)]
    ]);
  }

  function renderProcess(status) {
    var rt = isObject(status.runtime) ? status.runtime : {};
    var platform = present(rt.GOOS) || present(rt.GOARCH)
      ? [rt.GOOS, rt.GOARCH].filter(present).join('/') : undefined;
    fillKV('kv-process', [
      ['Version', get(status, 'build.version'), { always: true }],
      ['Commit', get(status, 'build.commit'), { mono: true }],
      ['Hostname', get(status, 'os.hostname'), { always: true }],
      ['PID', get(status, 'os.pid'), { always: true }],
      ['HTTP address', get(status, 'http.bind_addr'), { mono: true }],
      ['Auth', get(status, 'http.auth')],
      ['Runtime', [rt.version, platform].filter(present).join(' · ') || undefined],
      ['CPUs', rt.num_cpu],
      ['Threads', rt.num_goroutine],
      ['Started', formatTimestamp(get(status, 'node.start_time'))],
      ['Node clock', formatTimestamp(get(status, 'node.current_time'))]
    ]);
  }

  function renderReadyz(readyz) {
    var list = $('readyz-checks');
    if (!list) return;
    clear(list);
    if (!readyz || typeof readyz.status !== 'number') {
      list.appendChild(el('li', { 'data-ok': 'false' }, [
        el('span', { class: 'mark', 'aria-hidden': 'true', text: '✗' }),
        el('span', { text: 'could not fetch /readyz' + (readyz && readyz.error ? ': ' + readyz.error : '') })
      ]));
      return;
    }
    var lines = readyz.text.split('\n').map(function (l) { return l.trim(); }).filter(function (l) { return l; });
    if (!lines.length) lines = ['HTTP ' + readyz.status];
    lines.forEach(function (line) {
      var text = line.replace(/^\[\+\]\s*/, '');
      var ok = / ok$/.test(text) && !/ not ok$/.test(text);
      list.appendChild(el('li', { 'data-ok': ok ? 'true' : 'false' }, [
        el('span', { class: 'mark', 'aria-hidden': 'true', text: ok ? '✓' : '✗' }),
        el('span', { text: text }),
        el('span', { class: 'visually-hidden', text: ok ? ' (passing)' : ' (failing)' })
      ]));
    });
  }

  function badge(text, t) {
    return el('span', { class: 'badge small', 'data-tone': t, text: text });
  }

  function renderNodes(result, status) {
    var body = $('nodes-body');
    var msg = $('nodes-message');
    var wrap = $('nodes-wrap');
    if (!body) return;
    clear(body);
    if (!result || !result.ok) {
      if (msg) {
        msg.hidden = false;
        msg.textContent = 'Membership unavailable: ' + ((result && result.message) || 'unknown error');
      }
      if (wrap) wrap.hidden = true;
      return;
    }
    if (msg) msg.hidden = true;
    if (wrap) wrap.hidden = false;
    var self = get(status, 'store.node_id');
    var nodes = result.nodes.slice().filter(isObject);
    if (!nodes.length) {
      body.appendChild(el('tr', null, [el('td', { colspan: '8', class: 'null', text: 'No members reported.' })]));
      return;
    }
    nodes.forEach(function (n) {
      var id = present(n.id) ? String(n.id) : '—';
      var idCell = el('td', { class: 'mono' }, [id]);
      if (present(self) && String(n.id) === String(self)) {
        idCell.appendChild(el('span', { class: 'hint', text: ' (this node)' }));
      }
      var api = present(n.api_addr) ? String(n.api_addr) : '';
      var apiCell = el('td', { class: 'mono' });
      if (/^https?:\/\//.test(api)) {
        apiCell.appendChild(el('a', { href: api.replace(/\/+$/, '') + '/console/', text: api }));
      } else {
        apiCell.textContent = api || '—';
      }
      var reachCell = el('td', null, [n.reachable === true ? badge('yes', 'ok') : n.reachable === false ? badge('no', 'bad') : '—']);
      if (present(n.error)) {
        reachCell.appendChild(el('div', { class: 'hint', text: String(n.error) }));
      }
      body.appendChild(el('tr', null, [
        idCell,
        apiCell,
        el('td', { class: 'mono', text: show(n.addr) }),
        el('td', null, [n.leader === true ? badge('Leader', 'ok') : badge('Follower', 'muted')]),
        el('td', { text: typeof n.voter === 'boolean' ? (n.voter ? 'voter' : 'non-voter') : '—' }),
        reachCell,
        el('td', { class: 'mono', text: show(n.version) }),
        el('td', { class: 'num mono', text: present(n.time_s) ? String(n.time_s) : '—' })
      ]));
    });
  }

  var lastRaw = '';
  function renderRaw(status) {
    var text = JSON.stringify(status, null, 2);
    if (text === lastRaw) return;
    lastRaw = text;
    setText('raw-status', text);
  }

  // ---- SQL console ----------------------------------------------------------------------------------

  var sqlRunning = false;

  function sqlToRun(textarea) {
    var start = textarea.selectionStart, end = textarea.selectionEnd;
    if (typeof start === 'number' && typeof end === 'number' && end > start) {
      var sel = textarea.value.slice(start, end);
      if (sel.trim()) return sel;
    }
    return textarea.value;
  }

  function runSQL() {
    var textarea = $('sql-input');
    var out = $('sql-output');
    var btn = $('sql-run');
    if (!textarea || !out || sqlRunning) return;
    var sql = sqlToRun(textarea).trim();
    if (!sql) {
      clear(out);
      out.appendChild(el('p', { class: 'placeholder', text: 'Enter a statement to run.' }));
      return;
    }
    var levelEl = $('sql-level');
    var level = levelEl ? levelEl.value : 'weak';
    sqlRunning = true;
    if (btn) { btn.disabled = true; btn.textContent = 'Running…'; }
    out.setAttribute('aria-busy', 'true');
    var started = performance.now();
    // `associative` is a presence flag in rqlite's API (`?associative=false` turns it ON), so it is
    // left out to get the columns/types/values form. The renderer accepts both forms anyway.
    var path = '/db/request?level=' + encodeURIComponent(level);
    fetchWithTimeout(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([sql])
    }, SQL_TIMEOUT_MS).then(function (r) {
      renderSQLResponse(out, r, performance.now() - started, level);
    }, function (err) {
      clear(out);
      out.appendChild(el('p', { class: 'error-text', text: 'Request failed: ' + errorReason(err) }));
    }).then(function () {
      sqlRunning = false;
      if (btn) { btn.disabled = false; btn.textContent = 'Run'; }
      out.removeAttribute('aria-busy');
    });
  }

  function renderSQLResponse(out, r, elapsedMs, level) {
    clear(out);
    var parsed = parseJSON(r.text);
    if (!r.ok || !parsed.ok || !isObject(parsed.value)) {
      var body = (r.text || '').trim();
      out.appendChild(el('p', { class: 'error-text', text: 'HTTP ' + r.status + (body ? ': ' + body : '') }));
      return;
    }
    var env = parsed.value;
    var servedBy = r.headers && r.headers.get ? r.headers.get('X-RQLITE-SERVED-BY') : null;
    var meta = [Math.round(elapsedMs) + ' ms', 'level ' + level];
    if (typeof env.time === 'number') meta.push('server ' + (env.time * 1000).toFixed(2) + ' ms');
    if (present(env.raft_index)) meta.push('raft index ' + env.raft_index);
    if (servedBy) meta.push('served by ' + servedBy);
    out.appendChild(el('div', { class: 'result-head' }, [el('span', { text: meta.join(' · ') })]));

    if (present(env.error)) {
      out.appendChild(el('p', { class: 'error-text', 'data-testid': 'sql-error', text: String(env.error) }));
    }
    var results = Array.isArray(env.results) ? env.results : [];
    if (!results.length && !present(env.error)) {
      out.appendChild(el('p', { class: 'ok-text', text: 'No results.' }));
    }
    results.forEach(function (res, i) {
      out.appendChild(renderResult(res, i, results.length));
    });
  }

  function renderResult(res, index, count) {
    var box = el('div', { class: 'result' });
    var head = el('div', { class: 'result-head' });
    if (count > 1) head.appendChild(el('span', { class: 'title', text: 'Statement ' + (index + 1) }));
    box.appendChild(head);
    if (!isObject(res)) {
      box.appendChild(el('p', { class: 'error-text', text: 'unexpected result: ' + show(res) }));
      return box;
    }
    if (typeof res.time === 'number') head.appendChild(el('span', { text: (res.time * 1000).toFixed(2) + ' ms' }));
    if (present(res.error)) {
      box.appendChild(el('p', { class: 'error-text', 'data-testid': 'sql-error', text: String(res.error) }));
      return box;
    }
    var table = rowsTable(res);
    if (table) {
      head.appendChild(el('span', { text: table.rowCount + (table.rowCount === 1 ? ' row' : ' rows') }));
      ensureTitle(head, 'Rows');
      box.appendChild(table.node);
      return box;
    }
    // A write result: zero-valued fields are omitted by the server, so {} is a successful DDL.
    var parts = [];
    parts.push('rows affected: ' + (typeof res.rows_affected === 'number' ? res.rows_affected : 0));
    if (present(res.last_insert_id)) parts.push('last insert id: ' + res.last_insert_id);
    ensureTitle(head, 'OK');
    box.appendChild(el('p', { class: 'result-meta', 'data-testid': 'sql-write', text: parts.join(' · ') }));
    return box;
  }

  /** Gives a single-statement result a title ("Rows", "OK"); multi-statement ones are numbered. */
  function ensureTitle(head, text) {
    var first = head.firstChild;
    if (first && first.classList && first.classList.contains('title')) return;
    head.insertBefore(el('span', { class: 'title', text: text }), first);
  }

  /** A rows result as a table, from the columns/types/values form or the associative types/rows form. */
  function rowsTable(res) {
    var columns, types, rows;
    if (Array.isArray(res.columns)) {
      columns = res.columns.map(function (c) { return String(c); });
      types = Array.isArray(res.types) ? res.types : [];
      rows = Array.isArray(res.values) ? res.values : [];
    } else if (Array.isArray(res.rows)) {
      var typeMap = isObject(res.types) ? res.types : {};
      columns = Object.keys(typeMap);
      if (!columns.length && isObject(res.rows[0])) columns = Object.keys(res.rows[0]);
      types = columns.map(function (c) { return typeMap[c]; });
      rows = res.rows.map(function (r) {
        return columns.map(function (c) { return isObject(r) ? r[c] : undefined; });
      });
    } else {
      return null;
    }
    var headRow = el('tr', null, columns.map(function (c, i) {
      var th = el('th', { scope: 'col' }, [c]);
      if (present(types[i])) th.appendChild(el('span', { class: 'col-type', text: String(types[i]) }));
      return th;
    }));
    var tbody = el('tbody');
    rows.forEach(function (row) {
      var cells = Array.isArray(row) ? row : [];
      var tr = el('tr');
      for (var i = 0; i < Math.max(columns.length, cells.length); i++) {
        tr.appendChild(valueCell(cells[i]));
      }
      tbody.appendChild(tr);
    });
    if (!rows.length) {
      tbody.appendChild(el('tr', null, [el('td', { colspan: String(Math.max(1, columns.length)), class: 'null', text: 'No rows.' })]));
    }
    var table = el('table', { class: 'data', 'data-testid': 'sql-table' }, [el('thead', null, [headRow]), tbody]);
    return { node: el('div', { class: 'table-wrap' }, [table]), rowCount: rows.length };
  }

  function valueCell(v) {
    if (v === null || v === undefined) return el('td', { class: 'null', text: 'NULL' });
    if (typeof v === 'number') return el('td', { class: 'num mono', text: String(v) });
    if (typeof v === 'boolean') return el('td', { class: 'mono', text: v ? 'true' : 'false' });
    if (typeof v === 'object') return el('td', { class: 'mono text', text: JSON.stringify(v) });
    return el('td', { class: 'text', text: String(v) });
  }

  // ---- start ----------------------------------------------------------------------------------------

  function init() {
    var form = $('sql-form');
    if (form) form.addEventListener('submit', function (e) { e.preventDefault(); runSQL(); });
    var textarea = $('sql-input');
    if (textarea) {
      textarea.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          runSQL();
        }
      });
    }
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible') refreshNow();
    });
    // Keeps "n s ago" and the stale check current between refreshes.
    setInterval(renderConnection, 1000);
    renderConnection();
    loop();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
