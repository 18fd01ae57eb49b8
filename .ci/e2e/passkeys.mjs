// End-to-end: a person adds a passkey on the quickstart page and signs in with it, in a
// real headless Chromium whose WebAuthn calls go to a CDP virtual authenticator (CTAP2,
// internal transport, resident keys, user verification). Run by .ci/passkeys-e2e, which
// starts the quickstart and passes its URL in BASE (http://localhost:PORT: the RP id is
// `localhost`).
import assert from 'node:assert/strict';
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
  assert.match(await page.textContent('#sessions'), /passkey/);

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

  step('passed');
} finally {
  await browser.close();
}
