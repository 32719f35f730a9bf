// app.js — the operational picture, fed by knoop-web's Server-Sent Events
// (/events). No polling: the page changes when an event arrives. Everything
// is computed here from the messages as the node holds them; exercise
// traffic is kept apart and shown only in the OEFENING view.
'use strict';

// The 25 veiligheidsregio's on a schematic grid (column, row).
const REGIOS = [
  ['vr-noord-holland-noord', 'Noord-Holland Noord', 2, 1], ['vr-fryslan', 'Fryslân', 3, 1],
  ['vr-groningen', 'Groningen', 4, 1],
  ['vr-kennemerland', 'Kennemerland', 1, 2], ['vr-zaanstreek-waterland', 'Zaanstreek-Waterland', 2, 2],
  ['vr-flevoland', 'Flevoland', 3, 2], ['vr-drenthe', 'Drenthe', 4, 2],
  ['vr-haaglanden', 'Haaglanden', 1, 3], ['vr-amsterdam-amstelland', 'Amsterdam-Amstelland', 2, 3],
  ['vr-gooi-vechtstreek', 'Gooi en Vechtstreek', 3, 3], ['vr-ijsselland', 'IJsselland', 4, 3],
  ['vr-twente', 'Twente', 5, 3],
  ['vr-rotterdam-rijnmond', 'Rotterdam-Rijnmond', 1, 4], ['vr-hollands-midden', 'Hollands Midden', 2, 4],
  ['vr-utrecht', 'Utrecht', 3, 4], ['vr-gelderland-midden', 'Gelderland-Midden', 4, 4],
  ['vr-noord-oost-gelderland', 'Noord- en Oost-Gelderland', 5, 4],
  ['vr-zeeland', 'Zeeland', 1, 5], ['vr-zuid-holland-zuid', 'Zuid-Holland Zuid', 2, 5],
  ['vr-gelderland-zuid', 'Gelderland-Zuid', 3, 5],
  ['vr-midden-west-brabant', 'Midden- en West-Brabant', 2, 6], ['vr-brabant-noord', 'Brabant-Noord', 3, 6],
  ['vr-brabant-zuidoost', 'Brabant-Zuidoost', 4, 6], ['vr-limburg-noord', 'Limburg-Noord', 5, 6],
  ['vr-zuid-limburg', 'Zuid-Limburg', 5, 7],
];
const NAAM = Object.assign(Object.fromEntries(REGIOS.map(r => [r[0], r[1]])), { kcr2: 'KCR2' });
const GRIP = { GRIP_0: 0, GRIP_1: 1, GRIP_2: 2, GRIP_3: 3, GRIP_4: 4, GRIP_5: 5, GRIP_RIJK: 6 };
const GRIP_TEKST = ['0', '1', '2', '3', '4', '5', 'Rijk'];
const T = 'knoop.crisis.v1.';
const SOORT = {
  GripLevel: 'GRIP', SitRep: 'SitRep', Duiding: 'Duiding', WaterLevel: 'Waterstand',
  VitalOutage: 'Uitval', ResourceRequest: 'Bijstand', Alert: 'Waarschuwing',
};
const DOELGROEP = {
  AUDIENCE_PUBLIC: 'Bevolking', AUDIENCE_MUNICIPALITIES: 'Gemeenten',
  AUDIENCE_VITAL_PROVIDERS: 'Vitale partners', AUDIENCE_REGIONS: 'Veiligheidsregio\'s',
  AUDIENCE_WATER_BOARDS: 'Waterschappen', AUDIENCE_MINISTRIES: 'Departementen en Rijk',
  AUDIENCE_BUSINESSES: 'Bedrijfsleven', AUDIENCE_CARE: 'Zorginstellingen (GHOR)',
};
const ERNST = {
  CAP_SEVERITY_EXTREME: 'extreem', CAP_SEVERITY_SEVERE: 'ernstig', CAP_SEVERITY_MODERATE: 'matig',
  CAP_SEVERITY_MINOR: 'gering', CAP_SEVERITY_UNKNOWN: 'ernst onbekend',
};
const BIJSTAND = {
  RESPONSE_KIND_OFFER: 'aangeboden', RESPONSE_KIND_COMMIT: 'toegezegd',
  RESPONSE_KIND_RELEASE: 'vrijgegeven', RESPONSE_KIND_DECLINE: 'afgewezen',
};

