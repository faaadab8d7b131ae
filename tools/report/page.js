/* condafs report: draws the page from the data above it (report/report.h
 * describes the data).  No library: the squarified treemap is below. */
'use strict';
(function () {
  const D = JSON.parse(document.getElementById('condafs-data').textContent);
  /* Names are front-coded: the first name_shared[i] code units of the name before, then name[i]. */
  function unfront(col) {
    const out = new Array(col.name.length);
    let prev = '';
    for (let i = 0; i < out.length; i++) prev = out[i] = prev.slice(0, col.name_shared[i]) + col.name[i];
    return out;
  }
  const F = D.files, DP = D.dirs.parent, DNAME = unfront(D.dirs), FNAME = unfront(D.files);
  const T = D.totals, HAS_WS = D.has_workset;
  const $ = (id) => document.getElementById(id);

  /* ---- formatting ---- */
  const fmtInt = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  function fmtSize(b) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = b, u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return u ? v.toFixed(1) + ' ' + units[u] : b + ' B';
  }
  const plural = (n, what) => fmtInt(n) + ' ' + what + (n === 1 ? '' : 's');
  const pct = (a, b) => (b ? (100 * a / b).toFixed(1) : '0.0') + '%';
  function el(tag, cls, ...kids) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    for (const k of kids) e.append(k);
    return e;
  }

  /* ---- states and colours: 0 working set, 1 kept, 2 + rule id pruned ---- */
  const WS = 0, KEPT = 1;
  const keyOf = (f) => (F.state[f] === 2 ? 2 + F.rule[f] : F.state[f]);
  const PRUNED_COLOURS = ['#d1495b', '#f28e2b', '#8f2d56', '#edc948', '#b07aa1', '#9c755f',
    '#ff9da7', '#7b3294', '#c9a227', '#6b4226', '#f4a582', '#d37295', '#a0522d', '#e6550d'];
  const colour = new Map();
  colour.set(WS, '#2f9e5a');
  colour.set(KEPT, HAS_WS ? '#bcc6d2' : '#4e79a7');
  const ruleById = new Map(D.rules.map((r) => [r.id, r]));
  const prunedRules = D.rules.filter((r) => r.pruned_files > 0)
    .sort((a, b) => b.pruned_bytes - a.pruned_bytes || a.id - b.id);
  /* Past the palette: warm and purple hues of the colour wheel, never the working set's green. */
  function hsl(h, s, l) {
    const f = (n) => {
      const k = (n + h / 30) % 12, a = s * Math.min(l, 1 - l);
      return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)))).toString(16).padStart(2, '0');
    };
    return '#' + f(0) + f(8) + f(4);
  }
  const extraColour = (i) => hsl([0, 20, 40, 280, 300, 320, 340][i % 7], 0.7 - 0.08 * (Math.floor(i / 7) % 4),
    0.45 + 0.1 * (Math.floor(i / 7) % 3));
  prunedRules.forEach((r, i) => colour.set(2 + r.id, i < PRUNED_COLOURS.length ? PRUNED_COLOURS[i] : extraColour(i - PRUNED_COLOURS.length)));
  const colourOf = (k) => colour.get(k) || '#7f7f7f';
  function keyLabel(k) {
    if (k === WS) return 'in the working set';
    if (k === KEPT) return HAS_WS ? 'kept, not in the working set' : 'kept (served)';
    const r = ruleById.get(k - 2);
    return r ? 'pruned by ' + r.origin + ': ' + r.text : 'pruned';
  }
  const keyOrder = [WS, KEPT].concat(prunedRules.map((r) => 2 + r.id));
  const keyRank = new Map(keyOrder.map((k, i) => [k, i]));
  const byKeyOrder = (a, b) => (keyRank.get(a) ?? 1e9) - (keyRank.get(b) ?? 1e9) || a - b;

  /* ---- the tree: environment > package > directory > file ---- */
  const nFiles = F.size.length;
  const isLink = new Uint8Array(nFiles);
  for (const i of D.links) isLink[i] = 1;
  const dirPaths = new Array(DP.length);
  function dirPath(d) {
    if (d <= 0) return '';
    if (dirPaths[d] === undefined) {
      const p = dirPath(DP[d]);
      dirPaths[d] = (p ? p + '/' : '') + DNAME[d];
    }
    return dirPaths[d];
  }
  const node = (kind, name, parent) => ({ kind, name, parent, kids: [], size: 0, files: 0, agg: null });
  const root = node('root', 'environment', null);
  const pkgNodes = new Map();
  for (const p of D.packages) {
    const n = node('pkg', p.name === null ? '(no package)' : p.name, root);
    n.pkg = p;
    n.dirs = new Map();
    root.kids.push(n);
    pkgNodes.set(p.id, n);
  }
  function dirNode(pn, d) {
    if (d <= 0) return pn;
    let n = pn.dirs.get(d);
    if (!n) {
      const parent = dirNode(pn, DP[d]);
      n = node('dir', DNAME[d], parent);
      n.d = d;
      parent.kids.push(n);
      pn.dirs.set(d, n);
    }
    return n;
  }
  for (let f = 0; f < nFiles; f++) {
    const pn = pkgNodes.get(F.pkg[f]) || pkgNodes.get(0);
    if (!pn) continue;
    const dn = dirNode(pn, F.dir[f]);
    dn.kids.push({ kind: 'file', f, name: FNAME[f], parent: dn, size: F.size[f], files: 1, key: keyOf(f), kids: [] });
  }
  /* A directory whose only entry is a directory is shown as one box: lib/python3.11/site-packages/x. */
  function collapse(n) {
    for (const k of n.kids) {
      if (k.kind !== 'dir') continue;
      while (k.kids.length === 1 && k.kids[0].kind === 'dir') {
        const c = k.kids[0];
        k.name += '/' + c.name;
        k.d = c.d;
        k.kids = c.kids;
        for (const g of k.kids) g.parent = k;
      }
      collapse(k);
    }
  }
  function total(n) {
    if (n.kind === 'file') return;
    n.agg = new Map();
    for (const k of n.kids) {
      total(k);
      n.size += k.size;
      n.files += k.files;
      if (k.kind === 'file') n.agg.set(k.key, (n.agg.get(k.key) || 0) + k.size);
      else for (const [key, b] of k.agg) n.agg.set(key, (n.agg.get(key) || 0) + b);
    }
    n.kids.sort((a, b) => b.size - a.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  collapse(root);
  for (const p of root.kids) collapse(p);
  total(root);
  function pathOf(n) {
    if (n.kind === 'file') {
      const d = dirPath(F.dir[n.f]);
      return (d ? d + '/' : '') + n.name;
    }
    return n.kind === 'dir' ? dirPath(n.d) : '';
  }
  const pkgOf = (n) => { while (n.kind !== 'pkg') n = n.parent; return n; };
  const absPath = (rel) => (D.prefix === '/' ? '' : D.prefix) + '/' + rel;

  /* ---- summary ---- */
  function card(id, title, value, exact, ...details) {
    const v = el('div', 'v', value);
    v.id = id;
    v.setAttribute('data-value', String(exact));
    const c = el('div', 'card', el('div', 'k', title), v);
    for (const d of details) {
      const e = el('div', 'd', d[1]);
      e.id = d[0];
      c.append(e);
    }
    $('summary').append(c);
  }
  function summary() {
    $('title').textContent = 'condafs report: ' + D.index;
    document.title = 'condafs report: ' + D.index;
    $('subtitle').textContent = D.prefix + ', ' + D.platform + ', ' + fmtInt(D.packages.filter((p) => p.id).length) +
      ' packages' + (HAS_WS ? '' : '; no working set given (--workset, --trace): kept against pruned');
    card('sum-env-bytes', 'Environment', fmtSize(T.bytes), T.bytes,
      ['sum-env-files', fmtInt(T.files) + ' files and symlinks'], ['', 'before pruning']);
    card('sum-pruned-bytes', 'Pruned', fmtSize(T.pruned_bytes), T.pruned_bytes,
      ['sum-pruned-files', fmtInt(T.pruned_files) + ' files and symlinks'],
      ['sum-pruned-share', pct(T.pruned_bytes, T.bytes) + ' of the bytes, by ' + prunedRules.length + ' rules']);
    card('sum-kept-bytes', 'Kept (served)', fmtSize(T.kept_bytes), T.kept_bytes,
      ['sum-kept-files', fmtInt(T.kept_files) + ' files and symlinks'],
      ['sum-kept-share', pct(T.kept_bytes, T.bytes) + ' of the bytes']);
    if (HAS_WS) {
      card('sum-ws-bytes', 'Working set', fmtSize(T.ws_bytes), T.ws_bytes,
        ['sum-ws-files', fmtInt(T.ws_files) + ' files and symlinks (' + pct(T.ws_files, T.files) + ')'],
        ['sum-ws-share', pct(T.ws_bytes, T.bytes) + ' of the environment, ' + pct(T.ws_bytes, T.kept_bytes) + ' of what is kept']);
    }
    const E = D.export;
    card('sum-export-bytes', 'Export (tar)', fmtSize(E.tar_bytes), E.tar_bytes,
      ['sum-export-files', fmtInt(E.files + E.symlinks) + ' files and symlinks, ' + fmtInt(E.dirs) + ' directories'],
      ['', E.of === 'all' ? 'everything kept (export --all)' : 'the working set (export --workset)']);
    const bar = $('sharebar');
    for (const k of keyOrder) {
      const b = root.agg.get(k) || 0;
      if (!b) continue;
      const d = el('div');
      d.style.width = (100 * b / root.size) + '%';
      d.style.background = colourOf(k);
      d.title = keyLabel(k) + ': ' + fmtSize(b) + ' (' + pct(b, root.size) + ')';
      bar.append(d);
    }
  }

  /* ---- legend ---- */
  function legend() {
    const box = $('legend');
    for (const k of keyOrder) {
      const b = root.agg.get(k) || 0;
      if (!b && k !== WS && k !== KEPT) continue;
      if (k === WS && !HAS_WS) continue;
      const sw = el('span', 'sw');
      sw.style.background = colourOf(k);
      const item = el('span', 'item', sw, keyLabel(k) + ' ', el('b', '', fmtSize(b)));
      item.setAttribute('data-key', String(k));
      item.setAttribute('data-colour', colourOf(k));
      box.append(item);
    }
  }

  /* ---- squarified treemap (Bruls, Huizing, van Wijk) ---- */
  function worst(sum, min, max, side) {
    const s2 = sum * sum, w2 = side * side;
    return Math.max(w2 * max / s2, s2 / (w2 * min));
  }
  /* items: sizes > 0, largest first; returns [x, y, w, h] for each, in order. */
  function squarify(sizes, x, y, w, h) {
    const out = [];
    let sum = 0;
    for (const s of sizes) sum += s;
    const scale = (w * h) / sum;
    let i = 0;
    while (i < sizes.length) {
      const side = Math.min(w, h);
      let rowSum = 0, min = Infinity, max = 0, best = Infinity, j = i;
      while (j < sizes.length) {
        const a = sizes[j] * scale;
        const r = worst(rowSum + a, Math.min(min, a), Math.max(max, a), side);
        if (j > i && r > best) break;
        best = r; rowSum += a; min = Math.min(min, a); max = Math.max(max, a); j++;
      }
      if (j === sizes.length) rowSum = w * h; /* the last row fills what is left (rounding) */
      if (w >= h) {
        const cw = Math.min(w, rowSum / h);
        let yy = y;
        for (let k = i; k < j; k++) {
          const rh = k === j - 1 ? y + h - yy : (sizes[k] * scale) / cw;
          out.push([x, yy, cw, rh]);
          yy += rh;
        }
        x += cw; w -= cw;
      } else {
        const rh = Math.min(h, rowSum / w);
        let xx = x;
        for (let k = i; k < j; k++) {
          const cw = k === j - 1 ? x + w - xx : (sizes[k] * scale) / rh;
          out.push([xx, y, cw, rh]);
          xx += cw;
        }
        y += rh; h -= rh;
      }
      i = j;
    }
    return out;
  }

  /* ---- drawing ---- */
  const svg = $('tm'), NS = svg.namespaceURI;
  const MAP_H = 600, MAX_BOXES = 9000;
  let cur = root, shown = [], budget = 0;
  function box(g, x, y, w, h, fill, n, cls) {
    const r = document.createElementNS(NS, 'rect');
    r.setAttribute('x', x.toFixed(1));
    r.setAttribute('y', y.toFixed(1));
    r.setAttribute('width', Math.max(0, w).toFixed(1));
    r.setAttribute('height', Math.max(0, h).toFixed(1));
    if (fill) r.setAttribute('fill', fill);
    if (cls) r.setAttribute('class', cls);
    r.setAttribute('data-n', String(shown.length));
    shown.push(n);
    g.append(r);
    budget--;
  }
  function label(g, x, y, w, text, cls) {
    const chars = Math.floor((w - 6) / 6.3);
    if (chars < 3) return;
    const t = document.createElementNS(NS, 'text');
    t.setAttribute('x', (x + 3).toFixed(1));
    t.setAttribute('y', (y + 12).toFixed(1));
    if (cls) t.setAttribute('class', cls);
    t.textContent = text.length > chars ? text.slice(0, chars - 1) + '\u2026' : text;
    g.append(t);
  }
  const dark = (c) => { const v = parseInt(c.slice(1), 16); return ((v >> 16) * 299 + ((v >> 8) & 255) * 587 + (v & 255) * 114) / 1000 < 140; };
  /* A box too small to open: its bytes split by state, in slices. */
  function slices(g, n, x, y, w, h) {
    const keys = [...n.agg.keys()].filter((k) => n.agg.get(k) > 0).sort(byKeyOrder);
    let off = 0;
    for (const k of keys) {
      const part = n.agg.get(k) / n.size;
      if (w >= h) box(g, x + off * w, y, part * w, h, colourOf(k), n);
      else box(g, x, y + off * h, w, part * h, colourOf(k), n);
      off += part;
    }
  }
  /* Boxes open largest first (a heap on area), so that a budget of SVG
   * elements goes where it shows; what is left closed is drawn as slices. */
  function heapPush(h, item) {
    h.push(item);
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (h[p].area >= h[i].area) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }
  function heapPop(h) {
    const top = h[0], last = h.pop();
    if (h.length) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && h[l].area > h[m].area) m = l;
        if (r < h.length && h[r].area > h[m].area) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
  function open(g, heap, it) {
    const { n, x, y, w, h, depth } = it;
    let ix = x, iy = y, iw = w, ih = h;
    if (depth > 0) {
      box(g, x, y, w, h, null, n, 'g');
      if (h > 34 && w > 40) {
        label(g, x, y, w, n.name + '  ' + fmtSize(n.size), 'h');
        ix += 2; iy += 16; iw -= 4; ih -= 18;
      } else {
        ix += 1; iy += 1; iw -= 2; ih -= 2;
      }
    }
    const kids = n.kids.filter((k) => k.size > 0);
    if (!kids.length || iw <= 0 || ih <= 0) return;
    budget -= kids.length;
    squarify(kids.map((k) => k.size), ix, iy, iw, ih).forEach(([kx, ky, kw, kh], i) =>
      heapPush(heap, { n: kids[i], x: kx, y: ky, w: kw, h: kh, depth: depth + 1, area: kw * kh }));
  }
  function draw(g, top, W, H) {
    const heap = [];
    open(g, heap, { n: top, x: 0, y: 0, w: W, h: H, depth: 0 });
    while (heap.length) {
      const it = heapPop(heap), { n, x, y, w, h } = it;
      budget++; /* its reservation */
      if (n.kind === 'file') {
        const c = colourOf(n.key);
        box(g, x, y, w, h, c, n);
        if (w > 40 && h > 15) label(g, x, y, w, n.name, dark(c) ? 'on-dark' : '');
      } else if (budget < n.kids.length + 1 || w < 6 || h < 6 || w * h < 120) {
        slices(g, n, x, y, w, h);
      } else {
        open(g, heap, it);
      }
    }
  }
  function crumbs() {
    const nav = $('crumbs');
    nav.textContent = '';
    const chain = [];
    for (let n = cur; n; n = n.parent) chain.unshift(n);
    chain.forEach((n, i) => {
      if (i) nav.append(el('span', 'sep', '\u203a'));
      const b = el('button', '', n.name);
      b.type = 'button';
      if (n === cur) b.setAttribute('aria-current', 'true');
      b.addEventListener('click', () => zoom(n));
      nav.append(b);
    });
    $('up').disabled = !cur.parent;
    $('mapinfo').textContent = fmtSize(cur.size) + ', ' + fmtInt(cur.files) + ' files';
  }
  function render() {
    const W = Math.max(320, Math.floor($('tmbox').clientWidth));
    svg.setAttribute('width', String(W));
    svg.setAttribute('height', String(MAP_H));
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + MAP_H);
    svg.textContent = '';
    shown = [];
    budget = MAX_BOXES;
    const g = document.createElementNS(NS, 'g');
    if (cur.size > 0) draw(g, cur, W, MAP_H);
    svg.append(g);
    crumbs();
  }
  /* The zoomed box is in the address (#package/dir/...), so that the browser's
   * Back zooms out and a view can be linked to. */
  const keyOfNode = (n) => (n.kind === 'root' ? '' : n.kind === 'pkg' ? n.name
    : pkgOf(n).name + '/' + dirPath(n.d)).split('/').map(encodeURIComponent).join('/');
  const byKey = new Map();
  (function index(n) {
    byKey.set(keyOfNode(n), n);
    for (const k of n.kids) if (k.kind !== 'file') index(k);
  })(root);
  function fromHash() {
    let key = location.hash.replace(/^#/, '');
    try { key = key.split('/').map(decodeURIComponent).map(encodeURIComponent).join('/'); } catch (e) { key = ''; }
    return byKey.get(key) || root;
  }
  function show(n) {
    if (n === cur) return;
    cur = n;
    hideTip();
    render();
  }
  function zoom(n) {
    while (n && n.kind === 'file') n = n.parent;
    if (!n || n === cur) return;
    const key = keyOfNode(n);
    if (location.hash.replace(/^#/, '') !== key) location.hash = key; /* hashchange shows it */
    else show(n);
  }
  window.addEventListener('hashchange', () => show(fromHash()));

  /* ---- tooltips ---- */
  const tip = $('tip');
  function hideTip() { tip.hidden = true; }
  function showTip(n, ev) {
    tip.textContent = '';
    if (n.kind === 'file') {
      const p = D.packages.find((q) => q.id === F.pkg[n.f]);
      tip.append(el('div', 'p', absPath(pathOf(n)) + (isLink[n.f] ? ' (symlink)' : '')),
        el('div', '', isLink[n.f] ? 'symlink' : fmtSize(n.size) + ' (' + fmtInt(n.size) + ' bytes)'),
        el('div', '', keyLabel(n.key)),
        el('div', '', 'package: ' + (p && p.name !== null ? p.name + ' ' + p.version + ' ' + p.build : '(none)')));
    } else {
      const where = n.kind === 'pkg' ? 'package ' + n.name + (n.pkg.version ? ' ' + n.pkg.version : '')
        : n.kind === 'dir' ? absPath(pathOf(n)) + '/  (' + pkgOf(n).name + ')' : D.prefix;
      tip.append(el('div', 'p', where), el('div', '', fmtSize(n.size) + ' in ' + fmtInt(n.files) + ' files'));
      for (const k of [...n.agg.keys()].sort(byKeyOrder)) {
        const b = n.agg.get(k);
        if (!b) continue;
        const sw = el('span', 'sw');
        sw.style.cssText = 'display:inline-block;width:9px;height:9px;margin-right:5px;background:' + colourOf(k);
        tip.append(el('div', '', sw, keyLabel(k) + ': ' + fmtSize(b) + ' (' + pct(b, n.size) + ')'));
      }
    }
    tip.hidden = false;
    const r = tip.getBoundingClientRect();
    let x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + r.width > window.innerWidth - 4) x = Math.max(4, ev.clientX - r.width - 14);
    if (y + r.height > window.innerHeight - 4) y = Math.max(4, ev.clientY - r.height - 14);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }
  const targetNode = (ev) => {
    const i = ev.target.getAttribute && ev.target.getAttribute('data-n');
    return i === null || i === undefined ? null : shown[+i];
  };
  svg.addEventListener('mousemove', (ev) => { const n = targetNode(ev); if (n) showTip(n, ev); else hideTip(); });
  svg.addEventListener('mouseleave', hideTip);
  svg.addEventListener('click', (ev) => {
    let n = targetNode(ev);
    if (!n) return;
    /* One level at a time: the child of the current box that holds what was clicked. */
    while (n.parent && n.parent !== cur) n = n.parent;
    if (n.parent === cur) zoom(n);
  });
  $('up').addEventListener('click', () => { if (cur.parent) zoom(cur.parent); });
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && cur.parent) zoom(cur.parent); });
  let resizeTimer = 0;
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(render, 100); });

  /* ---- tables ---- */
  function mini(parts, totalBytes) {
    const m = el('span', 'mini');
    for (const [k, b] of parts) {
      if (!b) continue;
      const d = el('div');
      d.style.width = (100 * b / totalBytes) + '%';
      d.style.background = colourOf(k);
      m.append(d);
    }
    return m;
  }
  function sortableTable(table, cols, rows, foot, sortBy) {
    let key = sortBy, dir = -1;
    const head = el('tr');
    const tbody = el('tbody');
    cols.forEach((c) => {
      const th = el('th', (c.num ? 'n ' : '') + (c.sort === false ? '' : 'sort'), c.title);
      if (c.sort !== false) {
        th.addEventListener('click', () => {
          dir = key === c.key ? -dir : (c.num ? -1 : 1);
          key = c.key;
          fill();
        });
      }
      c.th = th;
      head.append(th);
    });
    function fill() {
      const col = cols.find((c) => c.key === key);
      const v = (r) => (col.value ? col.value(r) : r[key]);
      rows.sort((a, b) => {
        const x = v(a), y = v(b);
        if (x === y) return a.id - b.id;
        if (x === null) return 1;
        if (y === null) return -1;
        return (x < y ? -1 : 1) * dir;
      });
      for (const c of cols) c.th.removeAttribute('aria-sort');
      col.th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      tbody.textContent = '';
      for (const r of rows) {
        const tr = el('tr');
        for (const c of cols) tr.append(el('td', (c.num ? 'n' : '') + (c.wrap ? ' wrap' : ''), c.cell ? c.cell(r) : String(r[c.key] ?? '')));
        tbody.append(tr);
      }
    }
    table.append(el('thead', '', head), tbody);
    if (foot) {
      const tr = el('tr');
      for (const c of cols) tr.append(el('td', c.num ? 'n' : '', foot[c.key] !== undefined ? foot[c.key] : ''));
      table.append(el('tfoot', '', tr));
    }
    fill();
  }
  function packages() {
    const rows = D.packages.filter((p) => p.files > 0).map((p) => Object.assign({}, p,
      { ws_share: HAS_WS && p.bytes ? p.ws_bytes / p.bytes : null }));
    const cols = [
      { key: 'name', title: 'Package', cell: (r) => {
        const b = el('button', 'pkg', r.name === null ? '(no package)' : r.name);
        b.type = 'button';
        b.addEventListener('click', () => { zoom(pkgNodes.get(r.id)); $('map').scrollIntoView(); });
        return b;
      } },
      { key: 'version', title: 'Version' },
      { key: 'files', title: 'Files', num: true, cell: (r) => fmtInt(r.files) },
      { key: 'bytes', title: 'Size', num: true, cell: (r) => fmtSize(r.bytes) },
      { key: 'pruned_files', title: 'Pruned files', num: true, cell: (r) => fmtInt(r.pruned_files) },
      { key: 'pruned_bytes', title: 'Pruned size', num: true, cell: (r) => fmtSize(r.pruned_bytes) },
    ];
    if (HAS_WS) {
      cols.push({ key: 'ws_files', title: 'Working set files', num: true, cell: (r) => fmtInt(r.ws_files) },
        { key: 'ws_bytes', title: 'Working set size', num: true, cell: (r) => fmtSize(r.ws_bytes) },
        { key: 'ws_share', title: 'Working set share', num: true, cell: (r) => pct(r.ws_bytes, r.bytes) });
    } else {
      cols.push({ key: 'kept_bytes', title: 'Kept size', num: true, cell: (r) => fmtSize(r.kept_bytes) });
    }
    cols.push({ key: 'split', title: 'Split', sort: false, cell: (r) => {
      const n = pkgNodes.get(r.id);
      return mini([...n.agg.entries()].sort((a, b) => byKeyOrder(a[0], b[0])), n.size || 1);
    } });
    const foot = { name: 'total', files: fmtInt(T.files), bytes: fmtSize(T.bytes),
      pruned_files: fmtInt(T.pruned_files), pruned_bytes: fmtSize(T.pruned_bytes) };
    if (HAS_WS) Object.assign(foot, { ws_files: fmtInt(T.ws_files), ws_bytes: fmtSize(T.ws_bytes), ws_share: pct(T.ws_bytes, T.bytes) });
    else foot.kept_bytes = fmtSize(T.kept_bytes);
    sortableTable($('packages'), cols, rows, foot, 'bytes');
  }
  function rules() {
    const box = $('rules');
    if (!D.rules.length) {
      box.append(el('p', 'muted', 'No prune rules: the index was made without --policy or --preset, so everything is kept.'));
      return;
    }
    box.append(el('p', 'muted small', 'The last matching rule decides a path (docs/policy.md). A rule\'s figures are the files it decided: pruned for exclude rules, kept for keep rules. Sizes are what each rule saved.'));
    const t = el('table', 'grid');
    const cols = [
      { key: 'colour', title: '', sort: false, cell: (r) => { const s = el('span', 'sw'); s.style.background = r.keep || !r.pruned_files ? 'transparent' : colourOf(2 + r.id); return s; } },
      { key: 'origin', title: 'Origin' },
      { key: 'text', title: 'Rule', wrap: true, cell: (r) => el('code', '', r.text) },
      { key: 'pruned_files', title: 'Pruned files', num: true, cell: (r) => fmtInt(r.pruned_files) },
      { key: 'pruned_bytes', title: 'Saved', num: true, cell: (r) => fmtSize(r.pruned_bytes) },
      { key: 'share', title: 'Of the environment', num: true, value: (r) => r.pruned_bytes, cell: (r) => pct(r.pruned_bytes, T.bytes) },
      { key: 'kept_files', title: 'Kept by it', num: true, cell: (r) => (r.keep ? plural(r.kept_files, 'file') + ', ' + fmtSize(r.kept_bytes) : '') },
    ];
    const used = D.rules.filter((r) => r.files > 0), unused = D.rules.filter((r) => !r.files);
    sortableTable(t, cols, used, { origin: 'total', pruned_files: fmtInt(T.pruned_files),
      pruned_bytes: fmtSize(T.pruned_bytes), share: pct(T.pruned_bytes, T.bytes) }, 'pruned_bytes');
    box.append(t);
    if (unused.length) {
      const list = el('ul', 'small');
      for (const r of unused) list.append(el('li', '', r.origin + ': ', el('code', '', r.text)));
      box.append(el('details', '', el('summary', 'muted small', plural(unused.length, 'rule') + ' matched nothing in this environment'), list));
    }
  }
  function exportInfo() {
    const E = D.export, box = $('export');
    const cmd = E.of === 'all' ? 'condafs export ' + D.index + ' --all'
      : 'condafs export ' + D.index + D.worksets.map((w) => ' --workset ' + w).join('') + (D.traces.length ? ' --workset WS' : '');
    const p = el('p', '', el('code', '', cmd + ' -o layer.tar'), ' would write ',
      el('b', '', fmtInt(E.files) + ' files, ' + fmtInt(E.symlinks) + ' symlinks and ' + fmtInt(E.dirs) + ' directories'),
      ': ' + fmtSize(E.bytes) + ' of file contents, in a tar of ', el('b', '', fmtSize(E.tar_bytes)),
      ' (' + fmtInt(E.tar_bytes) + ' bytes; ' + pct(E.tar_bytes, T.bytes) + ' of the environment\'s bytes).');
    p.id = 'export-line';
    box.append(p);
    box.append(el('p', 'muted small', 'Measured with export\'s own selection and tar writer: ' +
      (E.of === 'all' ? 'every kept path'
        : 'the working sets applied to this index with their keep globs' + (D.traces.length ? ', with the traced paths (the working set condafs workset would make of the traces)' : '')) +
      ', every parent directory, the symlinks on the way and their targets, and the prefix\'s own directories; ' +
      'tar headers and padding included; no conda-meta records (export --with-conda-meta adds them). ' +
      '.tar.gz, .tar.zst and OCI layers are that tar compressed.'));
  }
  function footer() {
    const f = $('footer');
    f.append(el('p', '', 'condafs report of ' + D.index + ' (prefix ' + D.prefix + ', ' + D.platform + ', lock sha256 ' + D.lock_sha256 + ')'));
    if (D.worksets.length) f.append(el('p', '', 'working sets: ' + D.worksets.join(', ')));
    if (D.traces.length) f.append(el('p', '', 'traces: ' + D.traces.join(', ')));
  }

  summary();
  legend();
  cur = fromHash();
  render();
  packages();
  rules();
  exportInfo();
  footer();
})();
