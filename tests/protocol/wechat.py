"""WeChat's callbacks, signed and encrypted by wechatpy (an independent implementation of
the platform's message crypto), posted to a live Flywheel (issue 22).

scripts/protocol-tests starts the server with a config naming the official account's
token, EncodingAESKey and app id (FLYWHEEL_WECHAT_* below); the pushes are what the
platform sends — a subscribe from a QR code, the same push again, a follower's message —
and what follows is read through Flywheel's own API. A tampered signature is refused
with 401 and writes nothing. The followers then join a salon (two seats, a third in
line, checked in by card code) and have an idea adopted (super_strong after 3 purchases).
"""

import json
import os
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto
from wechatpy.utils import WeChatSigner

BASE = os.environ["FLYWHEEL_URL"].rstrip("/")
ADMIN_KEY = os.environ["FLYWHEEL_ADMIN_KEY"]
TOKEN = os.environ["FLYWHEEL_WECHAT_TOKEN"]
AES_KEY = os.environ["FLYWHEEL_WECHAT_AES_KEY"]
APP_ID = os.environ["FLYWHEEL_WECHAT_APP_ID"]
CORP_ID = os.environ["FLYWHEEL_WECHAT_CORP_ID"]
CALLBACK = BASE + "/wechat/official-account/callback"
WORK_CALLBACK = BASE + "/wechat/work/callback"


def api(path, body=None, method=None):
    """GET `path`, or POST (or `method`) `body` as JSON to it; (status, parsed answer)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method, headers={
        "Authorization": "Bearer " + ADMIN_KEY, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def plain_signature(timestamp, nonce):
    signer = WeChatSigner()
    signer.add_data(TOKEN, timestamp, nonce)
    return signer.signature


def post_xml(url, query, body):
    """POSTs a callback's XML; (status, body text) whatever the status."""
    request = urllib.request.Request(f"{url}?{query}", data=body.encode(),
                                     headers={"Content-Type": "text/xml"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def push(xml, nonce, openid, tamper=False):
    """POSTs `xml` as the platform does in safe mode: encrypted with wechatpy, the
    ciphertext's signature in the query beside the plain one."""
    timestamp = str(int(time.time()))
    envelope = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(xml, nonce, timestamp)
    msg_signature = xmltodict.parse(envelope)["xml"]["MsgSignature"]
    if tamper:
        msg_signature = ("0" if msg_signature[0] != "0" else "1") + msg_signature[1:]
    query = urllib.parse.urlencode({
        "signature": plain_signature(timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
        "openid": openid, "encrypt_type": "aes", "msg_signature": msg_signature,
    })
    return post_xml(CALLBACK, query, envelope)


def subscribe_xml(openid, created, scene):
    return (f"<xml><ToUserName><![CDATA[gh_brand]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_{scene}]]></EventKey>"
            f"<Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRw]]></Ticket></xml>")


class OfficialAccount(unittest.TestCase):
    def test_the_url_check_echoes_its_challenge(self):
        timestamp, nonce = str(int(time.time())), "url-check"
        query = urllib.parse.urlencode({"signature": plain_signature(timestamp, nonce), "timestamp": timestamp,
                                        "nonce": nonce, "echostr": "8265537401"})
        with urllib.request.urlopen(f"{CALLBACK}?{query}", timeout=30) as answer:
            self.assertEqual(answer.read().decode(), "8265537401")

    def test_a_qr_subscribe_makes_a_follower_with_its_source_and_a_replay_changes_nothing(self):
        created = int(time.time()) - 60
        xml = subscribe_xml("oWxpyFan1", created, "tin-2026")
        self.assertEqual(push(xml, "n-sub-1", "oWxpyFan1"), (200, "success"))
        status, fan = api("/v1/members/lookup?wechat_openid=oWxpyFan1")
        self.assertEqual(status, 200, fan)
        self.assertEqual(fan["facts"]["follows"], 1)
        self.assertEqual((fan["source"]["kind"], fan["source"]["name"]), ("qr", "tin-2026"))
        # WeChat resends a push it got no answer to: the same message, a new nonce.
        self.assertEqual(push(xml, "n-sub-2", "oWxpyFan1"), (200, "success"))
        self.assertEqual(api("/v1/members/lookup?wechat_openid=oWxpyFan1")[1]["facts"], fan["facts"])
        # The follower writes to the account.
        message = (f"<xml><ToUserName>gh_brand</ToUserName><FromUserName>oWxpyFan1</FromUserName>"
                   f"<CreateTime>{created + 30}</CreateTime><MsgType>text</MsgType>"
                   f"<Content><![CDATA[下次品鉴会是什么时候？]]></Content><MsgId>23001</MsgId></xml>")
        self.assertEqual(push(message, "n-msg", "oWxpyFan1"), (200, "success"))
        self.assertEqual(api("/v1/members/lookup?wechat_openid=oWxpyFan1")[1]["facts"]["messages_in"], 1)

    def test_a_tampered_signature_is_refused_and_writes_nothing(self):
        xml = subscribe_xml("oWxpyIntruder", int(time.time()), "poster")
        status, body = push(xml, "n-bad", "oWxpyIntruder", tamper=True)
        self.assertEqual(status, 401, body)
        self.assertEqual(json.loads(body)["error"]["code"], "signature_invalid")
        self.assertEqual(api("/v1/members/lookup?wechat_openid=oWxpyIntruder")[0], 404)


def work_push(xml, nonce, token=None):
    """POSTs `xml` as WeCom does: always encrypted for the corp, signed over the ciphertext."""
    timestamp = str(int(time.time()))
    envelope = WorkCrypto(token or TOKEN, AES_KEY, CORP_ID).encrypt_message(xml, nonce, timestamp)
    msg_signature = xmltodict.parse(envelope)["xml"]["MsgSignature"]
    query = urllib.parse.urlencode({"msg_signature": msg_signature, "timestamp": timestamp, "nonce": nonce})
    return post_xml(WORK_CALLBACK, query, envelope)


def contact_xml(change, staff, external, created, extra=""):
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change}]]></ChangeType>"
            f"<UserID><![CDATA[{staff}]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID>{extra}</xml>")