const $ = id => document.getElementById(id);
const st = {
  me: null, msgs: { actual: new Map(), exercise: new Map() }, status: null,
  oefening: false, regio: null, queued: false, es: null, sseLostSince: 0,
};

// ---- helpers ----
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}
const num = v => (v === undefined || v === null || v === '' ? undefined : Number(v));
function hhmm(ms) {
  const d = new Date(ms);
  return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
}
function tijd(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return d.toLocaleString('nl-NL', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}
const kort = t => (t || '').replace(T, '');
const soort = t => SOORT[kort(t)] || kort(t);
const partnerNaam = id => NAAM[id] || id;
function cmp(a, b) { // message order: hybrid logical clock, then origin
  if (a._hlc !== b._hlc) return a._hlc < b._hlc ? -1 : 1;
  return a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0;
}
function view() { return st.msgs[st.oefening ? 'exercise' : 'actual']; }
function winners(filter) { // latest message per state key (topic, key)
  const w = new Map();
  for (const m of view().values()) {
    if (!filter(m)) continue;
    const k = m.topic + '\n' + (m.key || '');
    const cur = w.get(k);
    if (!cur || cmp(cur, m) < 0) w.set(k, m);
  }
  return [...w.values()];
}
function byType(type) { return m => m.type === T + type; }

// ---- the event stream ----
function connect() {
  if (st.es) st.es.close();
  const es = new EventSource('/events');
  st.es = es;
  es.addEventListener('msg', e => {
    let m;
    try { m = JSON.parse(e.data); } catch (_) { return; }
    const h = /"hlc":"?(\d+)/.exec(e.data); // exact, beyond 2^53
    m._hlc = h ? BigInt(h[1]) : 0n;
    const bucket = m.status === 'actual' ? 'actual' : m.status === 'exercise' ? 'exercise' : null;
    if (!bucket) return;
    st.msgs[bucket].set(m.origin + '/' + m.topic + '/' + m.epoch + '/' + m.seq, m);
    schedule();
  });
  es.addEventListener('status', e => {
    try { st.status = JSON.parse(e.data); } catch (_) { return; }
    schedule();
  });
  es.onopen = () => { st.sseLostSince = 0; schedule(); };
  es.onerror = () => {
    if (!st.sseLostSince) st.sseLostSince = Date.now();
    schedule();
    if (es.readyState === EventSource.CLOSED) setTimeout(start, 3000);
  };
}
function schedule() {
  if (st.queued) return;
  st.queued = true;
  requestAnimationFrame(() => { st.queued = false; render(); });
}

// ---- rendering ----
function render() {
  $('banner-oefening').hidden = !st.oefening;
  document.body.classList.toggle('oefening', st.oefening);
  renderLink(); renderKaart(); renderRegio(); renderDuiding(); renderWater();
  renderVitaal(); renderBijstand(); renderAlerts(); renderTijdlijn(); renderGezond();
}

function renderLink() {
  const s = st.status, pill = $('link-pill'), b = $('banner-link');
  let lost = 0, wat = '';
  if (st.sseLostSince) { lost = st.sseLostSince; wat = 'verbinding met knoop-web verbroken'; }
  else if (s && s.link && s.link.state !== 'up') {
    lost = num(s.lost_since_ms) || Date.now();
    wat = s.link.state === 'node-down' ? 'verbinding met de eigen node verbroken' : 'verbinding verbroken';
  }
  if (lost) {
    b.textContent = wat + ' sinds ' + hhmm(lost) + ' — u ziet de laatste bekende stand';
    b.hidden = false;
    pill.textContent = 'verbroken'; pill.className = 'pill down';
  } else {
    b.hidden = true;
    pill.textContent = s ? 'verbonden' + (s.link && s.link.broker ? ' met ' + s.link.broker : '') : 'verbinden…';
    pill.className = s ? 'pill up' : 'pill';
  }
}

function gripPerRegio() {
  const per = new Map();
  for (const m of winners(byType('GripLevel'))) {
    const p = m.payload || {};
    const r = p.region || m.topic.split('.')[1];
    const lv = GRIP[p.level || 'GRIP_0'] ?? 0;
    if (!per.has(r)) per.set(r, []);
    per.get(r).push({ lv, inc: p.incident_id || m.key, m });
  }
  return per;
}

function renderKaart() {
  const k = $('kaart'), per = gripPerRegio();
  if (!k.children.length) {
    for (const [id, naam, c, r] of REGIOS) {
      const b = el('button', { type: 'button', class: 'tegel', 'data-regio': id });
      b.style.gridColumn = c; b.style.gridRow = r;
      b.append(el('span', { class: 'naam', text: naam }), el('span', { class: 'inc' }),
        el('span', { class: 'niveau' }));
      b.addEventListener('click', () => openRegio(id));
      k.append(b);
    }
  }
  for (const b of k.children) {
    const id = b.dataset.regio, list = (per.get(id) || []).filter(x => x.lv > 0);
    const max = list.reduce((a, x) => Math.max(a, x.lv), 0);
    b.className = 'tegel ' + (max ? 'g' + max : 'g-geen');
    b.dataset.grip = max ? GRIP_TEKST[max] : '';
    b.querySelector('.niveau').textContent = max ? 'GRIP ' + GRIP_TEKST[max] : '';
    b.querySelector('.inc').textContent = list.map(x => x.inc).join(', ');
    b.setAttribute('aria-label', NAAM[id] + ': ' + (max ? 'GRIP ' + GRIP_TEKST[max] + ', ' +
      list.map(x => x.inc).join(', ') : 'geen GRIP'));
  }
}

function openRegio(id) {
  st.regio = id;
  renderRegio();
  $('regio').focus();
}

function renderRegio() {
  const sec = $('regio');
  if (!st.regio) { sec.hidden = true; return; }
  const id = st.regio;
  sec.hidden = false;
  $('regio-kop').textContent = 'Veiligheidsregio ' + NAAM[id];
  const inh = $('regio-inhoud');
  inh.replaceChildren();
  const incs = (gripPerRegio().get(id) || []);
  inh.append(el('h3', { text: 'Incidenten' }));
  if (!incs.length) inh.append(el('p', { class: 'leeg', text: 'Geen incidenten.' }));
  else inh.append(el('ul', {}, ...incs.map(x => el('li', {
    text: x.inc + ': GRIP ' + GRIP_TEKST[x.lv] + (x.m.payload.reason ? ' — ' + x.m.payload.reason : '')
  }))));
  const sr = winners(m => m.type === T + 'SitRep' && m.topic.split('.')[1] === id).sort(cmp).pop();
  inh.append(el('h3', { text: 'Laatste SitRep' }));
  if (!sr) inh.append(el('p', { class: 'leeg', text: 'Geen SitRep.' }));
  else {
    const p = sr.payload || {}, c = p.casualties || {};
    inh.append(el('p', { text: p.summary || '' }),
      el('p', { text: [p.location && p.location.name, tijd(sr.time)].filter(Boolean).join(' · ') }),
      el('p', { text: 'doden ' + (num(c.dead) ?? 0) + ' · gewonden ' + (num(c.injured) ?? 0) +
        ' · vermisten ' + (num(c.missing) ?? 0) + ' · geëvacueerd ' + (num(c.evacuated) ?? 0) }));
    if ((p.needs || []).length) inh.append(el('p', { text: 'Behoeften: ' + p.needs.join(', ') }));
  }
  inh.append(el('h3', { text: 'GRIP-verloop' }));
  const hist = [...view().values()].filter(m => m.type === T + 'GripLevel' &&
    (m.payload.region || m.topic.split('.')[1]) === id).sort(cmp).reverse();
  if (!hist.length) inh.append(el('p', { class: 'leeg', text: 'Geen GRIP-berichten.' }));
  else inh.append(el('ol', {}, ...hist.map(m => el('li', {
    text: tijd(m.time) + ' — ' + (m.payload.incident_id || '') + ': GRIP ' +
      GRIP_TEKST[GRIP[m.payload.level || 'GRIP_0'] ?? 0]
  }))));
}

function renderDuiding() {
  const d = winners(byType('Duiding')).sort(cmp).pop(), box = $('duiding');
  if (!d) { box.replaceChildren(el('p', { class: 'leeg', text: 'Geen duiding.' })); return; }
  const p = d.payload || {};
  box.replaceChildren(
    el('h3', { text: (p.title || 'Duiding') + ' — nr. ' + (num(p.report_number) ?? '?') +
      ', versie ' + (num(p.version) ?? '?') }),
    el('p', { text: p.assessment || '' }),
    el('p', { text: 'Geldig tot ' + (tijd(p.valid_until) || 'onbekend') +
      (p.affected_regions ? ' · betreft ' + p.affected_regions.map(partnerNaam).join(', ') : '') }),
    el('h3', { text: 'Handelingsperspectief' }),
    el('dl', {}, ...(p.advised_actions || []).flatMap(a => [
      el('dt', { text: DOELGROEP[a.audience] || a.audience || '' }),
      el('dd', {}, el('ul', {}, ...(a.actions || []).map(x => el('li', { text: x })))),
    ])));
}

function chart(points, threshold) { // a line of levels and the threshold, as SVG
  const ns = 'http://www.w3.org/2000/svg', W = 300, H = 90, pad = 4;
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'grafiek');
  svg.setAttribute('role', 'img');
  const vals = points.map(p => p[1]).concat(threshold !== undefined ? [threshold] : []);
  if (!points.length) return svg;
  const t0 = points[0][0], t1 = points[points.length - 1][0] || t0 + 1;
  const lo = Math.min(...vals), hi = Math.max(...vals), span = hi - lo || 1;
  const x = t => pad + (W - 2 * pad) * (t1 === t0 ? 1 : (t - t0) / (t1 - t0));
  const y = v => H - pad - (H - 2 * pad) * (v - lo) / span;
  if (threshold !== undefined) {
    const l = document.createElementNS(ns, 'line');
    Object.entries({ x1: 0, x2: W, y1: y(threshold), y2: y(threshold), stroke: '#7f0d1e',
      'stroke-width': 2, 'stroke-dasharray': '6 4' }).forEach(([k, v]) => l.setAttribute(k, v));
    svg.append(l);
  }
  const pl = document.createElementNS(ns, 'polyline');
  pl.setAttribute('points', points.map(p => x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1)).join(' '));
  Object.entries({ fill: 'none', stroke: '#0b3d91', 'stroke-width': 3 }).forEach(([k, v]) => pl.setAttribute(k, v));
  svg.append(pl);
  svg.setAttribute('aria-label', 'verloop ' + points.length + ' metingen, laatste ' +
    points[points.length - 1][1] + ' cm NAP' + (threshold !== undefined ? ', norm ' + threshold : ''));
  return svg;
}

