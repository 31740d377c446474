"""The complaint, service-KPI, spot-check and encryption pages over the real app: who may open
which page, forms that move a complaint through its statuses (and refuse a stale form), the
overdue count on the dashboards, the sidebar's complaint action and outage notice."""

from __future__ import annotations

import re

import pytest
from _api_support import build_kb, settings_for, start
from bs4 import BeautifulSoup

PASSWORD = "password-1"
RULES = """ticket_prefix: TS
timezone: Asia/Shanghai
default_department: 客户服务部
deadlines: {response_hours: 0.0003}
routes:
  - topic: 利息费用
    keywords: [利息]
    department: 财务核算组
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-complaints")
    rules = root / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")  # a first response is due about a second after receipt
    settings = settings_for(root / "data", None, complaint_rules=rules, offline_pack_url="file:///S:/pack/index.html")
    build_kb(settings)
    with start(settings) as api:
        for name, role in (("agent1", "agent"), ("agent2", "agent"), ("boss", "supervisor"), ("trainer1", "trainer")):
            api.records.add_user(name, role, password=PASSWORD)
        yield api


def sign_in(api, username: str):
    client = api.client
    client.cookies.clear()
    token = BeautifulSoup(client.get("/login").text, "html.parser").find("meta", attrs={"name": "csrf-token"})["content"]
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": token, "next": "/sidebar"},
                    follow_redirects=False)
    assert r.status_code == 303
    return client


def csrf_of(html: str) -> str:
    return BeautifulSoup(html, "html.parser").find("meta", attrs={"name": "csrf-token"})["content"]


def test_pages_by_role(app):
    client = sign_in(app, "agent1")
    assert client.get("/complaints").status_code == 200
    assert client.get("/service", follow_redirects=False).status_code == 403
    assert client.get("/trainer/spotchecks").status_code == 403
    sidebar = BeautifulSoup(client.get("/sidebar").text, "html.parser")
    assert sidebar.find(id="record-complaint") is not None and sidebar.find(id="complaint-form") is not None
    assert sidebar.find(id="outage")["hidden"] is not None
    assert sidebar.find(id="outage-pack")["href"] == "file:///S:/pack/index.html"
    assert sidebar.find(id="offline-pack-link")["href"].startswith("/api/offline-pack")
    nav = [a["href"] for a in sidebar.select("header nav a")]
    assert "/complaints" in nav and "/service" not in nav
    client = sign_in(app, "boss")
    assert client.get("/service").status_code == 200 and client.get("/trainer/spotchecks").status_code == 403
    client = sign_in(app, "trainer1")
    assert client.get("/trainer/spotchecks").status_code == 200 and client.get("/service").status_code == 200
    client.cookies.clear()
    assert client.get("/complaints", follow_redirects=False).status_code == 303  # to the sign-in page


def test_a_complaint_handled_through_its_page(app):
    import time

    agent = app.records.get_user_by_name("agent1")
    c = app.records.create_complaint(narrative="多扣了我利息", agent="agent1", agent_id=agent.id)
    time.sleep(1.5)  # its first response is now late
    client = sign_in(app, "boss")
    service = BeautifulSoup(client.get("/service").text, "html.parser")
    assert int(service.find(id="overdue-count").text) >= 1
    listing = BeautifulSoup(client.get("/complaints?overdue=1").text, "html.parser")
    row = listing.find("a", string=c.ticket_no).find_parent("tr")
    assert "response" in row["data-overdue"]
    client = sign_in(app, "agent2")
    assert client.get(f"/complaints/{c.id}").status_code == 403  # another agent's
    client = sign_in(app, "agent1")
    page = client.get(f"/complaints/{c.id}")
    assert page.status_code == 200 and "财务核算组" in page.text
    token = csrf_of(page.text)
    stale = client.post(f"/complaints/{c.id}", data={"action": "route", "csrf": "stale"}, follow_redirects=False)
    assert stale.status_code == 403 and app.records.get_complaint(c.id).status == "new"
    r = client.post(f"/complaints/{c.id}", data={"action": "route", "csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("done=route")
    assert app.records.get_complaint(c.id).status == "routed"
    r = client.post(f"/complaints/{c.id}", data={"action": "close", "csrf": token}, follow_redirects=False)
    assert "error=" in r.headers["location"] and app.records.get_complaint(c.id).status == "routed"
    client.post(f"/complaints/{c.id}", data={"action": "resolve", "resolution": "已退还", "csrf": token})
    (f,) = app.records.followups_of(c.id)
    client.post(f"/complaints/{c.id}", data={"action": "followup", "followup_id": str(f.id), "outcome": "satisfied",
                                             "csrf": token})
    client.post(f"/complaints/{c.id}", data={"action": "close", "csrf": token})
    page = BeautifulSoup(client.get(f"/complaints/{c.id}").text, "html.parser")
    assert page.find(id="status").text.strip() == "已关闭"
    assert len(page.select("#history-list li")) == 5 and page.find(id="promote") is None  # agents do not promote
    client = sign_in(app, "trainer1")
    page = client.get(f"/complaints/{c.id}")
    assert 'id="promote"' in page.text
    r = client.post(f"/complaints/{c.id}", data={"action": "promote", "customer_issue": "客户反映多扣利息",
                                                 "resolution": "核实后退还多扣利息", "csrf": csrf_of(page.text)},
                    follow_redirects=False)
    assert r.headers["location"].endswith("done=promote"), r.headers["location"]
    assert app.records.get_complaint(c.id).case_doc_id


def test_spot_checks_page_draws_and_grades(app):
    app.records.save_interaction({"question": "利息怎么算", "answer": "按日计息"})
    client = sign_in(app, "trainer1")
    token = csrf_of(client.get("/trainer/spotchecks").text)
    r = client.post("/trainer/spotchecks", data={"size": "1", "csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and "sample=" in r.headers["location"]
    page = BeautifulSoup(client.get(r.headers["location"]).text, "html.parser")
    card = page.select_one("article[data-graded='no']")
    spot_id = card["id"].removeprefix("spot-")
    sample = page.find("input", attrs={"name": "sample"})["value"]
    client.post(f"/trainer/spotchecks/{spot_id}", data={"action": "grade", "accurate": "on", "polite": "on",
                                                        "compliant": "on", "sample": sample, "csrf": token})
    (sc, _), = [row for row in app.records.spot_checks(sample=sample)]
    assert (sc.accurate, sc.complete, sc.polite, sc.compliant) == (True, False, True, True)


def test_dashboards_and_health_show_overdue_and_encryption(app):
    client = sign_in(app, "trainer1")
    dash = BeautifulSoup(client.get("/trainer/dashboard").text, "html.parser")
    assert dash.find(id="overdue-count") is not None
    client = sign_in(app, "boss")
    service = BeautifulSoup(client.get("/service?period=day&by=topic").text, "html.parser")
    assert service.find(id="chart-complaint_rate") is not None
    assert service.find(id="kpi-csv")["href"] == "/api/metrics/kpis?format=csv&period=day&by=topic"
    assert client.get(service.find(id="kpi-csv")["href"]).headers["content-type"].startswith("text/csv")
    admin = app.records.add_user("admin1", "admin", password=PASSWORD)
    assert admin.role == "admin"
    client = sign_in(app, "admin1")
    health = client.get("/admin/health").text
    assert "Fernet" in health and re.search(r"[0-9a-f]{8}", health)

