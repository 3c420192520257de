"""The cockpit in a real browser: Debian's Chromium driven by Selenium, headless.

Run by scripts/browser-tests against a server it seeds with the demo brand. Each test
opens pages as a person would and checks what they show against the JSON API; every
test writes a screenshot under $FLYWHEEL_SCREENSHOTS.
"""

import json
import os
import time
import unittest
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ["FLYWHEEL_URL"].rstrip("/")
ADMIN_KEY = os.environ["FLYWHEEL_ADMIN_KEY"]
STAFF_KEY = os.environ["FLYWHEEL_STAFF_KEY"]
SHOTS = os.environ.get("FLYWHEEL_SCREENSHOTS", "target/screenshots")


def replaced(element):
    """A wait condition: `element` has left the page. Selenium's `staleness_of` knows
    only the stale-element error; Chrome sometimes answers for a node just detached with
    "does not belong to the document" instead, which means the same."""

    def gone(_driver):
        try:
            element.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise

    return gone


def api(path, key=ADMIN_KEY):
    request = urllib.request.Request(BASE + path, headers={"Authorization": "Bearer " + key})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def browser(width=1280, height=900):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    # Chromium sometimes fails to start on a busy machine: try again before failing.
    for attempt in range(3):
        service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
        try:
            return webdriver.Chrome(service=service, options=options)
        except WebDriverException:
            if attempt == 2:
                raise
            time.sleep(2)


