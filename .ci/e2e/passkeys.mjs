// End-to-end: a person adds a passkey on the quickstart page and signs in with it; then a
// second person turns on two-step verification (the QR code read by zbar, codes computed
// by oathtool) and signs in with a password plus the passkey, a code, a recovery code. In a
// real headless Chromium whose WebAuthn calls go to a CDP virtual authenticator (CTAP2,
// internal transport, resident keys, user verification). Run by .ci/passkeys-e2e, which
// starts the quickstart and passes its URL in BASE (http://localhost:PORT: the RP id is
// `localhost`).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = process.env.BASE;
assert.ok(base, 'BASE is the quickstart URL');
const email = `passkey-${Date.now()}@example.com`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const step = (what) => console.log(`passkeys e2e: ${what}`);
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Autofill (conditional mediation) is on in this Chromium, and the virtual authenticator
  // answers it at once. The steps that use the buttons turn it off for the tab first.
  await page.addInitScript(() => {
    const available = PublicKeyCredential.isConditionalMediationAvailable.bind(PublicKeyCredential);
    PublicKeyCredential.isConditionalMediationAvailable = async () =>
      !sessionStorage.getItem('no-autofill') && available();
  });
  page.on('pageerror', (err) => console.error('page error:', err));
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const lastAnswer = async () => JSON.parse(await page.textContent('#out'));
  const signedIn = () => page.waitForSelector('#signed-in:not([hidden])');
  const signedOut = () => page.waitForSelector('#signed-out:not([hidden])');
  const signOut = async () => { await page.click('#sign-out'); await signedOut(); };

  step('sign up');
  await page.goto(base + '/');
  await page.evaluate(() => sessionStorage.setItem('no-autofill', '1'));
  await page.reload();
  await page.fill('#sign-up input[name=email]', email);
  await page.fill('#sign-up input[name=password]', 'correct horse battery staple');
  await page.click('#sign-up button');
  await signedIn();

  step('add a passkey');
  await page.fill('#add-passkey input[name=name]', 'Virtual key');
  await page.click('#add-passkey button');
  await page.waitForSelector('#passkeys tr');
  assert.match(await page.textContent('#passkeys'), /Virtual key/);
  const answer = await lastAnswer();
  assert.equal(answer.status, 201, JSON.stringify(answer));
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential');
  assert.equal(credentials[0].rpId, 'localhost');

  step('sign out, then sign in with the passkey for an email');
  await signOut();
  await page.fill('#passkey-sign-in input[name=email]', email);
  await page.click('#passkey-sign-in button');
  await signedIn();
  let grant = await lastAnswer();
  assert.equal(grant.status, 200, JSON.stringify(grant));
  assert.equal(grant.data.session.auth_method, 'passkey');
  assert.equal(grant.data.user.email, email);

  step('sign out, then sign in with the passkey and no email (discoverable)');
  await signOut();
  await page.fill('#passkey-sign-in input[name=email]', '');
  await page.click('#passkey-sign-in button');
  await signedIn();
  grant = await lastAnswer();
  assert.equal(grant.status, 200, JSON.stringify(grant));
  assert.equal(grant.data.user.email, email);
  // The sessions table renders after the rest of the page: wait for it, do not race it.
  await page.waitForFunction(() => /passkey/.test(document.getElementById('sessions').textContent));

  step('sign out: autofill offers the passkey and signs in');
  await page.evaluate(() => sessionStorage.removeItem('no-autofill'));
  await page.reload();
  await signOut(); // the page offers autofill as soon as it is signed out
  await signedIn();
  grant = await lastAnswer();
  assert.equal(grant.status, 200, JSON.stringify(grant));
  assert.equal(grant.data.session.auth_method, 'passkey');

  step('list, rename and remove it');
  const listed = await page.evaluate(async () =>
    (await fetch('/v1/auth/me/passkeys', { credentials: 'same-origin' })).json());
  assert.equal(listed.passkeys.length, 1);
  assert.ok(listed.passkeys[0].last_used_at, 'last use recorded');
  page.once('dialog', (dialog) => dialog.accept('Renamed key'));
  await page.click('#passkeys button:has-text("Rename")');
  await page.waitForFunction(() => document.getElementById('passkeys').textContent.includes('Renamed key'));
  await page.click('#passkeys button:has-text("Remove")');
  await page.waitForFunction(() => document.querySelectorAll('#passkeys tr').length === 0);
  assert.equal((await lastAnswer()).status, 200);

  step('a removed passkey signs nobody in (the authenticator still offers it)');
  await page.click('#sign-out');
  await page.waitForFunction(() => document.getElementById('out').textContent.includes('invalid_credentials'));
  assert.equal(await page.isVisible('#signed-out'), true);

  step('second factor: a new account turns on TOTP from the page (QR and key shown)');
  await page.evaluate(() => sessionStorage.setItem('no-autofill', '1'));
  await page.reload();
  await signedOut();
  const second = `mfa-${Date.now()}@example.com`;
  await page.fill('#sign-up input[name=email]', second);
  await page.fill('#sign-up input[name=password]', 'correct horse battery staple');
  await page.click('#sign-up button');
  await signedIn();
  await page.fill('#add-passkey input[name=name]', 'Second factor key');
  await page.click('#add-passkey button');
  await page.waitForFunction(() => document.getElementById('passkeys').textContent.includes('Second factor key'));
  await page.click('#mfa-setup');
  await page.waitForSelector('#mfa-enrol:not([hidden])');
  assert.match(await page.getAttribute('#mfa-qr', 'src'), /^data:image\/svg\+xml;base64,/);
  const secret = (await page.textContent('#mfa-secret')).trim();
  // The QR code as a phone would see it: the rendered image, read by zbar.
  const shot = `/tmp/portcullis-qr-${process.pid}.png`;
  await page.locator('#mfa-qr').screenshot({ path: shot });
  const scanned = execFileSync('zbarimg', ['--quiet', '--raw', shot], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  const otpauth = new URL(scanned);
  assert.equal(otpauth.protocol, 'otpauth:');
  assert.equal(otpauth.searchParams.get('secret'), secret, 'the QR code carries the key shown');
  assert.equal(otpauth.searchParams.get('issuer'), 'portcullis');
  assert.match(decodeURIComponent(otpauth.pathname), new RegExp(second.replace('.', '\\.')));
  // Codes come from oathtool, an implementation independent of the server's.
  const totp = (steps) => execFileSync('oathtool',
    ['--totp', '-b', '-N', `@${Math.floor(Date.now() / 1000) + steps * 30}`, secret]).toString().trim();
  await page.fill('#mfa-confirm input[name=code]', totp(-1));
  await page.click('#mfa-confirm button');
  await page.waitForSelector('#mfa-codes-box:not([hidden])');
  const codes = (await page.textContent('#mfa-codes')).trim().split('\n');
  assert.equal(codes.length, 10);
  await page.waitForFunction(() => document.getElementById('mfa-status').textContent.startsWith('On'));

  step('second factor: password, then the passkey answers the challenge');
  await signOut();
  await page.fill('#sign-in input[name=email]', second);
  await page.fill('#sign-in input[name=password]', 'correct horse battery staple');
  await page.click('#sign-in button');
  await page.waitForSelector('#mfa-challenge:not([hidden])');
  assert.equal(await page.isVisible('#mfa-passkey'), true, 'a passkey is offered');
  await page.click('#mfa-passkey');
  await signedIn();
  grant = await lastAnswer();
  assert.equal(grant.status, 200, JSON.stringify(grant));
  const claims = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url'));
  assert.equal(claims(grant.data.access_token).acr, 'aal2');
  assert.deepEqual(claims(grant.data.access_token).amr, ['pwd', 'hwk']);
  await page.waitForFunction(() => document.getElementById('session-level').textContent.startsWith('two factors'));

  step('second factor: password, then a code from the app');
  await signOut();
  await page.fill('#sign-in input[name=email]', second);
  await page.fill('#sign-in input[name=password]', 'correct horse battery staple');
  await page.click('#sign-in button');
  await page.waitForSelector('#mfa-challenge:not([hidden])');
  await page.fill('#mfa-verify input[name=code]', totp(0));
  await page.click('#mfa-verify button');
  await signedIn();
  grant = await lastAnswer();
  assert.deepEqual(claims(grant.data.access_token).amr, ['pwd', 'otp']);

  step('second factor: a recovery code, then turning it off');
  await signOut();
  await page.fill('#sign-in input[name=email]', second);
  await page.fill('#sign-in input[name=password]', 'correct horse battery staple');
  await page.click('#sign-in button');
  await page.waitForSelector('#mfa-challenge:not([hidden])');
  await page.fill('#mfa-verify input[name=code]', codes[0]);
  await page.click('#mfa-verify button');
  await signedIn();
  await page.waitForFunction(() => document.getElementById('mfa-status').textContent.includes('Recovery codes left: 9'));
  await page.click('#mfa-disable');
  await page.waitForFunction(() => document.getElementById('mfa-status').textContent.startsWith('Off'));
  assert.equal((await lastAnswer()).status, 200);

  step('admin: a listed address becomes an admin once verified');
  await signOut();
  await page.fill('#sign-up input[name=email]', 'admin@example.com');
  await page.fill('#sign-up input[name=password]', 'correct horse battery staple');
  await page.click('#sign-up button');
  await signedIn();
  assert.equal(await page.isVisible('#admin-card'), false, 'no admin page before verification');
  await page.click('#verify-email');
  let link = null;
  for (let i = 0; i < 50 && !link; i++) {
    const found = readFileSync(process.env.SERVER_LOG, 'utf8').match(/http:\/\/localhost:\d+\/v1\/auth\/email\/verify\?token=[A-Za-z0-9_-]+[^\s\x1b]*/g);
    link = found && found[found.length - 1];
    if (!link) await page.waitForTimeout(100);
  }
  assert.ok(link, 'the verification email reached the log');
  await page.goto(link.replace(/&amp;/g, '&'));
  await Promise.all([page.waitForURL((url) => url.pathname === '/'), page.click('form button')]);
  await signedIn();
  await page.waitForSelector('#admin-card:not([hidden])');

  step('admin: find a user, open them, impersonate with a reason (banner), stop');
  await page.fill('#admin-search input[name=query]', second.split('@')[0]);
  await page.click('#admin-search button');
  await page.waitForFunction((who) => document.getElementById('admin-users').textContent.includes(who), second);
  await page.click('#admin-users button:has-text("Open")');
  await page.waitForSelector('#admin-user:not([hidden])');
  assert.match(await page.textContent('#admin-user-detail'), /"mfa"/);
  page.once('dialog', (dialog) => dialog.accept('support ticket 7'));
  await page.click('#admin-impersonate');
  await page.waitForSelector('#impersonating:not([hidden])');
  assert.equal(await page.textContent('#who'), second);
  const hello = await page.evaluate(async () => (await fetch('/hello', { credentials: 'same-origin' })).json());
  assert.ok(hello.impersonator, 'the token names the admin');
  await page.click('#stop-impersonating');
  await signedOut();

  step('admin: disable, then delete the user; the audit log shows it all');
  await page.fill('#sign-in input[name=email]', 'admin@example.com');
  await page.fill('#sign-in input[name=password]', 'correct horse battery staple');
  await page.click('#sign-in button');
  await signedIn();
  await page.waitForSelector('#admin-card:not([hidden])');
  await page.fill('#admin-search input[name=query]', second.split('@')[0]);
  await page.click('#admin-search button');
  await page.waitForFunction((who) => document.getElementById('admin-users').textContent.includes(who), second);
  await page.click('#admin-users button:has-text("Open")');
  await page.waitForSelector('#admin-user:not([hidden])');
  await page.click('#admin-disable');
  await page.waitForFunction(() => document.getElementById('admin-users').textContent.includes('(disabled)'));
  page.once('dialog', (dialog) => dialog.accept());
  await page.click('#admin-delete');
  await page.waitForSelector('#admin-user', { state: 'hidden' });
  await page.waitForFunction((who) => !document.getElementById('admin-users').textContent.includes(who), second);
  // The audit table re-renders after the list: wait for the newest row rather than race it.
  await page.waitForFunction(() => document.getElementById('admin-audit').textContent.includes('user_deleted'));
  const audit = await page.textContent('#admin-audit');
  for (const kind of ['impersonated', 'user_disabled', 'user_deleted']) assert.match(audit, new RegExp(kind));

  step('passed');
} finally {
  await browser.close();
}