function renderWater() {
  const over = winners(m => m.type === T + 'WaterLevel' && m.payload && m.payload.threshold_exceeded);
  const box = $('water');
  if (!over.length) { box.replaceChildren(el('p', { class: 'leeg', text: 'Geen overschrijdingen.' })); return; }
  const all = [...view().values()].filter(byType('WaterLevel')).sort(cmp);
  box.replaceChildren(...over.map(m => {
    const p = m.payload, lvl = num(p.level_cm_nap) ?? 0;
    const th = p.threshold && p.threshold.level_cm_nap !== undefined ? num(p.threshold.level_cm_nap) : undefined;
    const pts = all.filter(o => o.topic === m.topic && o.key === m.key && o.payload.level_cm_nap !== undefined)
      .slice(-60).map(o => [Date.parse(o.payload.measured_at || o.time) || 0, num(o.payload.level_cm_nap)]);
    return el('div', { class: 'kaartje' },
      el('div', { text: (p.gauge_name || p.gauge_id || m.key) + ' (' + (p.waterschap || m.origin) + ')' }),
      el('div', { class: 'groot over', text: lvl + ' cm NAP' }),
      el('div', { text: 'norm ' + (th !== undefined ? th + ' cm' : 'onbekend') +
        (p.threshold && p.threshold.name ? ' (' + p.threshold.name + ')' : '') + ' · ' + tijd(p.measured_at || m.time) }),
      chart(pts, th));
  }));
}