class Cockpit(unittest.TestCase):
    def setUp(self):
        self.driver = browser()
        self.wait = WebDriverWait(self.driver, 20)

    def tearDown(self):
        self.driver.quit()

    def shot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        self.driver.save_screenshot(os.path.join(SHOTS, name + ".png"))

    def sign_in(self, key, start="/"):
        self.driver.get(BASE + start)
        self.wait.until(EC.presence_of_element_located((By.ID, "key")))
        self.driver.find_element(By.ID, "key").send_keys(key)
        self.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "header.top")))

    def text(self, element_id):
        return self.driver.find_element(By.ID, element_id).text

    def a_member_with_phone(self):
        """The first member (by id) with a phone, as the API sees them."""
        for member_id in range(1, 200):
            try:
                doc = api(f"/v1/members/{member_id}")
            except urllib.error.HTTPError:
                continue
            phones = [i["value"] for i in doc["identities"] if i["kind"] == "phone"]
            if phones and doc["facts"]["purchase_count"] > 0:
                return doc, phones[0]
        self.fail("the demo has no member with a phone and a purchase")

    def test_signed_out_visitors_are_sent_to_sign_in(self):
        self.driver.get(BASE + "/members")
        self.wait.until(EC.presence_of_element_located((By.ID, "key")))
        self.assertIn("/login", self.driver.current_url)
        self.driver.find_element(By.ID, "key").send_keys("fw_not_a_key")
        self.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        alert = self.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".error")))
        self.assertIn("unknown or revoked", alert.text)
        self.shot("login-refused")

    def test_overview_tiles_match_the_api_and_charts_render(self):
        self.sign_in(ADMIN_KEY)
        figures = api("/v1/stats/overview")
        self.assertEqual(self.text("kpi-members"), str(figures["members"]))
        self.assertEqual(self.text("kpi-super"), str(figures["super_users"]))
        self.assertEqual(self.text("kpi-paid"), str(figures["paid_members"]))
        self.assertEqual(self.text("kpi-liability"), str(figures["points_liability"]))
        for chart in ("chart-funnel", "chart-flows", "chart-points", "chart-referrals"):
            painted = self.wait.until(
                lambda d: d.execute_script(
                    """
                    const c = document.getElementById(arguments[0]);
                    if (!c || !c.chart) return 0;
                    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let n = 0;
                    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
                    return n;
                    """,
                    chart,
                )
            )
            self.assertGreater(painted, 500, f"{chart} is blank")
        self.assertTrue(self.driver.find_elements(By.CSS_SELECTOR, "#cohorts tbody tr"))
        self.shot("overview")

    def test_search_a_member_and_open_the_360(self):
        doc, phone = self.a_member_with_phone()
        self.sign_in(ADMIN_KEY, "/members")
        box = self.driver.find_element(By.NAME, "q")
        box.send_keys(phone)
        box.submit()
        link = self.wait.until(
            EC.element_to_be_clickable((By.CSS_SELECTOR, f"#results a[href='/members/{doc['id']}']"))
        )
        link.click()
        self.wait.until(EC.presence_of_element_located((By.ID, "member-name")))
        self.assertEqual(self.text("member-stage"), doc["stage"])
        self.assertEqual(self.text("purchase-count"), str(doc["facts"]["purchase_count"]))
        self.assertIn(phone, self.text("identities"))
        points = api(f"/v1/members/{doc['id']}/points")
        self.assertEqual(self.text("points-balance"), str(points["balance"]))
        self.shot("member-360")

    def test_till_lookup_by_phone_shows_the_api_figures(self):
        doc, phone = self.a_member_with_phone()
        self.sign_in(STAFF_KEY, "/till")
        box = self.driver.find_element(By.NAME, "q")
        box.send_keys(phone)
        box.submit()
        self.wait.until(EC.presence_of_element_located((By.ID, "till-result")))
        card = api(f"/v1/members/{doc['id']}/card")
        self.assertEqual(self.text("till-points"), str(card["points"]["balance"]))
        self.assertEqual(self.text("till-purchases"), str(doc["facts"]["purchase_count"]))
        self.assertEqual(self.text("till-spent"), doc["facts"]["total_spent"])
        self.shot("till")

    def test_the_till_redeems_a_coupon_once_on_the_order_at_hand(self):
        doc, phone = self.a_member_with_phone()
        issued = api_post("/v1/coupons/ten-off/issue",
                          {"member_id": doc["id"], "idempotency_key": f"browser-{doc['id']}"})
        code = issued["code"]
        self.sign_in(STAFF_KEY, "/till")
        box = self.driver.find_element(By.NAME, "q")
        box.send_keys(phone)
        box.submit()
        self.wait.until(EC.presence_of_element_located((By.ID, "till-coupons")))
        row = self.driver.find_element(By.ID, f"coupon-{code}")
        self.assertIn("10 off 50", row.text)
        row.find_element(By.NAME, "order_id").send_keys("TILL-1")
        row.find_element(By.NAME, "amount").send_keys("68.00")
        row.find_element(By.TAG_NAME, "button").click()
        self.wait.until(EC.presence_of_element_located((By.ID, "till-redeemed")))
        self.assertIn("take 10.00 off", self.text("till-redeemed"))
        # Back on the member's glance, the code has left the list, and the API sees it
        # redeemed on that order.
        self.assertEqual(len(self.driver.find_elements(By.ID, "till-result")), 1)
        self.assertEqual(self.driver.find_elements(By.ID, f"coupon-{code}"), [])
        held = api(f"/v1/members/{doc['id']}/coupons")["coupons"]
        mine = [c for c in held if c["code"] == code][0]
        self.assertEqual((mine["status"], mine["order_id"], mine["discount"]),
                         ("redeemed", "TILL-1", "10.00"))
        self.shot("till-coupon")

    def test_the_marketing_page_shows_coupons_and_flash_sales_as_the_api(self):
        self.sign_in(STAFF_KEY, "/marketing")
        coupons = api("/v1/coupons")["coupons"]
        self.assertEqual(len(coupons), 4, "the demo defines four coupons")
        for c in coupons:
            row = self.driver.find_element(By.ID, f"coupon-{c['id']}")
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.issued").text, str(c["issued"]))
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.redeemed").text, str(c["redeemed"]))
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.granted").text, c["granted"])
        sales = api("/v1/flash-sales")["flash_sales"]
        self.assertTrue(sales)
        for s in sales:
            row = self.driver.find_element(By.ID, f"sale-{s['id']}")
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.remaining").text, str(s["remaining"]))
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.paid").text, str(s["paid"]))
        for lottery in api("/v1/lotteries")["lotteries"]:
            row = self.driver.find_element(By.ID, f"lottery-{lottery['id']}")
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.draws").text, str(lottery["draws"]))
        self.shot("marketing")

    def test_the_marketing_page_lists_the_shares_that_brought_the_most(self):
        self.sign_in(STAFF_KEY, "/marketing")
        links = api("/v1/share-links?order=top")["links"]
        self.assertTrue(links)
        for link in links:
            row = self.driver.find_element(By.ID, f"shared-{link['token']}")
            cells = [td.text for td in row.find_elements(By.CSS_SELECTOR, "td.num")]
            c = link["counts"]
            self.assertEqual(cells, [str(c["clicks"]), str(c["readers"]), str(c["buyers"]),
                                     str(c["new_buyers"])])
        self.driver.execute_script("document.getElementById('top-shares').scrollIntoView()")
        self.shot("marketing-shares")

    def test_fission_campaigns_leaderboards_and_badges_show_as_the_api(self):
        self.sign_in(STAFF_KEY, "/marketing")
        campaigns = api("/v1/fission-campaigns")["campaigns"]
        self.assertEqual(len(campaigns), 3, "the demo defines a group-buy, a help and a bargain")
        for c in campaigns:
            row = self.driver.find_element(By.ID, f"fission-{c['id']}")
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.rounds").text, str(c["rounds"]))
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.completed").text, str(c["completed"]))
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.joins").text, str(c["joins"]))
        self.assertGreater(sum(c["joins"] for c in campaigns), 0)
        for board in api("/v1/leaderboards")["leaderboards"]:
            shown = self.driver.find_elements(By.CSS_SELECTOR, f"#board-{board['id']} ol.standings li")
            self.assertEqual(
                [li.find_element(By.TAG_NAME, "a").get_attribute("href").rsplit("/", 1)[1] for li in shown],
                [str(s["member_id"]) for s in board["standings"]],
            )
            self.assertEqual([li.get_attribute("value") for li in shown],
                             [str(s["rank"]) for s in board["standings"]])
        self.driver.execute_script("document.getElementById('fission').scrollIntoView()")
        self.shot("marketing-fission")
        holders = api("/v1/segments/ambassadors/members")["members"]
        self.assertTrue(holders, "the demo's referrers carry the Ambassador badge")
        member = holders[0]["member_id"]
        honours = api(f"/v1/members/{member}/honours")
        self.assertIn("Ambassador", [b["badge"] for b in honours["badges"]])
        self.driver.get(f"{BASE}/members/{member}")
        self.wait.until(EC.presence_of_element_located((By.ID, "honours")))
        self.assertIn("Ambassador", self.text("honours"))
        self.driver.execute_script("document.getElementById('honours').scrollIntoView()")
        self.shot("member-honours")

    def test_campaign_results_match_the_marketing_report(self):
        self.sign_in(ADMIN_KEY, "/marketing")
        report = api("/v1/marketing/report")
        self.assertTrue(report["campaigns"])
        for c in report["campaigns"]:
            row = self.driver.find_element(By.ID, f"result-{c['kind']}-{c['id']}")
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.participants").text, str(c["participants"]))
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.cost").text, c["cost"])
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.gmv").text, c["gmv"])
        self.driver.execute_script("document.getElementById('campaign-report').scrollIntoView()")
        self.shot("marketing-report")

    def test_what_brought_members_shows_each_source_as_the_api(self):
        self.sign_in(ADMIN_KEY, "/marketing")
        report = api("/v1/stats/sources")
        self.assertGreaterEqual(len(report["sources"]), 4, "the demo's QR codes, campaigns, referrals")
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#sources tr.source-row")
        self.assertEqual(len(rows), len(report["sources"]))
        for row, source in zip(rows, report["sources"]):
            self.assertIn(source["name"], row.find_element(By.TAG_NAME, "td").text)
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.members").text, str(source["members"]))
            self.assertTrue(row.find_element(By.CSS_SELECTOR, "td.buyers").text.startswith(str(source["buyers"])))
        # A member's page says what brought them, as the API does.
        doc = next(d for d in (api(f"/v1/members/{i}") for i in range(1, 40)) if d["source"])
        self.driver.get(f"{BASE}/members/{doc['id']}")
        self.wait.until(EC.presence_of_element_located((By.ID, "member-source")))
        self.assertIn(doc["source"]["name"], self.text("member-source"))
        self.driver.get(f"{BASE}/marketing")
        self.wait.until(EC.presence_of_element_located((By.ID, "sources")))
        self.driver.execute_script("document.getElementById('sources').scrollIntoView()")
        self.shot("marketing-sources")

    def test_staff_release_a_held_referral_from_the_marketing_page(self):
        held = api("/v1/referrals?status=held")["referrals"]
        self.assertEqual(len(held), 2, "the demo's farmed ring holds two referrals")
        # Staff see why, but may not decide.
        self.sign_in(STAFF_KEY, "/marketing")
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#held-referrals tr.held-referral")
        self.assertEqual(len(rows), 2)
        self.assertIn("share one device", rows[0].find_element(By.CSS_SELECTOR, "td.why").text)
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "#held-referrals form"), [])
        self.driver.delete_all_cookies()
        self.sign_in(ADMIN_KEY, "/marketing")
        first = sorted(held, key=lambda r: r["referred_at"])[0]
        row = self.driver.find_element(By.ID, f"held-{first['event_id']}")
        self.driver.execute_script("arguments[0].scrollIntoView()", row)
        self.shot("marketing-held-referrals")
        inviter = first["inviter_id"]
        converted = api(f"/v1/members/{inviter}")["facts"]["referrals_converted"]
        row.find_element(By.NAME, "reason").send_keys("a neighbour, checked by phone")
        row.find_element(By.CSS_SELECTOR, "button[value=release]").click()
        self.wait.until(replaced(row))
        self.wait.until(EC.presence_of_element_located((By.ID, "held-referrals")))
        self.assertEqual(self.driver.find_elements(By.ID, f"held-{first['event_id']}"), [])
        self.assertEqual(api(f"/v1/referrals/{first['event_id']}")["status"], "converted")
        self.assertEqual(api(f"/v1/members/{inviter}")["facts"]["referrals_converted"], converted + 1)
        audit = api("/v1/audit?kind=referral")["entries"]
        self.assertEqual((audit[0]["action"], audit[0]["reason"]), ("release", "a neighbour, checked by phone"))

    def test_staff_see_contacts_masked_and_no_points_adjustment(self):
        doc, phone = self.a_member_with_phone()
        self.sign_in(STAFF_KEY, f"/members/{doc['id']}")
        self.wait.until(EC.presence_of_element_located((By.ID, "identities")))
        identities = self.text("identities")
        self.assertNotIn(phone, identities)
        self.assertIn("****", identities)
        self.assertEqual(self.driver.find_elements(By.NAME, "points"), [])
        self.shot("member-360-staff")

    def test_decide_an_identity_conflict(self):
        open_before = api("/v1/identity-conflicts")["conflicts"]
        if not open_before:
            self.skipTest("the demo brand has no open conflict")
        conflict = open_before[0]
        self.sign_in(ADMIN_KEY, "/conflicts")
        section = self.wait.until(
            EC.presence_of_element_located((By.ID, f"conflict-{conflict['id']}"))
        )
        self.shot("conflicts")
        forms = section.find_elements(By.CSS_SELECTOR, "form.action")
        dismiss = forms[-1]
        dismiss.find_element(By.NAME, "reason").send_keys("two people, checked in the browser test")
        dismiss.find_element(By.CSS_SELECTOR, "button[value=dismiss]").click()
        self.wait.until(replaced(section))
        ids = [c["id"] for c in api("/v1/identity-conflicts")["conflicts"]]
        self.assertNotIn(conflict["id"], ids)
        audit = api("/v1/audit?kind=identity_conflict")
        self.assertTrue(any("browser test" in json.dumps(r) for r in audit["entries"]))

    def test_segment_builder_counts_as_you_type_and_points_at_errors(self):
        self.sign_in(ADMIN_KEY, "/segments")
        box = self.wait.until(EC.presence_of_element_located((By.ID, "expression")))
        box.send_keys("purchase_count >= 1")
        count = self.wait.until(EC.presence_of_element_located((By.ID, "preview-count")))
        preview = api_post("/v1/segments/preview", {"expression": "purchase_count >= 1"})
        self.assertEqual(count.text, str(preview["count"]))
        box.clear()
        box.send_keys("stage >= 5")
        error = self.wait.until(EC.presence_of_element_located((By.ID, "preview-error")))
        self.assertIn("^", error.text)
        self.shot("segment-builder")

    def test_value_page_says_what_super_users_are_worth(self):
        self.sign_in(ADMIN_KEY, "/value")
        figures = api("/v1/stats/contribution")
        summary = self.text("value-summary")
        supers = [g for g in figures["super_users"] if g["key"] == "super_users"]
        if supers:
            self.assertIn(f"{supers[0]['revenue_share'] * 100:.1f}% of revenue", summary)
        self.assertEqual(self.text("top-fifth"), f"{figures['top_fifth_revenue_share'] * 100:.0f}%")
        painted = self.wait.until(
            lambda d: d.execute_script(
                "const c = document.getElementById('chart-concentration'); return c && c.chart ? 1 : 0;"
            )
        )
        self.assertEqual(painted, 1)
        entries = api("/v1/stats/entries")
        shown = self.driver.find_elements(By.CSS_SELECTOR, "#entry-products tbody tr")
        self.assertEqual(len(shown), min(15, len(entries["products"])))
        kpis = api("/v1/kpis")["kpis"]
        self.assertEqual(len(self.driver.find_elements(By.CSS_SELECTOR, "#kpi-table tbody tr")), len(kpis))
        persona = api("/v1/stats/personas?stage=super_strong")
        self.assertEqual(self.text("persona-summary"), persona["summary"])
        self.shot("value")

    def test_tiers_page_shows_the_membership_report_and_the_benefits(self):
        self.sign_in(ADMIN_KEY, "/memberships")
        report = api("/v1/reports/memberships")
        self.assertTrue(report["programmes"], "the demo brand sells tiers")
        for programme in report["programmes"]:
            table = self.driver.find_element(By.ID, "programme-" + programme["programme"])
            total = table.find_element(By.CSS_SELECTOR, "tr.total td.num").text
            self.assertEqual(total, str(programme["total"]["members"]))
        self.assertTrue(self.driver.find_elements(By.CSS_SELECTOR, "#benefits tbody tr"))
        self.shot("tiers")

    def test_journeys_page_counts_what_the_api_counts(self):
        self.sign_in(ADMIN_KEY, "/journeys")
        journeys = api("/v1/journeys")["journeys"]
        self.assertEqual(len(journeys), 4, "the demo brand runs four journeys")
        for j in journeys:
            row = self.driver.find_element(By.ID, "journey-" + j["id"])
            performance = api(f"/v1/journeys/{j['id']}/performance")
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.messages").text,
                             str(performance["messages"]))
        sent = api("/v1/outbox?limit=50")["messages"]
        self.assertTrue(sent, "the demo's journeys sent messages")
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#outbox tbody tr")
        self.assertEqual(len(rows), len(sent))
        self.shot("journeys")
        # The member 360 shows the member's journeys and messages as the API does.
        member = sent[0]["member_id"]
        self.driver.get(f"{BASE}/members/{member}")
        runs = api(f"/v1/members/{member}/journeys")["journeys"]
        shown = self.driver.find_elements(By.CSS_SELECTOR, "#member-journeys tbody tr")
        self.assertEqual(len(shown), min(len(runs), 20))
        mine = api(f"/v1/outbox?member_id={member}&limit=10")["messages"]
        listed = self.driver.find_elements(By.CSS_SELECTOR, "#member-messages tbody tr")
        self.assertEqual(len(listed), len(mine))

    def test_campaigns_page_shows_each_group_against_the_holdout(self):
        self.sign_in(ADMIN_KEY, "/campaigns")
        results = api("/v1/campaigns/mid-autumn/results")["groups"]
        self.assertEqual([g["variant"] for g in results], ["a", "b", "holdout"],
                         "the demo's campaign went out to two variants and a holdout")
        section = self.driver.find_element(By.ID, "campaign-mid-autumn")
        for g in results:
            row = section.find_element(By.CSS_SELECTOR, "tr.group-" + g["variant"])
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.members").text,
                             str(g["members"]))
        self.shot("campaigns")

    def test_service_page_shows_the_report_and_resolves_a_late_ticket(self):
        self.sign_in(STAFF_KEY, "/service")
        report = api("/v1/service/report?days=30")["queues"]
        self.assertTrue(report, "the demo's feedback opened tickets in its queues")
        for q in report:
            name = q["queue"] or "none"
            row = self.driver.find_element(By.CSS_SELECTOR, "#queues tr.queue-" + name)
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.opened").text, str(q["opened"]))
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.breached-now").text,
                             str(q["breached_now"]))
        # The deposit funnel: the demo's deals, with and without a service team.
        deposits = api("/v1/service/report?days=90")["deposits"]
        self.assertGreater(deposits["with_team"]["deals"], 0)
        self.assertGreater(deposits["without_team"]["deals"], 0)
        for key, css in [("all", "all"), ("with_team", "with-team"), ("without_team", "without-team")]:
            row = self.driver.find_element(By.CSS_SELECTOR, "#deposits tr.deals-" + css)
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.deals").text,
                             str(deposits[key]["deals"]))
            self.assertEqual(row.find_element(By.CSS_SELECTOR, "td.delivered").text,
                             str(deposits[key]["delivered"]))
        care = api("/v1/care/today?limit=100")["items"]
        self.assertTrue(care, "the demo's regulars have repurchase cycles come round")
        self.assertEqual(len(self.driver.find_elements(By.CSS_SELECTOR, "#care tbody tr")),
                         len(care))
        late = [t for t in api("/v1/tickets?breached=true&limit=200")["tickets"]
                if t["status"] != "resolved"]
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#breached tbody tr")
        self.assertEqual(len(rows), len(late))
        self.shot("service")
        # Staff resolve the first late ticket from the page; the API sees it resolved.
        ticket = late[0]
        row = self.driver.find_element(By.ID, f"ticket-{ticket['id']}")
        form = row.find_element(By.CSS_SELECTOR, "form[action$='/resolve']")
        form.find_element(By.NAME, "note").send_keys("Called back and settled")
        form.find_element(By.TAG_NAME, "button").click()
        self.wait.until(EC.url_contains("done=resolve"))
        after = api(f"/v1/tickets/{ticket['id']}")
        self.assertEqual(after["status"], "resolved")
        self.assertEqual(after["notes"][-1]["note"], "Called back and settled")
        # The member 360 lists the member's tickets as the API does.
        self.driver.get(f"{BASE}/members/{ticket['member_id']}")
        theirs = api(f"/v1/members/{ticket['member_id']}/tickets")["tickets"]
        shown = self.driver.find_elements(By.CSS_SELECTOR, "#member-tickets tbody tr")
        self.assertEqual(len(shown), min(len(theirs), 20))

    def test_an_owners_list_shows_what_needs_doing_and_logs_a_contact(self):
        self.sign_in(STAFF_KEY, "/service")
        self.driver.find_element(By.ID, "owners-link").click()
        self.wait.until(EC.url_contains("/service/owners"))
        Select(self.driver.find_element(By.NAME, "staff")).select_by_value("s-li")
        self.driver.find_element(By.CSS_SELECTOR, "#pick button").click()
        self.wait.until(EC.presence_of_element_located((By.ID, "owned")))
        owned = api("/v1/staff/s-li/members")["members"]
        self.assertTrue(owned, "the demo gives Li Na the corporate accounts")
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#owned tbody tr")
        self.assertEqual(len(rows), len(owned))
        first = owned[0]
        row = self.driver.find_element(By.ID, f"owned-{first['member_id']}")
        self.assertEqual(len(row.find_elements(By.CSS_SELECTOR, "ul.todo li")), len(first["todo"]))
        self.shot("owners")
        # Staff log that they called; the member's timeline has the outgoing message.
        row.find_element(By.NAME, "note").send_keys("Called about the delivery date")
        row.find_element(By.TAG_NAME, "button").click()
        self.wait.until(EC.url_contains("done="))
        events = api(f"/v1/members/{first['member_id']}/timeline")["events"]
        said = [e for e in events if e["type"] == "message"
                and e["properties"].get("staff_id") == "s-li"]
        self.assertEqual(len(said), 1, events[:3])
        self.assertEqual(said[0]["properties"]["text"], "Called about the delivery date")

    def test_the_card_page_opens_from_a_signed_link_and_refuses_a_tampered_one(self):
        doc, _ = self.a_member_with_phone()
        link = api(f"/v1/members/{doc['id']}/card-link")["url"]
        path = link[link.index("/card/"):]
        phone_browser = browser(390, 844)
        try:
            phone_browser.get(BASE + path)
            WebDriverWait(phone_browser, 20).until(
                EC.presence_of_element_located((By.ID, "card-qr"))
            )
            self.assertTrue(phone_browser.find_elements(By.CSS_SELECTOR, "#card-qr svg"))
            self.assertTrue(phone_browser.find_elements(By.CSS_SELECTOR, "#card-barcode svg"))
            card = api(f"/v1/members/{doc['id']}/card")
            self.assertEqual(
                phone_browser.find_element(By.ID, "card-points").text,
                str(card["points"]["balance"]),
            )
            os.makedirs(SHOTS, exist_ok=True)
            phone_browser.save_screenshot(os.path.join(SHOTS, "card.png"))
            last = path[-1]
            tampered = path[:-1] + ("0" if last != "0" else "1")
            phone_browser.get(BASE + tampered)
            body = phone_browser.find_element(By.TAG_NAME, "body").text
            self.assertIn("403", body)
            self.assertIn("invalid_card_link", body)
            phone_browser.save_screenshot(os.path.join(SHOTS, "card-tampered.png"))
        finally:
            phone_browser.quit()

    def test_the_card_page_shows_the_task_centre_as_the_api(self):
        # The demo's member with a full week of check-ins: the streak task has paid.
        found = None
        for member in range(1, 400):
            try:
                tasks = api(f"/v1/members/{member}/tasks")["tasks"]
            except urllib.error.HTTPError:
                continue
            streak = [t for t in tasks if t["rule_id"] == "task-streak"]
            if streak and streak[0]["times_done"] >= 1:
                found = (member, tasks)
                break
        self.assertIsNotNone(found, "the demo pays one member the 7-day check-in task")
        member, tasks = found
        self.assertEqual([t["rule_id"] for t in tasks],
                         ["task-profile", "task-follow", "task-first-review", "task-streak",
                          "task-share-readers"])
        link = api(f"/v1/members/{member}/card-link")["url"]
        phone_browser = browser(390, 844)
        try:
            phone_browser.get(BASE + link[link.index("/card/"):])
            WebDriverWait(phone_browser, 20).until(
                EC.presence_of_element_located((By.ID, "card-tasks"))
            )
            for t in tasks:
                item = phone_browser.find_element(By.ID, f"task-{t['rule_id']}")
                self.assertIn(t["title"], item.text)
                self.assertIn(t["reward"], item.text)
                self.assertEqual("done" in item.get_attribute("class"), t["status"] == "done")
            # Each full week pays again (the 45-day challengers' check-ins count too).
            done = [t for t in tasks if t["rule_id"] == "task-streak"][0]["times_done"]
            streak = phone_browser.find_element(By.ID, "task-task-streak").text
            self.assertIn(f"done {done}×", streak)
            phone_browser.execute_script(
                "document.getElementById('card-tasks').scrollIntoView()")
            os.makedirs(SHOTS, exist_ok=True)
            phone_browser.save_screenshot(os.path.join(SHOTS, "card-tasks.png"))
        finally:
            phone_browser.quit()

    def test_the_card_page_shows_the_members_shares_as_the_api(self):
        # The demo's shared link: ten readers and a new buyer, both rewarded.
        links = api("/v1/share-links")["links"]
        self.assertTrue(links, "the demo shares one tracked link")
        link = links[0]
        self.assertGreaterEqual(link["counts"]["readers"], 10)
        self.assertEqual(link["counts"]["new_buyers"], 1)
        self.assertEqual(sorted(m["measure"] for m in link["milestones"]),
                         ["new_buyers", "readers"])
        card_link = api(f"/v1/members/{link['member_id']}/card-link")["url"]
        phone_browser = browser(390, 844)
        try:
            phone_browser.get(BASE + card_link[card_link.index("/card/"):])
            WebDriverWait(phone_browser, 20).until(
                EC.presence_of_element_located((By.ID, "card-shares"))
            )
            item = phone_browser.find_element(By.ID, f"share-{link['token']}").text
            c = link["counts"]
            self.assertIn(link["title"], item)
            self.assertIn(f"{c['readers']} read · {c['clicks']} opened · {c['buyers']} bought", item)
            self.assertIn("2 rewarded", item)
            self.assertIn(f"/s/{link['token']}", item)
            phone_browser.execute_script(
                "document.getElementById('card-shares').scrollIntoView()")
            os.makedirs(SHOTS, exist_ok=True)
            phone_browser.save_screenshot(os.path.join(SHOTS, "card-shares.png"))
        finally:
            phone_browser.quit()

    def test_the_community_page_shows_activities_groups_and_the_board_as_the_api(self):
        self.sign_in(ADMIN_KEY, "/community")
        activities = api("/v1/activities")["activities"]
        self.assertEqual({a["id"] for a in activities},
                         {"winter-salon", "spring-tasting", "tea-45"},
                         "the demo runs a salon, a tasting and the 45-day challenge")
        for a in activities:
            row = self.driver.find_element(By.ID, f"activity-{a['id']}").text
            self.assertIn(a["name"], row)
        for g in api("/v1/wecom/groups")["groups"]:
            row = self.driver.find_element(By.ID, f"group-{g['chat_id']}").text
            self.assertIn(g["name"], row)
            self.assertIn(str(g["members"]), row)
        board = api("/v1/ideas?limit=1")["counts"]
        for status in ("received", "under_review", "adopted", "shipped", "declined"):
            self.assertEqual(self.text(f"count-{status}"), str(board.get(status, 0)))
            self.assertGreater(board.get(status, 0), 0, f"the demo has an idea {status}")
        self.shot("community")
        self.driver.find_element(By.LINK_TEXT, "Winter tea salon").click()
        self.wait.until(EC.presence_of_element_located((By.ID, "report")))
        report = api("/v1/activities/winter-salon/report")
        self.assertEqual(self.text("r-attended"), str(report["attended"]))
        self.assertEqual(self.text("r-no-shows"), str(report["no_shows"]))
        self.assertEqual(report["attended"], 10)
        self.assertEqual(len(self.driver.find_elements(By.CSS_SELECTOR, "#rsvps tbody tr")),
                         len(api("/v1/activities/winter-salon/rsvps")["rsvps"]))
        self.shot("community-activity")

    def test_an_operator_moves_an_idea_along_the_board(self):
        idea = api("/v1/ideas?status=received&limit=1")["ideas"][0]
        self.sign_in(ADMIN_KEY, "/community/ideas?status=received")
        row = self.driver.find_element(By.ID, idea["id"])
        self.assertIn(idea["text"], row.text)
        Select(row.find_element(By.NAME, "status")).select_by_value("under_review")
        row.find_element(By.NAME, "public_note").send_keys("Our buyers are looking at it")
        row.find_element(By.CSS_SELECTOR, "form.decide button").click()
        flash = self.wait.until(EC.presence_of_element_located((By.ID, "flash")))
        self.assertIn(idea["id"], flash.text)
        now = api(f"/v1/ideas/{idea['id']}")
        self.assertEqual(now["status"], "under_review")
        self.assertEqual(now["public_note"], "Our buyers are looking at it")
        self.shot("community-ideas")

    def test_a_member_joins_the_tasting_and_sends_an_idea_from_their_card(self):
        taken = {r["member_id"] for r in api("/v1/activities/spring-tasting/rsvps")["rsvps"]}
        member = None
        for candidate in range(1, 300):
            if candidate in taken:
                continue
            try:
                doc = api(f"/v1/members/{candidate}")
            except urllib.error.HTTPError:
                continue
            if doc["id"] != candidate or doc["stage"] not in ("weak", "strong", "super_strong"):
                continue
            if api(f"/v1/members/{candidate}/card")["points"]["balance"] >= 100:
                member = candidate
                break
        self.assertIsNotNone(member, "the demo has a weak-or-better member with 100 points")
        before = api(f"/v1/members/{member}/card")["points"]["balance"]
        link = api(f"/v1/members/{member}/card-link")["url"]
        phone_browser = browser(390, 844)
        try:
            phone_browser.get(BASE + link[link.index("/card/"):])
            wait = WebDriverWait(phone_browser, 20)
            item = wait.until(EC.presence_of_element_located((By.ID, "activity-spring-tasting")))
            self.assertIn("100 points", item.text)
            item.find_element(By.CSS_SELECTOR, ".rsvp-button").click()
            note = wait.until(EC.presence_of_element_located((By.ID, "card-note")))
            self.assertIn("You have a seat", note.text)
            self.assertIn("you are going (100 points paid)",
                          phone_browser.find_element(By.ID, "activity-spring-tasting").text)
            rsvps = api("/v1/activities/spring-tasting/rsvps")["rsvps"]
            mine = [r for r in rsvps if r["member_id"] == member]
            self.assertEqual((mine[0]["status"], mine[0]["via"]), ("confirmed", "card"))
            self.assertEqual(api(f"/v1/members/{member}/card")["points"]["balance"], before - 100)
            phone_browser.execute_script(
                "document.getElementById('card-activities').scrollIntoView()")
            os.makedirs(SHOTS, exist_ok=True)
            phone_browser.save_screenshot(os.path.join(SHOTS, "card-activities.png"))

            form = phone_browser.find_element(By.ID, "idea-form")
            form.find_element(By.NAME, "text").send_keys("Matcha in a tin that reseals")
            # The page still shows the RSVP's note until the post's redirect lands.
            page = phone_browser.find_element(By.TAG_NAME, "html")
            form.find_element(By.TAG_NAME, "button").click()
            wait.until(replaced(page))
            note = wait.until(EC.presence_of_element_located((By.ID, "card-note")))
            self.assertIn("Your idea is on our board", note.text)
            ideas = api("/v1/ideas?status=received")["ideas"]
            sent = [i for i in ideas if i["member_id"] == member and i["via"] == "card"]
            self.assertEqual([i["text"] for i in sent], ["Matcha in a tin that reseals"])
            self.assertIn("Matcha in a tin that reseals",
                          phone_browser.find_element(By.ID, "card-ideas").text)
            phone_browser.execute_script(
                "document.getElementById('card-ideas').scrollIntoView()")
            phone_browser.save_screenshot(os.path.join(SHOTS, "card-ideas.png"))
        finally:
            phone_browser.quit()


def api_post(path, body, key=ADMIN_KEY):
    request = urllib.request.Request(
        BASE + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


if __name__ == "__main__":
    unittest.main(verbosity=2)
