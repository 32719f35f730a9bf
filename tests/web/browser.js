// tests/web/browser.js — knoop-web in headless chromium (driven by
// puppeteer-core, no browser download). Run by tests/cli_web_browser.sh,
// which starts the broker, the nodes and knoop-web and passes, in the
// environment: WEB_URL, WEB_USER, WEB_PASSWORD, KNOOP (the CLI),
// NODE_API_OTHER (Zuid-Limburg's node), BROKER_PID_FILE, BROKER_START,
// CHROMIUM, ARTEFACTS. Prints "ok WHAT" / "FAIL WHAT" per check and "done".
'use strict';
const puppeteer = require('puppeteer-core');
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const env = process.env;
const url = env.WEB_URL;
const host = new URL(url).host;
let failed = 0;
const ok = what => console.log('ok ' + what);
const bad = (what, why) => { failed++; console.log('FAIL ' + what + (why ? ': ' + why : '')); };
const check = (what, cond, why) => (cond ? ok(what) : bad(what, why));
const sleep = ms => new Promise(r => setTimeout(r, ms));

function pub(topic, type, key, json, status) {
  execFileSync(env.KNOOP, ['pub', '--api', env.NODE_API_OTHER, '--topic', topic, '--type', type,
    '--key', key, '--status', status || 'actual', '--json', JSON.stringify(json)], { stdio: 'pipe' });
}
function grip(level, status, incident) {
  pub('grip.vr-zuid-limburg', 'knoop.crisis.v1.GripLevel', (incident || 'hoogwater') + '/vr-zuid-limburg',
    { incident_id: incident || 'hoogwater', region: 'vr-zuid-limburg', level, reason: 'test ' + level }, status);
}
const tileGrip = (page, id) => page.$eval(`[data-regio="${id}"]`, e => e.dataset.grip);
async function shot(page, name) {
  await page.screenshot({ path: path.join(env.ARTEFACTS, name + '.png'), fullPage: true });
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: env.CHROMIUM, headless: true,
    // No name resolves but 127.0.0.1: a page that reached out would fail.
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1600, height: 1100 });
    const foreign = [], requests = [];
    await page.setRequestInterception(true);
    page.on('request', r => {
      requests.push(r.url());
      const u = new URL(r.url());
      if (u.protocol === 'data:' || u.host === host) r.continue();
      else { foreign.push(r.url()); r.abort(); }
    });
    const jsErrors = [];
    page.on('pageerror', e => jsErrors.push(String(e)));

    // ---- login: a wrong password is refused, the right one lets in ----
    await page.goto(url, { waitUntil: 'load' });
    check('without login and without --public-read the picture is hidden',
      await page.$eval('#beeld', e => e.hidden) && !(await page.$eval('#login', e => e.hidden)));
    const ev = await page.evaluate(async () => (await fetch('/events')).status);
    check('the event stream refuses a visitor who is not logged in (401)', ev === 401, 'got ' + ev);
    await page.type('#login-form [name=user]', env.WEB_USER);
    await page.type('#login-form [name=password]', 'niet-het-wachtwoord');
    let resp = page.waitForResponse(r => r.url().endsWith('/api/login'));
    await page.click('#login-form button');
    resp = await resp;
    check('a wrong password is refused (401)', resp.status() === 401, 'status ' + resp.status());
    await page.waitForFunction(() => document.getElementById('login-fout').textContent.length > 0,
      { timeout: 3000 });
    check('the page says the login failed', true);
    await page.type('#login-form [name=password]', env.WEB_PASSWORD);
    resp = page.waitForResponse(r => r.url().endsWith('/api/login'));
    await page.click('#login-form button');
    resp = await resp;
    check('the right password logs in (200)', resp.status() === 200, 'status ' + resp.status());
    await page.waitForFunction(() => !document.getElementById('beeld').hidden, { timeout: 5000 });
    await page.waitForFunction(() => document.getElementById('link-pill').textContent.startsWith('verbonden'),
      { timeout: 5000 });
    ok('the picture shows, connected to the broker');

    // ---- a GRIP change by another partner within a second, no reload ----
    grip('GRIP_2');
    await page.waitForFunction(() => document.querySelector('[data-regio="vr-zuid-limburg"]').dataset.grip === '2',
      { timeout: 5000 });
    // No polling: with nothing happening, the page asks nothing for 3 s.
    const idleFrom = requests.length;
    await sleep(3000);
    const idle = requests.slice(idleFrom);
    check('the page does not poll (no requests in 3 idle seconds)', idle.length === 0, idle.join(' '));
    // The moment the tile turns, recorded in the page by a MutationObserver.
    await page.evaluate(() => {
      window.__noReload = 'zelfde pagina';
      window.__grip4At = 0;
      const t = document.querySelector('[data-regio="vr-zuid-limburg"]');
      new MutationObserver(() => { if (t.dataset.grip === '4' && !window.__grip4At) window.__grip4At = Date.now(); })
        .observe(t, { attributes: true });
    });
    grip('GRIP_4');
    const t0 = Date.now();          // the publisher's node has acknowledged: it is published
    let seen = -1;
    try {
      await page.waitForFunction(() => window.__grip4At > 0, { timeout: 5000 });
      seen = Math.max(0, await page.evaluate(() => window.__grip4At) - t0);
    } catch (_) { }
    check('GRIP 4 of Zuid-Limburg is on the tile map within 1 s (' + seen + ' ms after the publish)', seen >= 0 && seen <= 1000,
      seen < 0 ? 'not within 5 s' : seen + ' ms');
    check('... without a reload', await page.evaluate(() => window.__noReload) === 'zelfde pagina');
    const cls = await page.$eval('[data-regio="vr-zuid-limburg"]', e => e.className);
    check('the tile is coloured as GRIP 4', cls.includes('g4'), cls);
    await shot(page, '1-grip4');

    // ---- exercise traffic only in the exercise view ----
    grip('GRIP_RIJK', 'exercise', 'oefening');
    pub('grip.vr-zuid-limburg', 'knoop.crisis.v1.GripLevel', 'oefening2/vr-zuid-limburg',
      { incident_id: 'oefening2', region: 'vr-zuid-limburg', level: 'GRIP_5' }, 'exercise');
    grip('GRIP_3', 'actual', 'marker');   // an actual one after them: when it shows, they have arrived
    await page.waitForFunction(() => document.getElementById('tijdlijn').textContent.includes('test GRIP_3'),
      { timeout: 5000 });
    const realText = await page.$eval('#tijdlijn', e => e.textContent) +
      await page.$eval('#kaart', e => e.textContent);
    check('exercise GRIP is not in the real view (tile still GRIP 4)',
      await tileGrip(page, 'vr-zuid-limburg') === '4');
    check('no exercise message in the real timeline or on the map',
      realText.includes('test GRIP_3') && !realText.includes('oefening') && !realText.includes('Rijk') &&
      !realText.includes('GRIP 5'));
    check('no OEFENING banner in the real view', await page.$eval('#banner-oefening', e => e.hidden));
    await page.keyboard.press('o');      // the keyboard switch
    await page.waitForFunction(() => !document.getElementById('banner-oefening').hidden, { timeout: 2000 });
    check('the exercise view shows the exercise GRIP Rijk',
      await tileGrip(page, 'vr-zuid-limburg') === 'Rijk');
    check('the exercise view has the OEFENING banner',
      (await page.$eval('#banner-oefening', e => e.textContent)).includes('OEFENING'));
    await shot(page, '2-oefening');
    await page.click('#oefening-knop');
    await page.waitForFunction(() => document.getElementById('banner-oefening').hidden, { timeout: 2000 });
    check('back in the real view: GRIP 4 again', await tileGrip(page, 'vr-zuid-limburg') === '4');

    // ---- region detail by keyboard ----
    await page.focus('[data-regio="vr-zuid-limburg"]');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => !document.getElementById('regio').hidden, { timeout: 2000 });
    const detail = await page.$eval('#regio', e => e.textContent);
    check('Enter on a tile opens the region with its incidents and GRIP history',
      detail.includes('Zuid-Limburg') && detail.includes('hoogwater: GRIP 4') && detail.includes('GRIP-verloop'));
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.getElementById('regio').hidden, { timeout: 2000 });
    ok('Escape closes it');

    // ---- publishing a SitRep from the page arrives at the other node ----
    const summary = 'Dijk bij Venlo verzwakt ' + Date.now();
    await page.type('#sitrep-form [name=incident_id]', 'hoogwater');
    await page.type('#sitrep-form [name=summary]', summary);
    await page.type('#sitrep-form [name=injured]', '3');
    resp = page.waitForResponse(r => r.url().endsWith('/api/sitrep'));
    await page.click('#sitrep-form button[type=submit]');
    resp = await resp;
    check('the SitRep form is accepted (200)', resp.status() === 200, 'status ' + resp.status());
    let arrived = false;
    for (let i = 0; i < 50 && !arrived; i++) {
      const out = execFileSync(env.KNOOP, ['beeld', '--api', env.NODE_API_OTHER, '--pattern', 'sitrep.>', '--json'],
        { encoding: 'utf8' });
      arrived = out.includes(summary) && out.includes('"origin":"vr-limburg-noord"');
      if (!arrived) await sleep(100);
    }
    check('the SitRep published from the page is in Zuid-Limburg\'s picture', arrived);

    // ---- refusals: missing CSRF token, not logged in ----
    const noCsrf = await page.evaluate(async () => (await fetch('/api/sitrep', {
      method: 'POST', body: new URLSearchParams({ incident_id: 'x', summary: 'zonder token' }) })).status);
    check('a publish without CSRF token is refused (403)', noCsrf === 403, 'got ' + noCsrf);
    const badCsrf = await page.evaluate(async () => (await fetch('/api/grip', {
      method: 'POST', body: new URLSearchParams({ incident_id: 'x', level: 'GRIP_1', csrf: 'a'.repeat(64) }) })).status);
    check('a publish with a wrong CSRF token is refused (403)', badCsrf === 403, 'got ' + badCsrf);
    const ctx = await browser.createBrowserContext();
    const anon = await ctx.newPage();
    await anon.goto(url, { waitUntil: 'load' });
    const anonSt = await anon.evaluate(async () => (await fetch('/api/grip', {
      method: 'POST', body: new URLSearchParams({ incident_id: 'x', level: 'GRIP_1', csrf: 'a'.repeat(64) }) })).status);
    check('a publish without a session is refused (401)', anonSt === 401, 'got ' + anonSt);
    await ctx.close();

    // ---- the link-lost banner comes and goes ----
    const bpid = parseInt(fs.readFileSync(env.BROKER_PID_FILE, 'utf8'), 10);
    process.kill(bpid, 'SIGKILL');
    const tk = Date.now();
    try {
      await page.waitForFunction(() => !document.getElementById('banner-link').hidden, { timeout: 10000 });
      const txt = await page.$eval('#banner-link', e => e.textContent);
      check('the link-lost banner appears when the broker is killed (' + (Date.now() - tk) + ' ms)',
        /verbinding verbroken sinds \d\d:\d\d — u ziet de laatste bekende stand/.test(txt), txt);
    } catch (e) { bad('the link-lost banner appears when the broker is killed', 'not within 10 s'); }
    await shot(page, '3-verbinding-verbroken');
    check('the last known picture stays on screen', await tileGrip(page, 'vr-zuid-limburg') === '4');
    execFileSync(env.BROKER_START);
    try {
      await page.waitForFunction(() => document.getElementById('banner-link').hidden, { timeout: 15000 });
      ok('the banner goes when the broker is back');
    } catch (e) { bad('the banner goes when the broker is back', 'still there after 15 s'); }
    await shot(page, '4-hersteld');

    // ---- the health panel: the last catch-up and the brokers' agreement ----
    try {
      await page.waitForFunction(() => {
        const t = document.getElementById('gezond').textContent;
        return /Laatste inhaalslag.*van kcr2-broker-1: \d+ berichten in \d+ stromen/.test(t) &&
          t.includes('Brokers onderlingbroker kcr2-broker-1 heeft geen andere brokers');
      }, { timeout: 5000 });
      ok('the health panel shows the last catch-up and the mesh verdict');
    } catch (e) {
      bad('the health panel shows the last catch-up and the mesh verdict',
        await page.$eval('#gezond', e => e.textContent));
    }

    check('nothing was requested beyond ' + host, foreign.length === 0, foreign.join(' '));
    check('no script errors on the page', jsErrors.length === 0, jsErrors.join(' | '));
  } catch (e) {
    bad('browser test', String(e && e.stack || e));
  } finally {
    await browser.close();
  }
  console.log('done');
  process.exit(failed ? 1 : 0);
})();