function table(head, rows) {
  return el('table', {}, el('thead', {}, el('tr', {}, ...head.map(h => el('th', { text: h })))),
    el('tbody', {}, ...rows.map(r => el('tr', {}, ...r.map(c => el('td', { text: c == null ? '' : String(c) }))))));
}

function renderVitaal() {
  const w = winners(byType('VitalOutage')).sort(cmp).reverse(), box = $('vitaal');
  if (!w.length) { box.replaceChildren(el('p', { class: 'leeg', text: 'Geen storingen.' })); return; }
  box.replaceChildren(table(['Partner', 'Gebied', 'Getroffen', 'Verwacht herstel', 'Omschrijving'],
    w.map(m => { const p = m.payload || {}; return [p.provider || m.origin, p.area && p.area.name,
      (num(p.customers_affected) ?? 0).toLocaleString('nl-NL'), tijd(p.expected_restore), p.description]; })));
}

function renderBijstand() {
  const reqs = new Map();
  for (const m of winners(byType('ResourceRequest')).sort(cmp)) {
    const p = m.payload || {}, id = p.request_id || m.key;
    const r = reqs.get(id) || { p, state: 'aangevraagd', by: [] };
    if (m.origin === p.requesting_region || !reqs.has(id)) r.p = Object.assign({}, r.p, p);
    for (const x of p.responses || []) { r.state = BIJSTAND[x.kind] || r.state; r.by.push(x.responder); }
    reqs.set(id, r);
  }
  const box = $('bijstand');
  if (!reqs.size) { box.replaceChildren(el('p', { class: 'leeg', text: 'Geen aanvragen.' })); return; }
  box.replaceChildren(table(['Aanvraag', 'Wat', 'Aantal', 'Aanvrager', 'Status'],
    [...reqs.entries()].map(([id, r]) => [id, r.p.what, (num(r.p.quantity) ?? '') + ' ' + (r.p.unit || ''),
      partnerNaam(r.p.requesting_region), r.state + (r.by.length ? ' (' + [...new Set(r.by)].map(partnerNaam).join(', ') + ')' : '')])));
}

