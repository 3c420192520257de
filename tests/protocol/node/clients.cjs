// Segment's Node library (@segment/analytics-node, pinned in package.json) against a live
// Flywheel, as scripts/protocol-tests runs it (issue 21). The library is pointed at
// FLYWHEEL_URL with an integrator key as its write key and sends what a shop's back end
// sends: a page while anonymous, an identify with a phone, three Order Completed, a
// review and an alias. Flywheel's own API must then show one member with those
// identities, the purchases, the review, stage weak and points; and the same messages
// sent again (the library's retry, with the same messageIds) must change nothing.

'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { Analytics } = require('@segment/analytics-node');

const BASE = process.env.FLYWHEEL_URL.replace(/\/$/, '');
const ADMIN_KEY = process.env.FLYWHEEL_ADMIN_KEY;
const WRITE_KEY = process.env.FLYWHEEL_WRITE_KEY;

async function api(path) {
  const answer = await fetch(BASE + path, { headers: { Authorization: `Bearer ${ADMIN_KEY}` } });
  const body = await answer.text();
  assert.equal(answer.status, 200, `${path} answered ${answer.status}: ${body}`);
  return JSON.parse(body);
}

const lookup = (kind, value) => api(`/v1/members/lookup?${kind}=${encodeURIComponent(value)}`);

/// A client that records every failure it reports, so the test can insist on none.
function client() {
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: BASE, flushAt: 20, maxRetries: 1 });
  const failures = [];
  analytics.on('error', (error) => failures.push(String(error.reason ?? error.code ?? error)));
  analytics.on('http_response', (answer) => {
    if (answer.status !== 200) failures.push(`HTTP ${answer.status} from ${answer.url}`);
  });
  return { analytics, failures };
}

/// The messages a shop sends for one customer, with fixed messageIds so they can be resent.
function messages(tag, phone) {
  const userId = `${tag}-user`;
  const anonymousId = `${tag}-anon`;
  const orders = [0, 1, 2].map((n) => ({
    userId,
    messageId: `${tag}-order-${n}`,
    event: 'Order Completed',
    properties: {
      order_id: `${tag}-order-${n}`,
      total: 100 + n,
      currency: 'CNY',
      products: [{ product_id: 'OOLONG-250', price: 50, quantity: 2, category: 'tea', brand: 'Leaf' }],
    },
  }));
  return {
    userId,
    anonymousId,
    page: { anonymousId, messageId: `${tag}-page`, name: 'Home', properties: { url: 'https://shop.example/' } },
    identify: { userId, messageId: `${tag}-identify`, traits: { name: `${tag} Chen`, phone, address: { city: 'Ningbo' } } },
    orders,
    review: { userId, messageId: `${tag}-review`, event: 'Product Reviewed', properties: { product_id: 'OOLONG-250', rating: 4 } },
    alias: { previousId: anonymousId, userId, messageId: `${tag}-alias` },
  };
}

async function send(sent) {
  const { analytics, failures } = client();
  analytics.page(sent.page);
  analytics.identify(sent.identify);
  for (const order of sent.orders) analytics.track(order);
  analytics.track(sent.review);
  analytics.alias(sent.alias);
  await analytics.closeAndFlush({ timeout: 20000 });
  assert.deepEqual(failures, [], 'the library reported failures');
}

test('analytics-node sends a customer Flywheel understands, and a resend changes nothing', async () => {
  const sent = messages('node', '13900001004');
  await send(sent);

  const member = await lookup('external_id', sent.userId);
  const kinds = new Set(member.identities.map((i) => i.kind));
  assert.deepEqual(kinds, new Set(['external_id', 'phone', 'anonymous_id']), JSON.stringify(member));
  assert.equal((await lookup('anonymous_id', sent.anonymousId)).id, member.id, 'the alias merged the visitor');
  assert.equal((await lookup('phone', '13900001004')).id, member.id);
  assert.equal(member.facts.purchase_count, 3);
  assert.equal(member.facts.reviews, 1);
  assert.equal(member.stage, 'weak');
  assert.equal(member.profile.city, 'Ningbo');
  const points = await api(`/v1/members/${member.id}/points`);
  assert.ok(points.balance + points.pending >= 300, JSON.stringify(points));

  // The library retries with the messageIds it gave; a resend of everything is a no-op.
  await send(sent);
  const again = await lookup('external_id', sent.userId);
  assert.deepEqual(again.facts, member.facts);
  assert.deepEqual((await api(`/v1/members/${member.id}/points`)).lots, points.lots);
});
