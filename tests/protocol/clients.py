"""The tracking protocol's real client libraries against a live Flywheel (issue 21).

Segment's and RudderStack's Python libraries, pointed at FLYWHEEL_URL with an integrator
key as the write key, send what an app sends — a page while anonymous, an identify with
a phone, three Order Completed with products, a review, an alias — and Flywheel's own
API must show one member with those identities, three purchases, the review, stage weak
and points for the orders. A batch sent twice changes nothing, and a call that cannot
become an event is in the dead-letter list with its reason.
"""

import json
import os
import unittest
import urllib.parse
import urllib.request
import uuid

import segment.analytics as segment_analytics
import segment.analytics.request as segment_request
import rudderstack.analytics as rudder_analytics

BASE = os.environ["FLYWHEEL_URL"].rstrip("/")
ADMIN_KEY = os.environ["FLYWHEEL_ADMIN_KEY"]
WRITE_KEY = os.environ["FLYWHEEL_WRITE_KEY"]


def api(path):
    request = urllib.request.Request(BASE + path, headers={"Authorization": "Bearer " + ADMIN_KEY})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def lookup(kind, value):
    return api(f"/v1/members/lookup?{kind}={urllib.parse.quote(value)}")


class Errors:
    """Collects what a library reports as failed, so a test can insist on none."""

    def __init__(self):
        self.seen = []

    def __call__(self, error, items):
        self.seen.append((repr(error), items))


def order(number, user):
    return dict(
        user_id=user,
        event="Order Completed",
        properties={
            "order_id": f"{user}-order-{number}",
            "total": 100 + number,
            "currency": "CNY",
            "products": [
                {"product_id": "OOLONG-250", "name": "Oolong 250 g", "price": 50,
                 "quantity": 2, "category": "tea", "brand": "Leaf"},
            ],
        },
    )


class Libraries(unittest.TestCase):
    def play(self, client, errors, tag, phone):
        user, anon = f"{tag}-user", f"{tag}-anon"
        client.page(anonymous_id=anon, name="Home", properties={"url": "https://shop.example/"})
        client.flush()
        client.identify(user, {"name": f"{tag} Lin", "phone": phone, "address": {"city": "Suzhou"}})
        for n in range(3):
            client.track(**order(n, user))
        client.track(user, "Product Reviewed", {"product_id": "OOLONG-250", "rating": 5})
        client.alias(anon, user)
        client.flush()
        self.assertEqual(errors.seen, [], f"{tag}: the library reported failures")
        member = lookup("external_id", user)
        kinds = {i["kind"] for i in member["identities"]}
        self.assertEqual(kinds, {"external_id", "phone", "anonymous_id"}, member)
        self.assertEqual(lookup("anonymous_id", anon)["id"], member["id"], "the alias merged the visitor")
        self.assertEqual(lookup("phone", phone)["id"], member["id"])
        self.assertEqual(member["facts"]["purchase_count"], 3, member)
        self.assertEqual(member["facts"]["reviews"], 1, member)
        self.assertEqual(member["stage"], "weak", member)
        self.assertEqual(member["profile"]["city"], "Suzhou")
        points = api(f"/v1/members/{member['id']}/points")
        self.assertGreaterEqual(points["balance"] + points["pending"], 300, points)
        return member

    def test_segment_analytics_python(self):
        errors = Errors()
        client = segment_analytics.Client(WRITE_KEY, host=BASE, on_error=errors, gzip=False,
                                          max_retries=1)
        self.play(client, errors, "seg", "13900001001")
        client.shutdown()

    def test_rudder_sdk_python_compresses_and_is_understood(self):
        errors = Errors()
        client = rudder_analytics.Client(WRITE_KEY, host=BASE, on_error=errors, gzip=True,
                                         max_retries=1)
        self.play(client, errors, "rudder", "13900001002")
        client.shutdown()

    def test_a_retried_batch_changes_nothing_and_a_bad_call_is_a_dead_letter(self):
        user = "retry-user"
        bad_id = str(uuid.uuid4())
        batch = [
            {"type": "identify", "userId": user, "messageId": str(uuid.uuid4()),
             "traits": {"phone": "13900001003"}},
            {"type": "track", "userId": user, "event": "Order Completed", "messageId": str(uuid.uuid4()),
             "properties": {"order_id": "retry-1", "total": 88, "currency": "CNY"}},
            {"type": "track", "userId": user, "messageId": bad_id, "properties": {"total": 1}},
        ]
        # As the library's own retry sends it: the same body, gzip-compressed, twice.
        segment_request.post(WRITE_KEY, host=BASE, gzip=True, batch=batch)
        first = lookup("external_id", user)
        points = api(f"/v1/members/{first['id']}/points")
        segment_request.post(WRITE_KEY, host=BASE, gzip=True, batch=batch)
        again = lookup("external_id", user)
        self.assertEqual(first["facts"], again["facts"])
        self.assertEqual(points["lots"], api(f"/v1/members/{first['id']}/points")["lots"])
        dead = [c for c in api("/v1/tracking/rejected?limit=500")["calls"] if c["message_id"] == bad_id]
        self.assertEqual(len(dead), 1, "kept once, however often it is sent")
        self.assertEqual((dead[0]["code"], dead[0]["field"]), ("missing_field", "event"))
        self.assertIn("event", dead[0]["reason"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