function renderAlerts() {
  const w = winners(byType('Alert')).sort(cmp).reverse(), box = $('alerts');
  if (!w.length) { box.replaceChildren(el('p', { class: 'leeg', text: 'Geen waarschuwingen.' })); return; }
  box.replaceChildren(...w.map(m => {
    const i = ((m.payload || {}).info || [])[0] || {};
    return el('div', { class: 'kaartje' }, el('strong', { text: i.headline || i.event || m.key }),
      el('div', { text: [ERNST[i.severity] || i.severity, (i.area || []).map(a => a.area_desc).join(', ')].filter(Boolean).join(' · ') }),
      el('div', { text: i.instruction || '' }));
  }));
}

function samenvatting(m) {
  const p = m.payload || {};
  switch (kort(m.type)) {
  case 'GripLevel': return partnerNaam(p.region) + ' GRIP ' + GRIP_TEKST[GRIP[p.level || 'GRIP_0'] ?? 0] + (p.reason ? ': ' + p.reason : '');
  case 'SitRep': return p.summary || '';
  case 'WaterLevel': return (p.gauge_name || p.gauge_id) + ' ' + (num(p.level_cm_nap) ?? '?') + ' cm NAP' + (p.threshold_exceeded ? ' (boven norm)' : '');
  case 'VitalOutage': return (p.description || '') + (p.area ? ', ' + p.area.name : '');
  case 'Duiding': return p.title || '';
  case 'ResourceRequest': return (p.what || '') + ' ' + (num(p.quantity) ?? '');
  case 'Alert': return (((p.info || [])[0]) || {}).headline || '';
  default: return m.key || '';
  }
}

