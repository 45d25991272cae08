// report.html's table of items, drawn a page at a time from the data block (script#data)
// that html.rs writes: the page stays quick at 10,000 items because only the rows shown are
// in the DOM. The filter, the search, the sort and the page live in the URL's hash
// (`#failed&q=sub-1&sort=-queue&page=2`), so a view can be linked and reloaded.
(function () {
  'use strict';
  // The controls and the table show once there is a script to draw them.
  document.documentElement.classList.remove('no-js');
  var D = JSON.parse(document.getElementById('data').textContent);
  var items = D.items;
  var results = D.results;
  var classes = D.classes;
  // Field positions, as html/data.rs writes them; a field missing at an array's end is absent.
  var KEY = 0, VARS = 1, RESULT = 2, UP = 3, DOWN = 4, UPLOAD = 5, ATTEMPTS = 6, OUTPUTS = 7,
    CLASS = 8, EXIT = 9, DETAIL = 10, TAIL = 11, LOGS = 12;
  var EXEC = 0, STATUS = 1, SUBMITTED = 2, READY = 3, STARTED = 4, ENDED = 5, DOWNLOAD = 6,
    JOBS = 7, A_CLASS = 9, A_EXIT = 10;
  var PHASES = {
    up: 'uploading',
    slot: 'waiting to launch',
    queue: 'queued on VIP',
    run: 'running',
    down: 'downloading'
  };
  var FILES_SHOWN = 2;

  var body = document.getElementById('items');
  var shown = document.getElementById('shown');
  var pager = document.getElementById('pager');
  var failedBox = document.getElementById('failed-only');
  var search = document.getElementById('search');
  var sizeSelect = document.getElementById('page-size');
  var heads = document.querySelectorAll('.items th[data-sort]');
  var columns = 10 + D.vars.length;
  var collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function fmt(n) {
    return n.toLocaleString('en-US');
  }

  // As html.rs's human_duration.
  function dur(ms) {
    if (ms == null) return '';
    if (ms < 1000) return Math.max(0, Math.round(ms)) + ' ms';
    var s = Math.round(ms / 1000);
    function two(big, bu, small, su) {
      return small === 0 ? big + ' ' + bu : big + ' ' + bu + ' ' + small + ' ' + su;
    }
    if (s < 60) return s + ' s';
    if (s < 3600) return two(Math.floor(s / 60), 'min', s % 60, 's');
    if (s < 86400) return two(Math.floor(s / 3600), 'h', Math.floor((s % 3600) / 60), 'min');
    return two(Math.floor(s / 86400), 'd', Math.floor((s % 86400) / 3600), 'h');
  }

  // As report::text::human_bytes.
  function bytes(n) {
    var units = ['B', 'kB', 'MB', 'GB', 'TB'], u = 0, v = n;
    while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
    return u === 0 ? n + ' B' : v.toFixed(1) + ' ' + units[u];
  }

  function at(rel) {
    return new Date(D.origin + rel).toISOString().slice(0, 19) + 'Z';
  }

  function first() {
    for (var i = 0; i < arguments.length; i++) if (arguments[i] != null) return arguments[i];
    return null;
  }

  // An item's phases, by the rule of html.rs's `phases`: an open phase lasts until the next
  // execution was made ready, or to the batch's end for an item still in progress.
  function phases(it) {
    var out = [], a = it[ATTEMPTS], inProgress = results[it[RESULT]][0] === 'in_progress';
    function push(p, f, t) { if (t != null && t > f) out.push([p, f, t]); }
    if (it[UPLOAD]) push('up', it[UPLOAD][0], it[UPLOAD][1]);
    for (var k = 0; k < a.length; k++) {
      var x = a[k], next = a[k + 1];
      var open = next ? first(next[READY], next[SUBMITTED]) : (inProgress ? D.span : null);
      if (x[READY] != null) push('slot', x[READY], x[SUBMITTED]);
      push('queue', x[SUBMITTED], first(x[STARTED], x[ENDED], open));
      if (x[STARTED] != null) push('run', x[STARTED], first(x[ENDED], open));
      if (x[DOWNLOAD]) push('down', x[DOWNLOAD][0], x[DOWNLOAD][1]);
    }
    return out;
  }

  function queueWait(x) {
    var seen = first(x[STARTED], x[ENDED]);
    return seen == null ? null : seen - x[SUBMITTED];
  }

  function runTime(x) {
    return x[STARTED] != null && x[ENDED] != null ? x[ENDED] - x[STARTED] : null;
  }

  // What sorting and searching need, worked out once.
  var rows = items.map(function (it, i) {
    var a = it[ATTEMPTS], last = a.length ? a[a.length - 1] : null;
    return {
      i: i,
      it: it,
      last: last,
      bad: results[it[RESULT]][2],
      queue: last ? queueWait(last) : null,
      run: last ? runTime(last) : null,
      start: it[UPLOAD] ? it[UPLOAD][0] : (a.length ? first(a[0][READY], a[0][SUBMITTED]) : null),
      text: null
    };
  });

  function searchText(r) {
    if (r.text === null) {
      var it = r.it, parts = [it[KEY]].concat(it[VARS]);
      parts.push(results[it[RESULT]][1]);
      if (it[CLASS] != null) parts.push(classes[it[CLASS]][0], classes[it[CLASS]][1]);
      it[ATTEMPTS].forEach(function (x) { parts.push(x[EXEC], D.statuses[x[STATUS]]); });
      if (it[DETAIL]) parts.push(it[DETAIL]);
      r.text = parts.join('\n').toLowerCase();
    }
    return r.text;
  }

  var SORTS = {
    key: function (r) { return r.it[KEY]; },
    result: function (r) { return r.it[RESULT]; },
    'class': function (r) { return r.it[CLASS] == null ? null : classes[r.it[CLASS]][1]; },
    attempts: function (r) { return r.it[ATTEMPTS].length; },
    execution: function (r) { return r.last ? r.last[EXEC] : null; },
    queue: function (r) { return r.queue; },
    run: function (r) { return r.run; },
    bytes: function (r) { return r.it[DOWN] + r.it[UP]; },
    start: function (r) { return r.start; }
  };
  D.vars.forEach(function (_, k) {
    SORTS['v' + k] = function (r) { return r.it[VARS][k]; };
  });

  var state = { failed: false, q: '', sort: null, desc: false, page: 1, size: 100 };

  function readHash() {
    var s = { failed: false, q: '', sort: null, desc: false, page: 1, size: 100 };
    location.hash.replace(/^#/, '').split('&').forEach(function (token) {
      var eq = token.indexOf('='), name = eq < 0 ? token : token.slice(0, eq);
      var value = eq < 0 ? '' : token.slice(eq + 1);
      try { value = decodeURIComponent(value); } catch (e) { /* keep it as written */ }
      if (name === 'failed') s.failed = true;
      else if (name === 'q') s.q = value;
      else if (name === 'sort') {
        s.desc = value.charAt(0) === '-';
        s.sort = s.desc ? value.slice(1) : value;
        if (!SORTS[s.sort]) { s.sort = null; s.desc = false; }
      } else if (name === 'page') s.page = Math.max(1, parseInt(value, 10) || 1);
      else if (name === 'size') s.size = value === 'all' ? Infinity : (parseInt(value, 10) || 100);
    });
    return s;
  }

  function writeHash() {
    var tokens = [];
    if (state.failed) tokens.push('failed');
    if (state.q) tokens.push('q=' + encodeURIComponent(state.q));
    if (state.sort) tokens.push('sort=' + (state.desc ? '-' : '') + state.sort);
    if (state.page > 1) tokens.push('page=' + state.page);
    if (state.size !== 100) tokens.push('size=' + (state.size === Infinity ? 'all' : state.size));
    var url = location.pathname + location.search + (tokens.length ? '#' + tokens.join('&') : '');
    try {
      history.replaceState(null, '', url);
    } catch (e) {
      // Some browsers refuse history on file:// pages: the view still changes, unlinked.
    }
  }

  function syncControls() {
    failedBox.checked = state.failed;
    if (search.value !== state.q) search.value = state.q;
    sizeSelect.value = state.size === Infinity ? 'all' : String(state.size);
    for (var k = 0; k < heads.length; k++) {
      var th = heads[k], col = th.getAttribute('data-sort');
      if (col === state.sort) th.setAttribute('aria-sort', state.desc ? 'descending' : 'ascending');
      else th.removeAttribute('aria-sort');
    }
  }

  function view() {
    var q = state.q.trim().toLowerCase();
    var out = rows.filter(function (r) {
      return (!state.failed || r.bad) && (!q || searchText(r).indexOf(q) >= 0);
    });
    if (state.sort) {
      var get = SORTS[state.sort], sign = state.desc ? -1 : 1;
      out.sort(function (a, b) {
        var x = get(a), y = get(b);
        // Unknowns go last whichever way the column is sorted.
        if (x == null || y == null) return x == null ? (y == null ? a.i - b.i : 1) : -1;
        var c = typeof x === 'string' ? collator.compare(x, y) : x - y;
        return c !== 0 ? sign * c : a.i - b.i;
      });
    }
    return out;
  }

  function mini(it) {
    if (!D.span) return '';
    var html = '';
    phases(it).forEach(function (p) {
      var left = (100 * p[1]) / D.span, width = (100 * (p[2] - p[1])) / D.span;
      html += '<span class="ph-' + p[0] + '" style="left:' + left.toFixed(2) + '%;width:' +
        width.toFixed(2) + '%" title="' + esc(PHASES[p[0]] + ': ' + dur(p[2] - p[1]) + ' from ' + at(p[1])) +
        '"></span>';
    });
    return '<div class="mini">' + html + '</div>';
  }

  function files(it) {
    // [base, part or [label, part]…]: each href is the base and the link's part.
    var base = it[OUTPUTS][0], links = it[OUTPUTS].slice(1).map(function (o) {
      var label = typeof o === 'string' ? o.slice(o.lastIndexOf('/') + 1) : o[0];
      var href = base + (typeof o === 'string' ? o : o[1]);
      return '<a href="' + esc(href) + '">' + esc(label) + '</a>';
    });
    if (it[LOGS]) links.push('<a class="logs" href="' + esc(it[LOGS]) + '">logs</a>');
    // The first links (the folder, when linked), the rest on demand: rows stay one line.
    var shown = links.length <= FILES_SHOWN ? links.length : FILES_SHOWN - 1;
    var rest = links.slice(shown);
    return links.slice(0, shown).join(' ') + (rest.length ? ' <details><summary>' + rest.length +
      ' more</summary>' + rest.join('<br>') + '</details>' : '');
  }

  function failure(cls, exit) {
    var words = cls == null ? '' : classes[cls][1];
    if (exit != null) words += (words ? ' ' : '') + '(exit ' + exit + ')';
    return words;
  }

  function more(r) {
    var it = r.it, a = it[ATTEMPTS], html = '';
    if (it[DETAIL]) html += '<p class="detail">' + esc(it[DETAIL]) + '</p>';
    // The run's words for a failure often carry the advice already.
    if (it[CLASS] != null && (it[DETAIL] || '').indexOf(classes[it[CLASS]][2]) < 0) {
      html += '<p class="advice">What to do: ' + esc(classes[it[CLASS]][2]) + '</p>';
    }
    if (it[TAIL]) html += '<pre class="tail" aria-label="last lines of its standard error">' + esc(it[TAIL]) + '</pre>';
    if (a.length > 1) {
      html += '<ol class="earlier" aria-label="its executions">';
      a.forEach(function (x) {
        var why = failure(x[A_CLASS], x[A_EXIT]);
        html += '<li><span class="exec">' + esc(x[EXEC]) + '</span>: ' + esc(D.statuses[x[STATUS]]) +
          (why ? ', ' + esc(why) : '') + ', launched ' + at(x[SUBMITTED]) +
          (queueWait(x) != null ? ', queued ' + dur(queueWait(x)) : '') +
          (runTime(x) != null ? ', ran ' + dur(runTime(x)) : '') + '</li>';
      });
      html += '</ol>';
    }
    return html ? '<tr class="more"><td colspan="' + columns + '">' + html + '</td></tr>' : '';
  }

  // The current execution; its status shown only while it is still going (an ended one's
  // is in the result), and in the tooltip with its jobs.
  function execution(it, last) {
    if (!last) return '<td></td>';
    var status = D.statuses[last[STATUS]], jobs = last[JOBS];
    var title = status + (jobs ? ', jobs: ' + jobs[0] + ' done, ' + jobs[1] + ' failed, of ' + jobs[2] : '');
    return '<td title="' + esc(title) + '"><span class="exec">' + esc(last[EXEC]) + '</span>' +
      (results[it[RESULT]][0] === 'in_progress' ? '<span class="status">' + esc(status) + '</span>' : '') + '</td>';
  }

  function row(r) {
    var it = r.it, code = results[it[RESULT]][0], last = r.last;
    var cls = it[CLASS] == null ? '' : classes[it[CLASS]];
    var html = '<tr data-key="' + esc(it[KEY]) + '" data-result="' + code + '" class="r-' + code + '">' +
      '<td class="key">' + esc(it[KEY]) + '</td>';
    it[VARS].forEach(function (v) { html += '<td>' + esc(v) + '</td>'; });
    html += '<td class="result"><span class="res r-' + code + '">' + esc(results[it[RESULT]][1]) + '</span></td>' +
      '<td class="cls"' + (cls ? ' title="' + esc(cls[2]) + '"' : '') + '>' + esc(cls ? cls[1] : '') +
        (it[EXIT] != null ? ' <span class="muted">exit ' + it[EXIT] + '</span>' : '') + '</td>' +
      '<td class="num">' + it[ATTEMPTS].length + '</td>' +
      execution(it, last) +
      '<td class="num">' + dur(r.queue) + '</td>' +
      '<td class="num">' + dur(r.run) + '</td>' +
      '<td class="num" title="inputs sent ' + bytes(it[UP]) + ', outputs home ' + bytes(it[DOWN]) + '">' +
        (it[DOWN] || !it[UP] ? '↓ ' + bytes(it[DOWN]) : '↑ ' + bytes(it[UP])) + '</td>' +
      '<td>' + mini(it) + '</td>' +
      '<td class="files">' + files(it) + '</td></tr>';
    return html + (r.bad || it[DETAIL] || it[TAIL] || it[ATTEMPTS].length > 1 ? more(r) : '');
  }

  function pageButton(page, label, current, disabled) {
    return '<button type="button" data-page="' + page + '"' + (current ? ' aria-current="page"' : '') +
      (disabled ? ' disabled' : '') + '>' + label + '</button>';
  }

  function render() {
    var list = view();
    var size = state.size, pages = Math.max(1, Math.ceil(list.length / size));
    state.page = Math.min(Math.max(1, state.page), pages);
    var from = size === Infinity ? 0 : (state.page - 1) * size;
    var slice = size === Infinity ? list : list.slice(from, from + size);
    body.innerHTML = slice.length
      ? slice.map(row).join('')
      : '<tr><td class="empty" colspan="' + columns + '">' +
        (items.length ? 'No item matches.' : 'The batch has no items.') + '</td></tr>';
    var why = [];
    if (state.failed) why.push('failed only');
    if (state.q.trim()) why.push('matching “' + state.q.trim() + '”');
    shown.textContent = fmt(list.length) + ' of ' + fmt(items.length) + ' items' +
      (why.length ? ' (' + why.join(', ') + ')' : '') +
      (pages > 1 ? ': rows ' + fmt(from + 1) + '–' + fmt(from + slice.length) : '');
    var p = state.page, html = '';
    if (pages > 1) {
      html += pageButton(1, '« first', false, p === 1) + pageButton(p - 1, '‹ previous', false, p === 1);
      for (var k = Math.max(1, p - 3); k <= Math.min(pages, p + 3); k++) html += pageButton(k, k, k === p, false);
      html += pageButton(p + 1, 'next ›', false, p === pages) + pageButton(pages, 'last »', false, p === pages);
      html += '<span class="muted">page ' + p + ' of ' + pages + '</span>';
    }
    pager.innerHTML = html;
    syncControls();
  }

  function change(patch) {
    for (var k in patch) state[k] = patch[k];
    writeHash();
    render();
  }

  failedBox.addEventListener('change', function () { change({ failed: failedBox.checked, page: 1 }); });
  var typing = null;
  search.addEventListener('input', function () {
    clearTimeout(typing);
    typing = setTimeout(function () { change({ q: search.value, page: 1 }); }, 150);
  });
  sizeSelect.addEventListener('change', function () {
    change({ size: sizeSelect.value === 'all' ? Infinity : parseInt(sizeSelect.value, 10), page: 1 });
  });
  for (var k = 0; k < heads.length; k++) {
    heads[k].querySelector('button').addEventListener('click', function (e) {
      var col = e.currentTarget.parentNode.getAttribute('data-sort');
      // Ascending, descending, then back to the manifest's order.
      if (state.sort !== col) change({ sort: col, desc: false, page: 1 });
      else if (!state.desc) change({ desc: true, page: 1 });
      else change({ sort: null, desc: false, page: 1 });
    });
  }
  pager.addEventListener('click', function (e) {
    var b = e.target.closest('button[data-page]');
    if (b && !b.disabled) {
      change({ page: parseInt(b.getAttribute('data-page'), 10) });
      document.getElementById('items-section').scrollIntoView();
    }
  });
  window.addEventListener('hashchange', function () {
    // A link (the outcomes' "show" link) or the user changed the hash: follow it.
    state = readHash();
    render();
    document.getElementById('items-section').scrollIntoView();
  });

  state = readHash();
  render();
  document.documentElement.dataset.rendered = performance.now().toFixed(0);
})();
