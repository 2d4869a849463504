// Raftlite status dashboard: polls this node's /status, /nodes?ver=2&nonvoters, /readyz and /metrics every
// 2 s and renders the cluster's health, its members, this node's recovery, snapshots, auto-backups and
// request rates, plus a small SQL console over /db/request. Plain browser JavaScript, no dependencies.
//
// Where the numbers come from: everything is read from the node serving this page. Other members'
// reachability comes from its /nodes probe; their replication progress from the leader's
// `store.raft.followers` (so only a leader's page has it). A peer's own /status is only used when the
// browser may read it cross-origin (the peer runs with -http-allow-origin); otherwise it is not guessed.
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
    return fetchWithTimeout('/nodes?ver=2&nonvoters', null, FETCH_TIMEOUT_MS).then(function (r) {
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

  function fetchMetrics() {
    return fetchWithTimeout('/metrics', null, FETCH_TIMEOUT_MS).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return { at: performance.now(), samples: parseProm(r.text) };
    });
  }

  function settle(p) {
    return p.then(function (v) { return { ok: true, value: v }; }, function (e) { return { ok: false, error: e }; });
  }

  function refresh() {
    if (state.inFlight) return Promise.resolve();
    state.inFlight = true;
    return Promise.all([settle(fetchStatus()), settle(fetchNodes()), settle(fetchReadyz()), settle(fetchMetrics())])
      .then(function (r) {
        var status = r[0], nodes = r[1], readyz = r[2], metrics = r[3];
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
        var metricsResult = metrics.ok ? metrics.value : { error: errorReason(metrics.error) };
        renderAll(status.value, nodesResult, readyResult, metricsResult);
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

    if (state.failing || stale) {
      setClusterHealth('unknown', 'Cluster status unknown',
        state.failing ? 'This node cannot be reached, so nothing below is current.' : 'No fresh data from this node.');
    }

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

  function renderAll(status, nodes, readyz, metrics) {
    var members = null;
    safely('members', function () { members = mergeMembers(status, nodes); });
    safely('cluster', function () { renderCluster(status, nodes, members); });
    safely('summary', function () { renderSummary(status, readyz); });
    safely('traffic', function () { renderTraffic(metrics); });
    safely('snapshots', function () { renderSnapshots(status); });
    safely('backups', function () { renderBackups(status); });
    safely('raft', function () { renderRaft(status); });
    safely('storage', function () { renderStorage(status); });
    safely('process', function () { renderProcess(status); });
    safely('readyz', function () { renderReadyz(readyz); });
    safely('nodes', function () { renderNodes(nodes, status, members); });
    safely('peers', function () { pollPeers(members, status); });
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
      if (typeof Node !== 'undefined' && v instanceof Node) dd.appendChild(v);
      else dd.textContent = show(v);
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
      ['Last contact', raft.state === 'Leader' ? 'n/a (leader)' : contactText(raft, false)],
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

  // ---- durations, metrics ---------------------------------------------------------------------------

  /** A Go duration string ("1m30.5s", "44.26ms", "375µs", "0s") or a number of seconds, in ms. */
  function parseDuration(v) {
    if (typeof v === 'number' && isFinite(v)) return v * 1000;
    if (!present(v)) return undefined;
    var s = String(v).trim();
    if (s === '0') return 0;
    var re = /(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/g;
    var scale = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
    var total = 0, matched = '', m;
    while ((m = re.exec(s)) !== null) { total += parseFloat(m[1]) * scale[m[2]]; matched += m[0]; }
    return matched && matched.length === s.replace(/^-/, '').length ? total : undefined;
  }

  function formatMs(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return undefined;
    if (ms < 1) return (ms * 1000).toFixed(0) + ' µs';
    if (ms < 10) return ms.toFixed(2) + ' ms';
    if (ms < 1000) return ms.toFixed(0) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
    var m = Math.floor(ms / 60000);
    var sec = Math.round((ms % 60000) / 1000);
    if (m >= 120) return Math.floor(m / 60) + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
    return m + ' min' + (sec ? ' ' + sec + ' s' : '');
  }

  function formatRate(v) {
    if (typeof v !== 'number' || !isFinite(v)) return '—';
    if (v === 0) return '0';
    if (v < 10) return v.toFixed(1);
    return Math.round(v).toLocaleString('en-US');
  }

  /** A timestamp as "local time · n ago", or undefined. */
  function whenText(s) {
    if (!present(s)) return undefined;
    var d = new Date(String(s));
    if (isNaN(d.getTime())) return String(s);
    return formatTimestamp(s) + ' · ' + ago(Date.now() - d.getTime());
  }

  /** Prometheus text format → {name: [{labels, value}]}. Ignores comments and malformed lines. */
  function parseProm(text) {
    var out = {};
    var lines = String(text || '').split('\n');
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i].trim();
      if (!line || line.charAt(0) === '#') continue;
      var m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      var labels = {};
      if (m[3]) {
        var lre = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g, lm;
        while ((lm = lre.exec(m[3])) !== null) labels[lm[1]] = lm[2];
      }
      var value = parseFloat(m[4]);
      if (!isFinite(value)) continue;
      (out[m[1]] = out[m[1]] || []).push({ labels: labels, value: value });
    }
    return out;
  }

  /** Sum of a metric's samples whose labels pass `filter`; undefined when the metric is absent. */
  function promSum(samples, name, filter) {
    var list = samples[name];
    if (!list) return undefined;
    var sum = 0;
    for (var i = 0; i < list.length; i++) if (!filter || filter(list[i].labels)) sum += list[i].value;
    return sum;
  }

  var TRAFFIC_KINDS = [
    { key: 'write', endpoint: 'execute' },
    { key: 'read', endpoint: 'query' },
    { key: 'mixed', endpoint: 'request' }
  ];
  var SPARK_POINTS = 40;
  var traffic = { prev: null, history: { write: [], read: [], mixed: [] } };

  function trafficTotals(samples) {
    var t = {};
    TRAFFIC_KINDS.forEach(function (k) {
      var byEndpoint = function (l) { return l.endpoint === k.endpoint; };
      t[k.key] = {
        count: promSum(samples, 'raftlite_http_requests_total', byEndpoint),
        durSum: promSum(samples, 'raftlite_http_request_duration_seconds_sum', byEndpoint),
        durCount: promSum(samples, 'raftlite_http_request_duration_seconds_count', byEndpoint)
      };
    });
    t.errors = promSum(samples, 'raftlite_http_requests_total', function (l) {
      return /^(execute|query|request)$/.test(l.endpoint) && Number(l.status) >= 400;
    });
    t.fsyncSum = promSum(samples, 'raftlite_log_fsync_seconds_sum');
    t.fsyncCount = promSum(samples, 'raftlite_log_fsync_seconds_count');
    t.proposals = promSum(samples, 'raftlite_raft_proposals_total');
    return t;
  }

  function delta(a, b) {
    return typeof a === 'number' && typeof b === 'number' && b >= a ? b - a : undefined;
  }

  function renderSpark(id, values) {
    var svg = $(id);
    if (!svg) return;
    var line = svg.querySelector('polyline');
    if (!line) return;
    var max = Math.max.apply(null, values.concat([0.0001]));
    var step = 100 / (SPARK_POINTS - 1);
    var offset = SPARK_POINTS - values.length;
    var pts = values.map(function (v, i) {
      return ((offset + i) * step).toFixed(1) + ',' + (22 - (v / max) * 20).toFixed(1);
    });
    line.setAttribute('points', pts.join(' '));
  }

  function renderTraffic(metrics) {
    var msg = $('traffic-message');
    var rates = $('traffic-rates');
    if (!metrics || !metrics.samples) {
      traffic.prev = null;
      if (msg) { msg.hidden = false; msg.textContent = 'Metrics unavailable: ' + ((metrics && metrics.error) || 'unknown error') + '.'; }
      if (rates) rates.hidden = true;
      fillKV('kv-traffic', []);
      return;
    }
    var cur = { at: metrics.at, totals: trafficTotals(metrics.samples) };
    var prev = traffic.prev;
    traffic.prev = cur;
    if (!prev) return; // the first sample only sets the baseline ("Measuring…")
    var secs = (cur.at - prev.at) / 1000;
    if (!(secs > 0)) return;
    var restarted = false;
    var out = {};
    TRAFFIC_KINDS.forEach(function (k) {
      var a = prev.totals[k.key], b = cur.totals[k.key];
      if (typeof a.count === 'number' && typeof b.count === 'number' && b.count < a.count) restarted = true;
      var n = delta(a.count, b.count);
      var dc = delta(a.durCount, b.durCount);
      var ds = delta(a.durSum, b.durSum);
      out[k.key] = {
        rate: n === undefined ? (b.count === undefined ? 0 : undefined) : n / secs,
        latency: dc ? (ds / dc) * 1000 : undefined
      };
      var h = traffic.history[k.key];
      h.push(typeof out[k.key].rate === 'number' ? out[k.key].rate : 0);
      while (h.length > SPARK_POINTS) h.shift();
    });
    if (restarted) {
      // Counters went backwards: the node restarted. Start measuring again rather than show nonsense.
      traffic.history = { write: [], read: [], mixed: [] };
      return;
    }
    if (msg) msg.hidden = true;
    if (rates) rates.hidden = false;
    setText('rate-write', formatRate(out.write.rate));
    setText('rate-read', formatRate(out.read.rate));
    setText('lat-write', formatMs(out.write.latency) || 'n/a (idle)');
    setText('lat-read', formatMs(out.read.latency) || 'n/a (idle)');
    renderSpark('spark-write', traffic.history.write);
    renderSpark('spark-read', traffic.history.read);

    var P = prev.totals, C = cur.totals;
    var errs = delta(P.errors, C.errors);
    var fsyncN = delta(P.fsyncCount, C.fsyncCount);
    var props = delta(P.proposals, C.proposals);
    fillKV('kv-traffic', [
      ['Unified /db/request', formatRate(out.mixed.rate) + ' /s' +
        (out.mixed.latency !== undefined ? ' · mean ' + formatMs(out.mixed.latency) : ''), { always: true }],
      ['Failed requests', errs === undefined ? undefined : formatRate(errs / secs) + ' /s'],
      ['Raft proposals', props === undefined ? undefined : formatRate(props / secs) + ' /s'],
      ['Log fsync (mean)', fsyncN ? formatMs((delta(P.fsyncSum, C.fsyncSum) / fsyncN) * 1000) : (fsyncN === 0 ? 'n/a (idle)' : undefined)],
      ['Window', secs.toFixed(1) + ' s, this node only']
    ]);
  }

  // ---- cluster: members, health ---------------------------------------------------------------------

  // What the page has learnt about each member across refreshes: the API address (an unreachable member's
  // probe omits it) and when it was last seen reachable.
  var memory = {};
  // Peers' own /status, fetched cross-origin when the peer allows it: id -> {status, at, busy, fails, nextTry}.
  var peers = {};
  var PEER_FRESH_MS = 3 * REFRESH_MS;

  /** One list of members from /nodes (reachability) and this node's configuration (store.nodes). */
  function mergeMembers(status, nodesResult) {
    var list = [];
    var byID = {};
    function entry(id) {
      var key = String(id);
      if (!byID[key]) { byID[key] = { id: key }; list.push(byID[key]); }
      return byID[key];
    }
    var probed = nodesResult && nodesResult.ok;
    if (probed) {
      nodesResult.nodes.filter(isObject).forEach(function (n) {
        if (!present(n.id)) return;
        var e = entry(n.id);
        e.api_addr = present(n.api_addr) ? String(n.api_addr) : undefined;
        e.addr = n.addr;
        e.voter = typeof n.voter === 'boolean' ? n.voter : undefined;
        e.reachable = typeof n.reachable === 'boolean' ? n.reachable : undefined;
        e.leader = n.leader === true;
        e.error = n.error;
        e.version = n.version;
        e.probe = n.time_s;
      });
    }
    var cfg = get(status, 'store.nodes');
    if (Array.isArray(cfg)) {
      cfg.filter(isObject).forEach(function (n) {
        if (!present(n.id)) return;
        var e = entry(n.id);
        if (!present(e.addr)) e.addr = n.addr;
        if (e.voter === undefined && present(n.suffrage)) e.voter = n.suffrage !== 'nonvoter';
      });
    }
    var leaderID = get(status, 'store.leader.node_id');
    var self = get(status, 'store.node_id');
    var now = Date.now();
    list.forEach(function (e) {
      if (present(leaderID) && String(leaderID) === e.id) e.leader = true;
      e.self = present(self) && String(self) === e.id;
      if (e.self && e.reachable === undefined) e.reachable = true; // it answered this page
      var mem = memory[e.id] || (memory[e.id] = {});
      if (present(e.api_addr)) mem.api_addr = e.api_addr;
      else if (present(mem.api_addr)) { e.api_addr = mem.api_addr; e.apiRemembered = true; }
      if (e.reachable === true) mem.lastSeen = now;
      e.lastSeen = mem.lastSeen;
    });
    list.sort(function (a, b) {
      var na = Number(a.id), nb = Number(b.id);
      if (isFinite(na) && isFinite(nb)) return na - nb;
      return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    });
    return { list: list, probed: !!probed };
  }

  var lastHealth = '';
  function setClusterHealth(health, title, detail) {
    var banner = $('cluster-banner');
    if (banner) banner.setAttribute('data-health', health);
    // Rewritten only on change so the live region announces transitions, not every refresh.
    if (lastHealth !== health + '|' + title) { setText('cluster-health', title); lastHealth = health + '|' + title; }
    setText('cluster-detail', detail);
    if (health === 'unknown') {
      setText('cluster-tolerance', '—');
      setText('cluster-voters', '—');
      setText('cluster-leader', '—');
    }
  }

  function capitalize(t) { return t ? t.charAt(0).toUpperCase() + t.slice(1) : t; }
  function plural(n, word) { return n + ' ' + word + (n === 1 ? '' : 's'); }

  function renderCluster(status, nodesResult, members) {
    var store = isObject(status.store) ? status.store : {};
    if (store.open !== true) {
      var phase = get(status, 'node.phase');
      setClusterHealth('unknown', 'Cluster status unknown',
        'This node\u2019s store is not open yet' + (present(phase) ? ' (' + phase + ')' : '') + '.');
      setText('cluster-leader', '—');
      return;
    }
    var list = members ? members.list : [];
    var voters = list.filter(function (m) { return m.voter !== false; });
    var V = voters.length;
    var unreachable = voters.filter(function (m) { return m.reachable === false; });
    var unknown = voters.filter(function (m) { return m.reachable === undefined; });
    var reachableN = V - unreachable.length - unknown.length;
    var quorum = Math.floor(V / 2) + 1;
    // A cluster of V voters survives floor((V-1)/2) failures; each unreachable voter uses one up.
    var tolerable = Math.max(0, Math.floor((V - 1) / 2) - unreachable.length);
    var leaderID = get(store, 'leader.node_id');
    var leaderKnown = present(leaderID);

    setText('cluster-tolerance', V ? String(tolerable) : '—');
    setText('cluster-voters', V ? reachableN + ' / ' + V : '—');
    setText('cluster-leader', leaderKnown ? String(leaderID) : 'none');

    var names = function (ms) { return ms.map(function (m) { return 'node ' + m.id; }).join(', '); };
    var tolText = 'can tolerate ' + plural(tolerable, 'more failure');
    if (!leaderKnown) {
      setClusterHealth('noleader', 'No leader',
        'No leader is known to this node, so writes and strong or linearizable reads fail until one is elected. ' +
        (V ? reachableN + ' of ' + plural(V, 'voter') + ' reachable; a leader needs ' + quorum + '.' : ''));
      return;
    }
    if (!members || !members.probed) {
      setClusterHealth('degraded', 'Reachability unknown',
        'Leader is node ' + leaderID + ', but the member probe (/nodes) failed, so reachability is not known.');
      return;
    }
    if (unreachable.length && reachableN < quorum) {
      setClusterHealth('noleader', 'Quorum lost',
        plural(unreachable.length, 'voter') + ' unreachable (' + names(unreachable) + '); only ' + reachableN + ' of ' + V +
        ' reachable, ' + quorum + ' needed. Writes will fail.');
      return;
    }
    if (unreachable.length) {
      setClusterHealth('degraded', 'Degraded \u2014 ' + unreachable.length + ' of ' + plural(V, 'voter') + ' unreachable',
        capitalize(names(unreachable)) + ' unreachable. Leader is node ' + leaderID + '; quorum is ' + quorum + ' of ' + V + ', ' + tolText + '.');
      return;
    }
    setClusterHealth('healthy', 'Healthy', V === 1
      ? 'Leader is node ' + leaderID + ', the only voter: a single-node cluster cannot tolerate a failure.'
      : 'Leader is node ' + leaderID + ', all ' + plural(V, 'voter') + ' reachable' +
        (unknown.length ? ' (' + names(unknown) + ' not probed)' : '') + '; ' + tolText + '.');
  }

  /** Best effort: each reachable peer's own /status, when its CORS settings let this page read it. */
  function pollPeers(members, status) {
    if (!members) return;
    members.list.forEach(function (m) {
      if (m.self || m.reachable !== true || !/^https?:\/\//.test(m.api_addr || '')) return;
      var origin;
      try { origin = new URL(m.api_addr).origin; } catch (e) { return; }
      if (origin === window.location.origin) return;
      var p = peers[m.id] || (peers[m.id] = { fails: 0 });
      var now = Date.now();
      if (p.busy || (p.nextTry && now < p.nextTry)) return;
      p.busy = true;
      var ctl = typeof AbortController === 'function' ? new AbortController() : null;
      var timer = ctl ? setTimeout(function () { ctl.abort(); }, FETCH_TIMEOUT_MS) : null;
      fetch(origin + '/status', { mode: 'cors', credentials: 'omit', cache: 'no-store', signal: ctl ? ctl.signal : undefined })
        .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
        .then(function (v) {
          p.status = v; p.at = Date.now(); p.fails = 0; p.nextTry = 0;
        }, function () {
          // Usually CORS (the peer was not started with -http-allow-origin): back off, do not hammer it.
          p.fails++;
          p.nextTry = Date.now() + Math.min(60000, 15000 * p.fails);
        })
        .then(function () { p.busy = false; if (timer) clearTimeout(timer); });
    });
  }

  function peerRaft(id) {
    var p = peers[id];
    if (!p || !p.status || Date.now() - p.at > PEER_FRESH_MS) return null;
    var raft = get(p.status, 'store.raft');
    return isObject(raft) ? raft : null;
  }

  function badge(text, t) {
    return el('span', { class: 'badge small', 'data-tone': t, text: text });
  }

  function numCell(v, note, title) {
    var td = el('td', { class: 'num mono' + (present(v) ? '' : ' null'), title: title });
    td.textContent = present(v) ? String(v) : '—';
    if (note) td.appendChild(el('span', { class: 'cell-note', text: ' ' + note }));
    return td;
  }

  function contactText(raft, isLeader) {
    var lc = raft ? raft.last_contact : undefined;
    if (isLeader) return 'leader';
    if (lc === 'never') return 'never';
    var ms = parseDuration(lc);
    if (ms === undefined) return present(lc) ? String(lc) : undefined;
    return formatMs(ms) + ' ago';
  }

  var NODE_COLUMNS = ['ID', 'Addresses', 'Role', 'Reachable', 'Term', 'Commit', 'Applied', 'Last log', 'Lag', 'Last contact'];

  function renderNodes(result, status, members) {
    var body = $('nodes-body');
    var msg = $('nodes-message');
    if (!body) return;
    clear(body);
    if (!result || !result.ok) {
      if (msg) {
        msg.hidden = false;
        msg.textContent = 'Member probe unavailable: ' + ((result && result.message) || 'unknown error') +
          '. Members below come from this node\u2019s configuration; their reachability is unknown.';
      }
    } else if (msg) {
      msg.hidden = true;
    }
    var list = members ? members.list : [];
    if (!list.length) {
      body.appendChild(el('tr', null, [el('td', { colspan: '10', class: 'null', text: 'No members reported.' })]));
      return;
    }
    var selfRaft = get(status, 'store.raft') || {};
    var followers = isObject(selfRaft.followers) ? selfRaft.followers : null;
    var selfIsLeader = selfRaft.state === 'Leader';
    var usedMatch = false, usedPeer = false, missingPeer = false;
    var now = Date.now();

    list.forEach(function (m) {
      var raft = m.self ? selfRaft : (m.reachable === true ? peerRaft(m.id) : null);
      if (!m.self && raft) usedPeer = true;
      var f = followers && isObject(followers[m.id]) ? followers[m.id] : null;
      var down = m.reachable === false;

      var idCell = el('th', { scope: 'row', class: 'mono' }, [m.id]);
      if (m.self) idCell.appendChild(el('span', { class: 'hint', text: ' (this node)' }));

      var addrCell = el('td', { class: 'addrs mono' });
      if (present(m.api_addr) && /^https?:\/\//.test(m.api_addr)) {
        addrCell.appendChild(el('a', { href: m.api_addr.replace(/\/+$/, '') + '/console/', text: m.api_addr,
          title: m.apiRemembered ? 'last address this node reported' : 'open this node\u2019s dashboard' }));
      } else {
        addrCell.appendChild(el('span', { text: present(m.api_addr) ? m.api_addr : 'API address unknown', class: present(m.api_addr) ? '' : 'null' }));
      }
      addrCell.appendChild(el('span', { class: 'sub', text: 'raft ' + show(m.addr) }));

      var role;
      if (down) role = badge('unknown', 'muted');
      else if (m.leader) role = badge('Leader', 'leader');
      else if (raft && present(raft.state)) role = badge(String(raft.state), raft.state === 'Candidate' ? 'warn' : 'muted');
      else if (m.voter === false) role = badge('Non-voter', 'muted');
      else if (present(get(status, 'store.leader.node_id'))) role = badge('Follower', 'muted');
      else role = badge('unknown', 'muted');
      var roleCell = el('td', null, [role]);
      if (m.voter === false && !down) roleCell.appendChild(el('span', { class: 'sub', text: 'non-voter' }));

      var reachCell = el('td', { class: 'reach' });
      if (m.reachable === true) reachCell.appendChild(badge('reachable', 'ok'));
      else if (down) reachCell.appendChild(badge('unreachable', 'bad'));
      else reachCell.appendChild(badge('not probed', 'muted'));
      if (present(m.error)) reachCell.appendChild(el('span', { class: 'sub error', text: String(m.error) }));
      else if (present(m.probe) && m.reachable === true && !m.self) reachCell.appendChild(el('span', { class: 'sub', text: 'probe ' + m.probe }));

      var term, commit, applied, lastLog, lastLogNote, lastLogTitle, lag, contact;
      if (raft && !down) {
        term = raft.term; commit = raft.commit_index; applied = raft.applied_index; lastLog = raft.last_log_index;
        contact = contactText(raft, m.leader && raft.state === 'Leader');
      } else if (!down) {
        missingPeer = true;
      }
      if (f && !down) {
        if (!present(lastLog)) {
          lastLog = f.match_index; lastLogNote = 'match';
          lastLogTitle = 'Highest log index the leader knows this node holds (its own /status is not readable from here)';
          usedMatch = true;
        }
        lag = f.lag;
      } else if (m.leader && selfIsLeader && m.self) {
        lag = 0;
      }
      var lagCell = numCell(present(lag) ? lag : undefined, null, 'Entries behind the leader\u2019s last log index');
      if (typeof lag === 'number' && lag > 0) lagCell.setAttribute('data-tone', lag > 1000 ? 'bad' : 'warn');
      if (f && present(f.state) && f.state !== 'replicate') lagCell.appendChild(el('span', { class: 'sub', text: String(f.state) }));

      var contactCell = el('td', { class: 'contact' });
      if (down) {
        contactCell.textContent = m.lastSeen ? 'seen ' + clockTime(new Date(m.lastSeen)) + ' (' + ago(now - m.lastSeen) + ')' : 'not seen since page load';
      } else {
        contactCell.textContent = present(contact) ? contact : '—';
        if (!present(contact)) contactCell.className += ' null';
      }

      var tr = el('tr', { 'data-node-id': m.id, 'data-reachable': String(m.reachable), class: down ? 'is-down' : (m.leader ? 'is-leader' : '') }, [
        idCell, addrCell, roleCell, reachCell,
        numCell(term), numCell(commit), numCell(applied),
        numCell(lastLog, lastLogNote, lastLogTitle),
        lagCell, contactCell
      ]);
      // Labels for the stacked phone layout, where the header row is not shown.
      for (var i = 0; i < tr.children.length && i < NODE_COLUMNS.length; i++) tr.children[i].setAttribute('data-label', NODE_COLUMNS[i]);
      body.appendChild(tr);
    });

    var notes = [];
    if (usedMatch) notes.push('\u201cmatch\u201d is the leader\u2019s replication view of a follower: the highest log index it is known to hold.');
    if (missingPeer && !usedPeer) {
      notes.push(selfIsLeader
        ? 'Other nodes\u2019 term, commit and applied index need their own /status, which a browser may only read when they run with -http-allow-origin.'
        : 'Replication lag is only known to the leader: open the leader\u2019s dashboard for it.');
    }
    if (list.some(function (m) { return m.reachable === false; })) {
      notes.push('Values of unreachable nodes are not shown: they would not be current.');
    }
    setText('nodes-footnote', notes.join(' '));
    var up = list.filter(function (m) { return m.reachable === true; }).length;
    setText('nodes-note', up + ' of ' + list.length + ' reachable');
  }

  // ---- snapshots, backups ---------------------------------------------------------------------------

  function renderSnapshots(status) {
    var store = isObject(status.store) ? status.store : {};
    var open = store.open === true;
    setClosedPlaceholder('panel-snapshots', open, status);
    if (!open) { fillKV('kv-snapshots', []); return; }
    var ss = isObject(store.snapshot_store) ? store.snapshot_store : {};
    var list = Array.isArray(ss.snapshots) ? ss.snapshots : [];
    var last = ss.last_snapshot;
    var lastText;
    if (present(last)) {
      var m = /^(\d+)-(\d+)/.exec(String(last));
      lastText = m ? 'index ' + m[2] + ', term ' + m[1] : String(last);
    } else if (present(ss.last_snapshot) === false && list.length) {
      lastText = String(list[list.length - 1]);
    } else {
      lastText = 'none yet';
    }
    var inProgress = ss.in_progress === true
      ? badge('in progress', 'warn')
      : (ss.in_progress === false ? badge('idle', 'muted') : undefined);
    fillKV('kv-snapshots', [
      ['Last snapshot', lastText, { always: true }],
      ['Taken', whenText(ss.last_snapshot_time)],
      ['Duration', formatMs(parseDuration(ss.last_snapshot_duration)) || ss.last_snapshot_duration],
      ['Size', formatBytes(ss.dir_size), { always: true }],
      ['Retained', list.length ? plural(list.length, 'snapshot') : 'none'],
      ['Now', inProgress, { always: true }],
      ['Log since snapshot', (typeof get(store, 'raft.last_log_index') === 'number' && typeof get(store, 'raft.last_snapshot_index') === 'number')
        ? plural(store.raft.last_log_index - store.raft.last_snapshot_index, 'entry').replace(/entrys$/, 'entries') : undefined]
    ]);
  }

  var backupSeen = null; // counters at the previous refresh, to tell what the latest attempt did

  function renderBackups(status) {
    var ab = status.auto_backups;
    var msg = $('backups-message');
    var httpBackup = whenText(status.last_backup_time);
    if (!isObject(ab)) {
      backupSeen = null;
      if (msg && !msg.firstChild) {
        msg.hidden = false;
        msg.appendChild(document.createTextNode('Not configured on this node (start it with '));
        msg.appendChild(el('code', { class: 'nowrap', text: '-auto-backup <config file>' }));
        msg.appendChild(document.createTextNode(').'));
      }
      if (msg) msg.hidden = false;
      fillKV('kv-backups', [['Last HTTP backup', httpBackup || 'none since start', { always: true }]]);
      return;
    }
    if (msg) { msg.hidden = true; clear(msg); }
    var ok = ab.num_uploads_ok, failed = ab.num_uploads_fail;
    var result;
    if (present(ab.last_error)) result = badge('failed', 'bad');
    else if (backupSeen && typeof failed === 'number' && failed > backupSeen.failed) result = badge('failed', 'bad');
    else if (backupSeen && typeof ok === 'number' && ok > backupSeen.ok) result = badge('uploaded', 'ok');
    else if (backupSeen && backupSeen.result) result = badge(backupSeen.result.text, backupSeen.result.tone);
    else if (typeof failed === 'number' && failed > 0 && !(ok > 0)) result = badge('failing', 'bad');
    else if (present(ab.last_upload_time)) result = badge('uploaded', 'ok');
    else result = badge('no upload yet', 'muted');
    backupSeen = { ok: ok, failed: failed, result: { text: result.textContent, tone: result.getAttribute('data-tone') } };

    var intervalMs = parseDuration(ab.upload_interval);
    var next;
    var lastUp = present(ab.last_upload_time) ? new Date(String(ab.last_upload_time)).getTime() : NaN;
    if (intervalMs !== undefined && isFinite(lastUp)) {
      var due = lastUp + intervalMs;
      next = due <= Date.now() ? 'due now (checks every ' + formatMs(intervalMs) + ')' : clockTime(new Date(due)) + ' · in ' + formatMs(due - Date.now()).replace(/\.\d+ s$/, ' s');
    } else if (intervalMs !== undefined) {
      next = 'within ' + formatMs(intervalMs);
    }
    var counts = [];
    if (typeof ok === 'number') counts.push(ok + ' ok');
    if (typeof failed === 'number') counts.push(failed + ' failed');
    if (typeof ab.num_uploads_skipped === 'number') counts.push(ab.num_uploads_skipped + ' skipped (unchanged)');
    fillKV('kv-backups', [
      ['Destination', ab.upload_destination, { always: true, mono: true }],
      ['Last upload', whenText(ab.last_upload_time) || 'none yet', { always: true }],
      ['Result', result, { always: true }],
      ['Error', ab.last_error],
      ['Upload took', formatMs(parseDuration(ab.last_upload_duration)) || ab.last_upload_duration],
      ['Last index', ab.last_index],
      ['Next', next],
      ['Interval', formatMs(intervalMs) || ab.upload_interval],
      ['Uploads', counts.length ? counts.join(' · ') : undefined],
      ['Last HTTP backup', httpBackup]
    ]);
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