function fillSelect(sel, values, label) {
  const cur = sel.value, have = [...sel.options].map(o => o.value).slice(1);
  if (have.join() === values.join()) return;
  sel.replaceChildren(el('option', { value: '', text: 'alle' }), ...values.map(v => el('option', { value: v, text: label(v) })));
  sel.value = values.includes(cur) ? cur : '';
}

function renderTijdlijn() {
  const all = [...view().values()];
  fillSelect($('filter-partner'), [...new Set(all.map(m => m.origin))].sort(), partnerNaam);
  fillSelect($('filter-type'), [...new Set(all.map(m => m.type))].sort(), soort);
  const fp = $('filter-partner').value, ft = $('filter-type').value;
  const list = all.filter(m => (!fp || m.origin === fp) && (!ft || m.type === ft)).sort(cmp).reverse().slice(0, 200);
  $('tijdlijn').replaceChildren(...list.map(m => el('li', { 'data-type': kort(m.type), 'data-origin': m.origin },
    el('span', { class: 't', text: tijd(m.time) }), el('span', { class: 'p', text: partnerNaam(m.origin) }),
    el('span', { text: soort(m.type) + ' — ' + samenvatting(m) }))));
}

const datumTijd = ms => new Date(num(ms)).toLocaleString('nl-NL');

// The last catch-up the node finished: when, from which broker, how much, how long.
function inhaalTekst(c) {
  if (!c || !num(c.done_ms)) return 'nog geen';
  const ms = num(c.duration_ms) ?? 0;
  return datumTijd(c.done_ms) + ' van ' + c.broker + ': ' + (num(c.messages) ?? 0) + ' berichten in ' +
    (num(c.streams) ?? 0) + ' stromen, ' + (ms < 1000 ? ms + ' ms' : (ms / 1000).toFixed(1) + ' s');
}

// The mesh's verdict as the node's broker tells it: per peer broker whether
// their digests were equal at the last comparison, and when that was.
function meshTekst(m) {
  if (!m || !num(m.heard_ms)) return 'onbekend (geen bericht van de broker)';
  const peers = m.peers || [];
  if (!peers.length) return 'broker ' + m.broker + ' heeft geen andere brokers';
  const per = peers.map(p => p.peer + ': ' + (!p.up ? 'geen verbinding' : p.in_sync ? 'gelijk' : 'verschillend') +
    (num(p.last_sync_ms) ? ' (vergeleken ' + hhmm(num(p.last_sync_ms)) + ')' : ' (nog niet vergeleken)'));
  return (m.agree ? 'eens' : 'NIET eens') + ' — ' + per.join('; ') +
    (m.digest ? ' — digest ' + m.digest.slice(0, 12) : '');
}

function renderGezond() {
  const s = st.status, dl = $('gezond');
  if (!s) { dl.replaceChildren(); return; }
  const l = s.link || {}, o = s.outbox || {}, j = s.journal || {};
  const rows = [
    ['Node', s.partner + (s.node_ok ? '' : ' (antwoordt niet)')],
    ['Verbinding', (l.state === 'up' ? 'verbonden' : l.state === 'connecting' ? 'verbinden' : 'verbroken') +
      (l.broker ? ' — broker ' + l.broker : '')],
    [l.state === 'up' ? 'Sinds' : 'Laatste wijziging', l.since_ms ? new Date(num(l.since_ms)).toLocaleString('nl-NL') : ''],
    ['Bijgewerkt', l.caught_up ? 'ja, alles ingehaald' : 'nog aan het inhalen'],
    ['Overgestapt op andere broker', String(num(l.failovers) ?? 0) + ' keer'],
    ['Nog te verzenden', String(num(o.backlog) ?? 0) + ' berichten'],
    ['Ontvangen sinds start', String(num(l.delivered_in) ?? 0) + ' berichten'],
  ];
  rows.push(['Laatste inhaalslag', inhaalTekst(s.catchup)]);
  rows.push(['Brokers onderling', meshTekst(s.mesh)]);
  if (j && Object.keys(j).length) rows.push(['Journaal', Object.entries(j).map(([k, v]) => k + ' ' + v).join(', ')]);
  if (s.last_error) rows.push(['Laatste fout', s.last_error]);
  dl.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
}

