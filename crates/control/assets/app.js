// broker-tokens page: sign in, show every account live, renew / keep-alive /
// log in, and each account's last 24 hours. Data only ever goes into the
// page as text (never as HTML). Times count from the server's clock.
'use strict';
(() => {
  const POLL_MS = 3000;
  const $ = (id) => document.getElementById(id);
  let csrf = null;
  let timer = null;
  let zones = {};
  const cards = new Map();

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c) e.append(c);
    return e;
  }

  async function api(method, path, body) {
    const opts = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf || '';
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, opts);
    } catch (e) {
      return { status: 0, data: { error: 'the control server cannot be reached' } };
    }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (r.status === 401 && path !== '/session') signedOut();
    return { status: r.status, data: data || {} };
  }

  // ---- time ---------------------------------------------------------------
  function human(seconds) {
    const neg = seconds < 0;
    let s = Math.abs(Math.round(seconds));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const parts = d ? [d + 'd', h + 'h'] : h ? [h + 'h', m + 'm'] : m ? [m + 'm', s + 's'] : [s + 's'];
    return neg ? parts.join(' ') + ' ago' : 'in ' + parts.join(' ');
  }
  function until(ts, now) {
    if (!ts) return '—';
    return human((Date.parse(ts) - now) / 1000);
  }
  function clock(ts, zone) {
    return new Intl.DateTimeFormat('en-US', {
      timeZone: zone, weekday: 'short', day: 'numeric', month: 'short',
      hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
    }).format(new Date(ts));
  }
  // "Fri, Mar 6, 00:05 EST (05:05 UTC)": the exchange's time, then UTC.
  function stamp(ts, zone) {
    if (!ts) return '—';
    const utc = clock(ts, 'UTC');
    if (!zone || zone === 'UTC') return utc;
    return clock(ts, zone) + ' (' + new Intl.DateTimeFormat('en-US', {
      timeZone: 'UTC', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
    }).format(new Date(ts)) + ' UTC)';
  }
  // Remedies and person actions, in whatever shape the server gives them:
  // "log_in", {remedy: "fix_config", setting: "..."}, or nested.
  const REMEDIES = {
    log_in: 'log in', fix_config: 'fix the configuration', fix_pin: 'fix the PIN', wait: 'wait',
  };
  function words(x, zone) {
    if (x === null || x === undefined) return '';
    if (typeof x === 'string') return REMEDIES[x] || x.replace(/_/g, ' ');
    if (typeof x === 'object') {
      let text = words(x.remedy !== undefined ? x.remedy : (x.text || x.message || x.what || x.code || ''), zone);
      if (x.setting) text += ': ' + x.setting;
      if (x.until) text += ' (until ' + stamp(x.until, zone) + ')';
      return text;
    }
    return String(x);
  }

  // An account key as the server writes it in paths: broker/environment/label.
  function keyName(k) {
    return typeof k === 'string' ? k : k.broker + '/' + k.environment + '/' + k.label;
  }

  // ---- sign-in ------------------------------------------------------------
  function show(signedIn) {
    $('signin').hidden = signedIn;
    $('dashboard').hidden = !signedIn;
    $('sign-out').hidden = !signedIn;
    $('overall').hidden = !signedIn;
  }
  function signedOut() {
    csrf = null;
    if (timer) { clearInterval(timer); timer = null; }
    cards.clear();
    zones = {};
    $('accounts').replaceChildren();
    $('updated').textContent = '';
    $('overall').textContent = '';
    show(false);
    $('token').focus();
  }
  function signedIn(token) {
    csrf = token;
    show(true);
    refresh();
    if (!timer) timer = setInterval(refresh, POLL_MS);
  }
  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const field = $('token');
    $('signin-button').disabled = true;
    const r = await api('POST', '/session', { token: field.value });
    $('signin-button').disabled = false;
    field.value = '';
    if (r.status === 200 && r.data.csrf) {
      $('signin-error').textContent = '';
      signedIn(r.data.csrf);
    } else if (r.status === 429) {
      $('signin-error').textContent = 'Too many attempts: wait a minute, then try again.';
    } else {
      $('signin-error').textContent = 'Wrong control token.';
    }
  });
  $('sign-out').addEventListener('click', async () => {
    await api('POST', '/session/end');
    signedOut();
  });

  // ---- cards --------------------------------------------------------------
  function card(key) {
    if (cards.has(key)) return cards.get(key);
    const c = { key };
    c.root = el('article', { class: 'card', 'data-account': key });
    c.badge = el('span', { class: 'badge' });
    c.root.append(el('h2', {}, el('span', { text: key }), c.badge));
    c.person = el('p', { class: 'person', 'data-field': 'person', hidden: '' });
    c.dl = el('dl');
    c.fields = {};
    for (const [name, label] of [
      ['state', 'State'], ['expires', 'Expires'], ['idle', 'Idle'],
      ['refresh', 'Refresh token life'], ['next', 'Next check'],
      ['error', 'Last error'], ['remedy', 'Remedy'], ['action', 'Next person action'],
      ['warnings', 'Warnings'],
    ]) {
      const dd = el('dd', { 'data-field': name });
      c.fields[name] = dd;
      c.dl.append(el('dt', { text: label }), dd);
    }
    c.result = el('p', { class: 'result', role: 'status' });
    const button = (text, fn, cls) => {
      const b = el('button', { type: 'button', text, class: cls || '' });
      b.addEventListener('click', () => fn(b));
      return b;
    };
    c.loginButton = button('Log in', () => startLogin(c), 'primary');
    c.root.append(c.person, c.dl, el('div', { class: 'actions' },
      button('Renew now', (b) => act(c, b, '/refresh'), ''),
      button('Keep alive', (b) => act(c, b, '/keepalive'), ''),
      c.loginButton), c.result);
    c.login = el('div', { class: 'login', hidden: '' });
    c.timeline = el('ol', { class: 'timeline' });
    c.root.append(c.login, el('details', { open: '' },
      el('summary', { text: 'Last 24 hours' }), c.timeline));
    $('accounts').append(c.root);
    cards.set(key, c);
    return c;
  }

  function render(a, now) {
    const key = keyName(a.key);
    const c = card(key);
    const zone = zones[key] || 'UTC';
    c.badge.textContent = a.status;
    c.badge.className = 'badge status-' + a.status;
    c.root.dataset.status = a.status;
    const f = c.fields;
    f.state.textContent = a.state ? words(a.state) : 'no token';
    f.expires.textContent = a.expires_at ? until(a.expires_at, now) + ' — ' + stamp(a.expires_at, zone) : '—';
    f.idle.textContent = until(a.idle_at, now);
    f.refresh.textContent = a.refresh_expires_at ? until(a.refresh_expires_at, now) : '—';
    f.next.textContent = a.next_action_at ? stamp(a.next_action_at, zone) : '—';
    f.error.textContent = a.last_error ? a.last_error.message + ' (' + stamp(a.last_error.at, zone) + ')' : 'none';
    // The remedy is flattened into the account ("remedy", "setting",
    // "until", "remedy_reason") or absent on older servers.
    const remedy = a.remedy !== undefined && a.remedy !== null
      ? words({ remedy: a.remedy, setting: a.setting, until: a.until }, zone)
        + (a.remedy_reason ? ' — ' + a.remedy_reason : '')
      : '';
    f.remedy.textContent = remedy || (a.reauthorization_required ? 'log in' : '—');
    const npa = a.next_person_action;
    f.action.textContent = npa
      ? words(npa.remedy !== undefined ? npa.remedy : npa, zone) + (npa.at ? ' at ' + stamp(npa.at, zone) : '')
        + (npa.window_closes ? '; the window closes ' + stamp(npa.window_closes, zone) : '')
      : (a.reauthorization_required ? 'log in now' : 'none');
    f.warnings.textContent = (a.warnings || []).join('; ') || 'none';
    const needs = a.reauthorization_required || a.status === 'critical';
    c.person.hidden = !needs;
    c.person.textContent = needs
      ? 'A person must log in: ' + (a.reauthorization_reason || 'no usable token') : '';
    // A login finished elsewhere (redirect capture, the CLI, Telegram).
    if (c.loginOpen && !needs && a.status === 'healthy') {
      c.loginOpen = false;
      c.login.replaceChildren(el('p', { role: 'status', text: 'Logged in.' }));
    }
  }

  async function act(c, b, path) {
    b.disabled = true;
    c.result.textContent = 'Working…';
    const r = await api('POST', path + '?account=' + encodeURIComponent(c.key));
    b.disabled = false;
    const one = (r.data.results || [])[0];
    if (r.status === 200) c.result.textContent = 'Done.';
    else if (one && one.error) c.result.textContent = 'Failed: ' + one.error;
    else c.result.textContent = 'Failed: ' + (r.data.error || 'HTTP ' + r.status);
    refresh();
  }

  // ---- logging in -----------------------------------------------------------
  function loginPath(c, tail) {
    return '/login/' + encodeURIComponent(c.key) + (tail || '');
  }
  async function startLogin(c) {
    c.loginButton.disabled = true;
    const r = await api('POST', loginPath(c));
    c.loginButton.disabled = false;
    if (r.status === 404) {
      showLoginMessage(c, 'This control server cannot start logins from the page; use `tokenctl login`.');
      return;
    }
    if (r.status !== 200 || !r.data.url) {
      showLoginMessage(c, 'Could not start the login: ' + (r.data.error || 'HTTP ' + r.status));
      return;
    }
    showLogin(c, r.data);
  }
  function showLoginMessage(c, text) {
    c.login.hidden = false;
    c.login.replaceChildren(el('p', { class: 'error', role: 'alert', text }));
  }
  function showLogin(c, login) {
    const id = 'code-' + c.key.replace(/[^A-Za-z0-9]/g, '-');
    const redirect = login.expects === 'redirect_url';
    const label = redirect
      ? 'The full address your browser shows after you approve'
      : 'The verifier code the broker shows after you approve';
    const link = el('a', { class: 'open', href: login.url, target: '_blank', rel: 'noopener noreferrer', text: 'Open the broker\u2019s login page' });
    const input = el('input', { id, name: 'code', type: 'text', autocomplete: 'off', spellcheck: 'false', required: '' });
    const message = el('p', { class: 'result', role: 'status' });
    const form = el('form', {},
      el('label', { for: id, text: label }), input,
      el('button', { type: 'submit', class: 'primary', text: 'Finish login' }), message);
    // Redirect capture: the broker sends the browser back to this server,
    // which finishes the login; polling shows the card turn healthy.
    const parts = login.captured
      ? [link, el('p', { class: 'captured', text: 'Log in at the broker; this page updates by itself.' })]
      : [link, el('p', { text: login.instructions || (redirect
        ? 'Log in at the broker, approve, then copy the whole address from the browser bar.'
        : 'Log in at the broker, approve, then copy the code it shows.') })];
    if (login.expires_at) parts.push(el('p', { class: 'muted', text: 'This link works until ' + stamp(login.expires_at, zones[c.key]) + '.' }));
    if (login.replaced) parts.push(el('p', { class: 'muted', text: 'An older login link for this account no longer works.' }));
    c.login.hidden = false;
    c.loginOpen = true;
    if (login.captured) {
      form.hidden = true;
      const paste = el('button', { type: 'button', class: 'link paste-instead', text: 'Paste instead' });
      paste.addEventListener('click', () => { form.hidden = false; paste.hidden = true; input.focus(); });
      parts.push(paste);
    }
    c.login.replaceChildren(...parts, form);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      message.textContent = 'Checking…';
      const r = await api('POST', loginPath(c, '/complete'), { code: input.value.trim() });
      input.value = '';
      if (r.status === 200 && r.data.authorized) {
        c.loginOpen = false;
        c.login.replaceChildren(el('p', { role: 'status', text: 'Logged in.' }));
        refresh();
      } else if (r.status === 410 && r.data.url) {
        showLogin(c, { ...login, url: r.data.url, replaced: true });
        c.login.append(el('p', { class: 'error', role: 'alert', text: (r.data.error || 'That login expired') + ': open the new link above.' }));
      } else {
        message.textContent = (r.data.error || 'HTTP ' + r.status) + (r.data.remedy ? ' — ' + words(r.data.remedy) : '');
        message.className = 'result error';
      }
    });
  }

  // ---- timeline -------------------------------------------------------------
  const REASONS = {
    scheduled: 'scheduled', idle: 'the token was idle', expired: 'the access token had expired',
    operator: 'asked for by an operator', keep_alive: 'to keep the token alive',
    inactive: 'the broker refused the token as inactive',
  };
  function describe(e, zone) {
    switch (e.event) {
      case 'authorized': return ['ok', 'Logged in'];
      case 'renewed': return ['ok', 'Renewed' + (e.reason ? ' (' + (REASONS[e.reason] || words(e.reason)) + ')' : e.scheduled ? ' (scheduled)' : '')];
      case 'person_action_required':
        return ['alert', 'A person must ' + words({ remedy: e.remedy, setting: e.setting, until: e.until }, zone) + (e.reason ? ': ' + e.reason : '')];
      case 'keep_alive_sent': return ['ok', 'Keep-alive sent'];
      case 'recovered': return ['ok', 'Recovered'];
      case 'expiring_soon': return ['warn', 'Expiring soon: a person is needed after ' + stamp(e.deadline, zone)];
      case 'renewal_failed': return ['warn', 'Renewal failed: ' + e.error + (e.retry_at ? '; retry ' + stamp(e.retry_at, zone) : '')];
      case 'store_failure': return ['warn', 'Saving failed: ' + e.error];
      case 'warning': return ['warn', 'Warning: ' + e.message];
      case 'expired': return ['alert', 'Expired'];
      case 'reauthorization_required': return ['alert', 'Login needed: ' + e.reason];
      default: return ['warn', words(e.event)];
    }
  }
  function renderTimeline(t) {
    zones[t.account] = t.zone;
    const c = cards.get(t.account);
    if (!c) return;
    const items = t.events.slice().reverse().map((e) => {
      const [kind, text] = describe(e, t.zone);
      return el('li', { class: 'kind-' + kind, 'data-event': e.event },
        el('time', { datetime: e.at, text: stamp(e.at, t.zone) }), el('span', { text }));
    });
    if (!items.length) items.push(el('li', { class: 'muted', text: 'Nothing in the last 24 hours.' }));
    c.timeline.replaceChildren(...items);
  }

  // ---- polling --------------------------------------------------------------
  let busy = false;
  async function refresh() {
    if (!csrf || busy) return;
    busy = true;
    try {
      const [h, ev] = await Promise.all([api('GET', '/health'), api('GET', '/events')]);
      if (!csrf) return;
      if (ev.status === 200) for (const t of ev.data.accounts || []) zones[t.account] = t.zone;
      if ((h.status === 200 || h.status === 503) && h.data.accounts) {
        const now = Date.parse(h.data.generated_at);
        for (const a of h.data.accounts) render(a, now);
        $('overall').textContent = h.data.status;
        $('overall').className = 'badge status-' + h.data.status;
        $('updated').textContent = 'Updated ' + stamp(h.data.generated_at, 'UTC');
      } else if (h.status !== 401) {
        $('updated').textContent = 'Could not update: ' + (h.data.error || 'HTTP ' + h.status);
      }
      if (ev.status === 200) for (const t of ev.data.accounts || []) renderTimeline(t);
    } finally {
      busy = false;
    }
  }

  // For the browser test: how remedies, person actions and events read.
  window.brokerTokensPage = { words, describe, stamp };

  (async () => {
    const r = await api('GET', '/session');
    if (r.status === 200 && r.data.signed_in && r.data.csrf) signedIn(r.data.csrf);
    else signedOut();
  })();
})();
