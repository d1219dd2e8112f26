(function () {
  'use strict';
  var doc = document;
  function all(sel, root) { return Array.prototype.slice.call((root || doc).querySelectorAll(sel)); }
  var boxes = all('input[name=status]');
  var fTier = doc.getElementById('f-tier');
  var fRegion = doc.getElementById('f-region');
  var fTag = doc.getElementById('f-tag');
  var fName = doc.getElementById('f-name');
  var shown = doc.getElementById('shown');
  var heads = all('th.ctl');
  var rows = all('tr.hrow');
  var clusters = all('details.cluster');
  var results = all('tr.res');
  var controls = all('table.controls tbody tr');
  var expand = false; // ?expand=1 opens every shown cluster (for printing)
  // Control metadata lives once, in the controls table; result rows only
  // carry the control ID.
  var meta = {};
  controls.forEach(function (tr) { meta[tr.dataset.c] = { tags: tr.dataset.tags || '', title: tr.dataset.title || '' }; });
  function tagsOf(el) {
    if (el.hasAttribute('data-tags')) { return el.getAttribute('data-tags'); }
    var m = meta[el.dataset.c];
    return m ? m.tags : '';
  }
  function hasTag(el, tag) { return !tag || tagsOf(el).indexOf(' ' + tag + ' ') >= 0; }
  function titles(root) {
    all('tr.res td.c', root).forEach(function (td) {
      if (td.dataset.t) { return; }
      var id = td.parentNode.dataset.c, m = meta[id];
      var code = doc.createElement('code');
      code.textContent = id;
      td.textContent = '';
      td.appendChild(code);
      if (m && m.title) { td.appendChild(doc.createTextNode(' ' + m.title)); }
      td.dataset.t = '1';
    });
  }
  function apply() {
    var on = {};
    boxes.forEach(function (b) { on[b.value] = b.checked; });
    var tier = fTier.value, region = fRegion.value, tag = fTag.value, name = fName.value.toLowerCase();
    var colOn = {};
    heads.forEach(function (th) {
      var ok = hasTag(th, tag);
      colOn[th.getAttribute('data-col')] = ok;
      th.hidden = !ok;
    });
    var visible = {}, n = 0;
    rows.forEach(function (tr) {
      var any = false, judged = false;
      all('td.cell', tr).forEach(function (td) {
        var col = colOn[td.getAttribute('data-col')];
        var st = td.getAttribute('data-s');
        td.hidden = !col;
        if (st) { judged = true; }
        var vis = col && st && on[st];
        td.classList.toggle('off', !vis && !!st);
        if (vis) { any = true; }
      });
      var d = tr.dataset;
      var ok = (!tier || d.tier === tier) && (!region || d.region === region) &&
        (!name || d.name.toLowerCase().indexOf(name) >= 0) && (any || !judged);
      tr.hidden = !ok;
      visible[d.i] = ok;
      if (ok) { n++; }
    });
    clusters.forEach(function (el) { el.hidden = !visible[el.dataset.i]; });
    results.forEach(function (tr) { tr.hidden = !(on[tr.dataset.s] && hasTag(tr, tag)); });
    controls.forEach(function (tr) { tr.hidden = !hasTag(tr, tag); });
    shown.textContent = n + ' of ' + rows.length + ' clusters shown';
  }
  function openCluster(i, scroll) {
    var el = doc.getElementById('c-' + i);
    if (!el) { return; }
    el.open = true;
    if (scroll) { el.scrollIntoView({ block: 'start' }); }
  }
  function openHash() {
    var m = /^#c-(\d+)$/.exec(location.hash);
    if (m) { openCluster(m[1], true); }
  }
  // Filters live in the query string too (?status=failed,error&tier=small
  // &region=..&tag=..&q=..), so a filtered view can be linked in a ticket.
  function fromURL() {
    var q;
    try { q = new URLSearchParams(location.search); } catch (e) { return; }
    if (q.has('status')) {
      var want = q.get('status').split(',');
      boxes.forEach(function (b) { b.checked = want.indexOf(b.value) >= 0; });
    }
    [[fTier, 'tier'], [fRegion, 'region'], [fTag, 'tag']].forEach(function (p) {
      var v = q.get(p[1]);
      if (v !== null && Array.prototype.some.call(p[0].options, function (o) { return o.value === v; })) { p[0].value = v; }
    });
    if (q.has('q')) { fName.value = q.get('q'); }
    expand = q.get('expand') === '1';
  }
  function toURL() {
    var q = new URLSearchParams();
    var on = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    if (on.length !== boxes.length) { q.set('status', on.join(',')); }
    if (fTier.value) { q.set('tier', fTier.value); }
    if (fRegion.value) { q.set('region', fRegion.value); }
    if (fTag.value) { q.set('tag', fTag.value); }
    if (fName.value) { q.set('q', fName.value); }
    var s = q.toString();
    try { history.replaceState(null, '', (s ? '?' + s : location.pathname) + location.hash); } catch (e) { /* file:// in some browsers */ }
  }
  function changed() { apply(); toURL(); }
  doc.getElementById('filters').addEventListener('change', changed);
  fName.addEventListener('input', changed);
  var heat = doc.querySelector('table.heat');
  if (heat) {
    heat.addEventListener('click', function (e) {
      var tr = e.target.closest('tr.hrow');
      if (!tr || e.target.closest('a')) { return; }
      location.hash = 'c-' + tr.dataset.i;
    });
  }
  doc.getElementById('open-all').addEventListener('click', function () { clusters.forEach(function (el) { if (!el.hidden) { el.open = true; } }); });
  doc.getElementById('close-all').addEventListener('click', function () { clusters.forEach(function (el) { el.open = false; }); });
  window.addEventListener('hashchange', openHash);
  clusters.forEach(function (el) { el.addEventListener('toggle', function () { if (el.open) { titles(el); } }); });
  var fleet = doc.getElementById('fleet');
  if (fleet) { titles(fleet); }
  fromURL();
  apply();
  if (expand) { clusters.forEach(function (el) { if (!el.hidden) { el.open = true; titles(el); } }); }
  openHash();
  doc.body.setAttribute('data-ready', 'yes');
}());