class WeCom(unittest.TestCase):
    def test_the_url_check_answers_the_decrypted_echostr(self):
        crypto = WorkCrypto(TOKEN, AES_KEY, CORP_ID)
        timestamp, nonce = str(int(time.time())), "work-check"
        envelope = crypto.encrypt_message("echo-1290384756", nonce, timestamp)
        parsed = xmltodict.parse(envelope)["xml"]
        query = urllib.parse.urlencode({"msg_signature": parsed["MsgSignature"], "timestamp": timestamp,
                                        "nonce": nonce, "echostr": parsed["Encrypt"]})
        with urllib.request.urlopen(f"{WORK_CALLBACK}?{query}", timeout=30) as answer:
            self.assertEqual(answer.read().decode(), "echo-1290384756")

    def test_an_add_binds_the_same_person_by_union_id_and_sets_the_owner(self):
        created = int(time.time()) - 120
        # A follower of the official account first (subscribe carrying the union id).
        follow = (f"<xml><ToUserName>gh_brand</ToUserName><FromUserName>oWxpyFan7</FromUserName>"
                  f"<CreateTime>{created}</CreateTime><MsgType>event</MsgType><Event>subscribe</Event>"
                  f"<UnionId>uWxpyFan7</UnionId></xml>")
        self.assertEqual(push(follow, "n-fan7", "oWxpyFan7"), (200, "success"))
        follower = api("/v1/members/lookup?wechat_openid=oWxpyFan7")[1]
        add = contact_xml("add_external_contact", "ChenJing", "wmWxpyFan7", created + 60,
                          "<UnionId><![CDATA[uWxpyFan7]]></UnionId><State><![CDATA[store-hz-02]]></State>")
        self.assertEqual(work_push(add, "w-add"), (200, "success"))
        status, customer = api("/v1/members/lookup?wecom_external_id=wmWxpyFan7")
        self.assertEqual(status, 200, customer)
        self.assertEqual(customer["id"], follower["id"], "one person: the union id bound them")
        owner = api(f"/v1/members/{customer['id']}/owner")[1]
        self.assertEqual(owner["staff_id"], "chenjing")
        # A replay, and a signature made with another token.
        self.assertEqual(work_push(add, "w-add-again"), (200, "success"))
        links = api(f"/v1/members/{customer['id']}/wecom-contacts")[1]["contacts"]
        self.assertEqual([(c["staff_id"], c["state"]) for c in links], [("chenjing", "store-hz-02")])
        forged = contact_xml("add_external_contact", "Intruder", "wmWxpyIntruder", created)
        status, body = work_push(forged, "w-forged", token="another-token")
        self.assertEqual(status, 401, body)
        self.assertEqual(api("/v1/members/lookup?wecom_external_id=wmWxpyIntruder")[0], 404)

    def test_a_group_join_shows_in_the_members_groups_intimacy_and_segments(self):
        created = int(time.time()) - 3600
        add = contact_xml("add_external_contact", "ZhaoLei", "wmWxpyGroupFan1", created,
                          "<UnionId><![CDATA[uWxpyGroupFan1]]></UnionId>")
        self.assertEqual(work_push(add, "g-add"), (200, "success"))
        made = chat_xml("create", "", "wrWxpyTeaClub", created + 10, [])
        self.assertEqual(work_push(made, "g-made"), (200, "success"))
        join = chat_xml("update", "add_member", "wrWxpyTeaClub", created + 20,
                        ["wmWxpyGroupFan1", "zhaolei"])
        self.assertEqual(work_push(join, "g-join"), (200, "success"))
        self.assertEqual(work_push(join, "g-join-again"), (200, "success"))
        status, fan = api("/v1/members/lookup?wechat_unionid=uWxpyGroupFan1")
        self.assertEqual(status, 200, fan)
        self.assertEqual(fan["facts"]["groups"], ["wrWxpyTeaClub"])
        scores = api(f"/v1/members/{fan['id']}/scores")[1]
        together = [p for p in scores["intimacy"]["parts"] if p["name"] == "togetherness"][0]
        self.assertIn("in 1 customer group", together["detail"])
        talk = [p for p in scores["intimacy"]["parts"] if p["name"] == "talk"][0]
        self.assertIn("1 shop assistant on WeCom", talk["detail"])
        status, preview = api("/v1/segments/preview", {"expression": 'in_group("wrWxpyTeaClub")'})
        self.assertEqual((status, preview["count"]), (200, 1), preview)
        groups = api("/v1/wecom/groups")[1]["groups"]
        club = [g for g in groups if g["chat_id"] == "wrWxpyTeaClub"][0]
        self.assertEqual(club["members"], 1, "the assistant in the list is not a customer")
        # The customer leaves: out of the group, and of the segment.
        leave = chat_xml("update", "del_member", "wrWxpyTeaClub", created + 30, ["wmWxpyGroupFan1"])
        self.assertEqual(work_push(leave, "g-leave"), (200, "success"))
        fan = api(f"/v1/members/{fan['id']}")[1]
        self.assertEqual(fan["facts"]["groups"], [])


