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
  function hasTag(el, tag) { return !tag || (el.getAttribute('data-tags') || '').indexOf(' ' + tag + ' ') >= 0; }
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
        var st = td.getAttribute('data-status');
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
    results.forEach(function (tr) { tr.hidden = !(on[tr.dataset.status] && hasTag(tr, tag)); });
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
  doc.getElementById('filters').addEventListener('change', apply);
  fName.addEventListener('input', apply);
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
  apply();
  openHash();
  doc.body.setAttribute('data-ready', 'yes');
}());
