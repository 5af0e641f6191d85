// Vigil console behaviour. No inline scripts and no eval (the CSP forbids
// both): everything the pages do beyond htmx is here.
(function () {
  'use strict';

  var paused = false;
  var pending = 0;
  var anchor = null; // a row in view before new rows arrive, and its position
  var opener = null; // the link that opened the detail drawer

  // closeDrawer empties the detail drawer and gives the focus back to the
  // link that opened it (or, were it replaced, its row's link).
  function closeDrawer() {
    var drawer = document.getElementById('drawer');
    if (!drawer || !drawer.classList.contains('open')) return false;
    drawer.innerHTML = '';
    drawer.classList.remove('open');
    var selected = document.querySelector('tr.selected');
    document.querySelectorAll('tr.selected').forEach(function (r) { r.classList.remove('selected'); });
    if (opener && !document.body.contains(opener) && selected) {
      opener = selected.querySelector('a.detail-link');
    }
    if (opener && document.body.contains(opener)) opener.focus();
    opener = null;
    return true;
  }

  function liveLabel() {
    var btn = document.getElementById('live-toggle');
    if (!btn) return;
    btn.setAttribute('aria-pressed', paused ? 'true' : 'false');
    btn.classList.toggle('paused', paused);
    var label = btn.querySelector('.live-label');
    if (paused) {
      label.textContent = pending > 0 ? pending + ' new · resume' : 'Paused';
    } else {
      label.textContent = 'Live';
    }
  }

  function resume() {
    paused = false;
    pending = 0;
    document.querySelectorAll('tbody.fresh[hidden]').forEach(function (tb) {
      tb.hidden = false;
    });
    liveLabel();
  }

  document.addEventListener('click', function (ev) {
    var t = ev.target;
    if (t.closest('#live-toggle')) {
      if (paused) { resume(); } else { paused = true; liveLabel(); }
      return;
    }
    var more = t.closest('.more-toggle');
    if (more) {
      var panel = document.getElementById(more.getAttribute('aria-controls'));
      var open = panel.classList.toggle('open');
      more.setAttribute('aria-expanded', open ? 'true' : 'false');
      return;
    }
    if (t.closest('[data-close-drawer]')) {
      closeDrawer();
      return;
    }
    // A click anywhere on a row opens its detail, except on its links.
    var row = t.closest('table.events tbody tr');
    if (row && !t.closest('a, button, input, select')) {
      var link = row.querySelector('a.detail-link');
      if (link) link.click();
    }
  });

  document.addEventListener('htmx:beforeRequest', function (ev) {
    var link = ev.target.closest && ev.target.closest('a.detail-link');
    if (!link) return;
    document.querySelectorAll('tr.selected').forEach(function (r) { r.classList.remove('selected'); });
    link.closest('tr').classList.add('selected');
    opener = link;
  });

  // Escape closes the detail drawer.
  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && closeDrawer()) ev.preventDefault();
  });


  // New rows arrive above the old ones: keep what the reader is looking
  // at in place, and hold them back while paused.
  document.addEventListener('htmx:beforeSwap', function (ev) {
    if (ev.detail.target && ev.detail.target.id === 'live') {
      var row = document.querySelector('#rows tr');
      anchor = row ? { row: row, top: row.getBoundingClientRect().top } : null;
    }
  });

  document.addEventListener('htmx:afterSwap', function (ev) {
    if (ev.detail.target && ev.detail.target.id === 'drawer') {
      var drawer = ev.detail.target;
      drawer.classList.add('open');
      // On a narrow screen the drawer sits below the table: bring it up.
      var narrow = window.matchMedia('(max-width: 760px)').matches;
      if (narrow) drawer.scrollIntoView({ block: 'start' });
      // The focus follows into the drawer: Tab reads on from its heading.
      drawer.focus({ preventScroll: !narrow });
    }
    var fresh = document.querySelectorAll('tbody.fresh:not([data-seen])');
    if (fresh.length === 0) return;
    fresh.forEach(function (tb) {
      tb.setAttribute('data-seen', '1');
      if (paused) {
        tb.hidden = true;
        pending += parseInt(tb.getAttribute('data-count'), 10) || 0;
      }
    });
    if (paused) {
      liveLabel();
    } else if (anchor && window.scrollY > 0) {
      window.scrollBy(0, anchor.row.getBoundingClientRect().top - anchor.top);
    }
    anchor = null;
  });
})();