def chat_xml(change, detail, chat_id, created, items):
    listed = "".join(f"<Item><![CDATA[{i}]]></Item>" for i in items)
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[{chat_id}]]></ChatId>"
            f"<ChangeType><![CDATA[{change}]]></ChangeType><UpdateDetail><![CDATA[{detail}]]></UpdateDetail>"
            f"<JoinScene>1</JoinScene><QuitScene>0</QuitScene><MemChangeCnt>{len(items)}</MemChangeCnt>"
            f"<MemChangeList>{listed}</MemChangeList></xml>")


def card_code(member_id):
    """The member card's number: the id in ten digits and a Luhn check digit."""
    body = f"{member_id:010d}"
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def rfc3339(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class Community(unittest.TestCase):
    """Followers made by the official account's pushes join a salon and shape a product."""

    def follower(self, n):
        openid = f"oWxpySalon{n}"
        xml = subscribe_xml(openid, int(time.time()) - 600, f"salon-poster-{n}")
        self.assertEqual(push(xml, f"s-sub-{n}", openid), (200, "success"))
        status, member = api(f"/v1/members/lookup?wechat_openid={openid}")
        self.assertEqual(status, 200, member)
        return openid, member["id"]

    def buy(self, openid, n):
        event = {"event_id": f"wxpy-buy-{openid}-{n}", "type": "purchase",
                 "occurred_at": rfc3339(time.time() - (n + 1) * 86400), "channel": "mini_program",
                 "identities": {"wechat_openid": openid},
                 "properties": {"order_id": f"wxpy-{openid}-{n}", "amount": "58.00", "currency": "CNY"}}
        status, body = api("/v1/events", event)
        self.assertIn(status, (200, 201, 202), body)

    def test_a_salon_of_two_lines_up_the_third_and_checks_in_by_card_code(self):
        start = time.time() + 3600
        salon = {"name": "Oolong salon", "kind": "salon", "place": "Flagship store",
                 "starts_at": rfc3339(start), "ends_at": rfc3339(start + 7200), "capacity": 2}
        status, body = api("/v1/activities/wxpy-salon", salon, method="PUT")
        self.assertEqual(status, 201, body)
        members = [self.follower(n)[1] for n in (1, 2, 3)]
        answers = [api("/v1/activities/wxpy-salon/rsvps", {"member_id": m})[1] for m in members]
        self.assertEqual([a["status"] for a in answers], ["confirmed", "confirmed", "waitlisted"])
        self.assertEqual(answers[2]["position"], 1)
        status, done = api("/v1/activities/wxpy-salon/check-ins", {"card_code": card_code(members[0])})
        self.assertEqual(status, 200, done)
        self.assertTrue(done["first"])
        again = api("/v1/activities/wxpy-salon/check-ins", {"card_code": card_code(members[0])})[1]
        self.assertFalse(again["first"], "a second scan is no second participation")
        member = api(f"/v1/members/{members[0]}")[1]
        self.assertEqual(member["facts"]["participations"], {"salon": 1}, member)
        report = api("/v1/activities/wxpy-salon/report")[1]
        self.assertEqual((report["confirmed"], report["waitlisted"], report["attended"]), (2, 1, 1))

    def test_an_adopted_idea_makes_a_member_with_three_purchases_super_strong(self):
        openid, member = self.follower(9)
        for n in range(3):
            self.buy(openid, n)
        status, idea = api("/v1/ideas", {"member_id": member, "idempotency_key": "wxpy-idea-9",
                                         "text": "Oolong in a resealable can"})
        self.assertEqual(status, 201, idea)
        self.assertNotEqual(api(f"/v1/members/{member}")[1]["stage"], "super_strong")
        for move in ({"status": "under_review"},
                     {"status": "adopted", "reward_points": 100, "public_note": "Thank you!"}):
            status, body = api(f"/v1/ideas/{idea['id']}/decision", move)
            self.assertEqual(status, 200, body)
        after = api(f"/v1/members/{member}")[1]
        self.assertEqual(after["stage"], "super_strong", after)
        self.assertEqual(after["facts"]["participations"].get("co_creation"), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
