// A Stripe stand-in for the quickstart's billing check (.ci/billing-e2e), and the one
// that plays Stripe's side of a webhook: every event it delivers is signed by Stripe's
// official library (`stripe.webhooks.generateTestHeaderString`), so portcullis' verifier
// is proven against Stripe's own signer.
//
// usage: node stripe-stand-in.mjs <port> <secret key> <webhook secret> <webhook url>
//
// Stripe's API, as portcullis calls it (form-encoded with brackets, bearer key):
//   POST /v1/customers, POST /v1/checkout/sessions, POST /v1/billing_portal/sessions,
//   GET and POST /v1/subscriptions/{id}
// The script's controls (JSON answers):
//   POST /__complete/{checkout session}?status=active  the customer pays: the subscription
//        is made and `checkout.session.completed` delivered; answers the delivery
//   POST /__redeliver                                  the last event again (a retry)
//   POST /__forged                                     the last event, signed with another secret
import http from 'node:http';
import Stripe from 'stripe';

const [port, secretKey, webhookSecret, webhookUrl] = process.argv.slice(2);
const stripe = new Stripe(secretKey);

const customers = new Set();
const sessions = new Map();
const subscriptions = new Map();
let next = 0;
let lastEvent = null;
const newId = (prefix) => `${prefix}_e2e${++next}`;

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
const refuse = (res, status, message) => send(res, status, { error: { type: 'invalid_request_error', message } });

async function deliver(event, secret = webhookSecret) {
  const payload = JSON.stringify(event);
  const header = stripe.webhooks.generateTestHeaderString({ payload, secret });
  const answer = await fetch(webhookUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': header },
    body: payload,
  });
  return { status: answer.status, body: await answer.json().catch(() => ({})) };
}

function event(type, object) {
  return {
    id: newId('evt'), object: 'event', api_version: '2025-03-31.basil', type,
    created: Math.floor(Date.now() / 1000), livemode: false, pending_webhooks: 1, data: { object },
  };
}

async function handle(req, res, body) {
  const url = new URL(req.url, 'http://stand-in');
  const path = url.pathname;
  if (path.startsWith('/__')) {
    if (req.method === 'POST' && path.startsWith('/__complete/')) {
      const session = sessions.get(path.slice('/__complete/'.length));
      if (!session) return refuse(res, 404, 'No such checkout session');
      const id = newId('sub');
      subscriptions.set(id, {
        id, object: 'subscription', customer: session.customer, status: url.searchParams.get('status') || 'active',
        cancel_at_period_end: false, livemode: false, metadata: {},
        items: { object: 'list', data: [{ id: newId('si'), object: 'subscription_item', quantity: Number(session.quantity),
          current_period_end: Math.floor(Date.now() / 1000) + 30 * 86400, price: { id: session.price, object: 'price' } }] },
      });
      session.subscription = id;
      lastEvent = event('checkout.session.completed', {
        id: session.id, object: 'checkout.session', mode: 'subscription', customer: session.customer,
        subscription: id, client_reference_id: session.client_reference_id,
      });
      return send(res, 200, { subscription: id, delivery: await deliver(lastEvent) });
    }
    if (req.method === 'POST' && path === '/__redeliver') return send(res, 200, { delivery: await deliver(lastEvent) });
    if (req.method === 'POST' && path === '/__forged') return send(res, 200, { delivery: await deliver(lastEvent, 'whsec_not_the_endpoints') });
    return refuse(res, 404, 'unknown control');
  }
  if (req.headers.authorization !== `Bearer ${secretKey}`) return refuse(res, 401, 'Invalid API Key provided');
  const form = new URLSearchParams(body);
  const required = (name) => {
    const value = form.get(name);
    if (value === null) throw new Error(`Missing required param: ${name}.`);
    return value;
  };
  try {
    if (req.method === 'POST' && path === '/v1/customers') {
      const id = newId('cus');
      customers.add(id);
      return send(res, 200, { id, object: 'customer', email: form.get('email'), name: form.get('name') });
    }
    if (req.method === 'POST' && path === '/v1/checkout/sessions') {
      if (required('mode') !== 'subscription') throw new Error('mode must be subscription');
      const customer = required('customer');
      if (!customers.has(customer)) throw new Error('No such customer');
      const id = newId('cs_test');
      sessions.set(id, {
        id, customer, price: required('line_items[0][price]'), quantity: required('line_items[0][quantity]'),
        client_reference_id: form.get('client_reference_id'), success_url: required('success_url'), cancel_url: required('cancel_url'),
      });
      return send(res, 200, { id, object: 'checkout.session', mode: 'subscription', url: `https://checkout.stripe.com/c/pay/${id}` });
    }
    if (req.method === 'POST' && path === '/v1/billing_portal/sessions') {
      if (!customers.has(required('customer'))) throw new Error('No such customer');
      required('return_url');
      return send(res, 200, { id: newId('bps'), object: 'billing_portal.session', url: `https://billing.stripe.com/p/session/${next}` });
    }
    const match = path.match(/^\/v1\/subscriptions\/(sub_[A-Za-z0-9_]+)$/);
    if (match) {
      const subscription = subscriptions.get(match[1]);
      if (!subscription) return refuse(res, 404, 'No such subscription');
      if (req.method === 'POST') subscription.items.data[0].quantity = Number(required('items[0][quantity]'));
      return send(res, 200, subscription);
    }
  } catch (err) {
    return refuse(res, 400, err.message);
  }
  return refuse(res, 404, `Unrecognized request URL (${req.method}: ${path})`);
}

http
  .createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => handle(req, res, body).catch((err) => refuse(res, 500, String(err))));
  })
  .listen(Number(port), '127.0.0.1', () => console.log(`stripe stand-in on ${port}`));