// ---- login and publishing ----
async function post(url, data) {
  const r = await fetch(url, { method: 'POST', body: new URLSearchParams(data), credentials: 'same-origin' });
  let body = {};
  try { body = await r.json(); } catch (_) { }
  return { ok: r.ok, status: r.status, body };
}

function pubForm(form, url) {
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const out = form.querySelector('.uitslag');
    const data = Object.fromEntries(new FormData(form).entries());
    for (const k of Object.keys(data)) if (data[k] === '') delete data[k];
    data.csrf = st.me.csrf;
    out.className = 'uitslag'; out.textContent = 'bezig…';
    const r = await post(url, data);
    if (r.ok) { out.textContent = 'gepubliceerd: ' + r.body.topic + ' #' + r.body.seq; form.reset(); }
    else { out.className = 'uitslag fout'; out.textContent = 'niet gepubliceerd (' + r.status + '): ' + (r.body.fout || ''); }
  });
}

async function start() {
  let me;
  try { me = await (await fetch('/api/me', { credentials: 'same-origin' })).json(); }
  catch (_) { setTimeout(start, 3000); return; }
  st.me = me;
  $('partner').textContent = '— ' + partnerNaam(me.partner);
  $('pub-partner').textContent = partnerNaam(me.partner);
  $('gebruiker').textContent = me.gebruiker ? 'ingelogd: ' + me.gebruiker : '';
  $('uitloggen').hidden = !me.gebruiker;
  $('login').hidden = !me.inloggen || !!me.gebruiker;
  $('beeld').hidden = !me.lezen;
  $('publiceren').hidden = !me.publiceren;
  if (me.lezen) connect();
}

function init() {
  $('login-form').addEventListener('submit', async e => {
    e.preventDefault();
    const f = e.target, r = await post('/api/login', { user: f.user.value, password: f.password.value });
    f.password.value = '';
    if (!r.ok) { $('login-fout').textContent = r.body.fout || 'inloggen mislukt'; return; }
    $('login-fout').textContent = '';
    start();
  });
  $('uitloggen').addEventListener('click', async () => {
    await post('/api/logout', { csrf: st.me.csrf });
    location.reload();
  });
  const toggle = () => {
    st.oefening = !st.oefening;
    $('oefening-knop').setAttribute('aria-pressed', String(st.oefening));
    $('oefening-knop').textContent = st.oefening ? 'Terug naar werkelijk beeld' : 'Oefening tonen';
    schedule();
  };
  $('oefening-knop').addEventListener('click', toggle);
  $('regio-sluit').addEventListener('click', () => { st.regio = null; schedule(); });
  document.addEventListener('keydown', e => {
    if (e.target.closest('input, textarea, select')) return;
    if (e.key === 'Escape' && st.regio) { const id = st.regio; st.regio = null; schedule();
      const t = document.querySelector(`[data-regio="${id}"]`); if (t) t.focus(); }
    if (e.key === 'o' && !e.ctrlKey && !e.metaKey && !e.altKey) toggle();
  });
  $('filter-partner').addEventListener('change', schedule);
  $('filter-type').addEventListener('change', schedule);
  pubForm($('grip-form'), '/api/grip');
  pubForm($('sitrep-form'), '/api/sitrep');
  const klok = () => { $('klok').textContent = new Date().toLocaleTimeString('nl-NL', { hour: '2-digit', minute: '2-digit' }); };
  klok();
  setInterval(klok, 15000); // the wall clock; no data is fetched
  start();
}
document.addEventListener('DOMContentLoaded', init);
