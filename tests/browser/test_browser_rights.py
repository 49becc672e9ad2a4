"""権限管理 in a real browser: the 所属長 of section 1101 approves a grant request an officer made for an
account of their section, with the /rights page's form; the store shows the grant issued and the
request decided by them. A request the section head made themselves carries no form, and sending the
approval anyway is refused with the service's reason."""

from __future__ import annotations

from datetime import UTC, datetime

from browser_support import LiveServer, Pages, expect

from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.rights import service
from auditd.rights.schemas import GrantRequestIn

ROLE = "linkage"  # a role section 1101 may hold, which the demo's 1101 accounts do not all have


def principal(live: LiveServer, role: str) -> Principal:
    """The shared user of ``role`` as the services see them."""
    username = live.users[role].username
    user = live.rows("SELECT id, display_name, role, section_code FROM platform_users WHERE username = :u", u=username)[
        0
    ]
    return Principal(
        user_id=user.id,
        username=username,
        display_name=user.display_name,
        role=PlatformRole(user.role),
        municipality_code=live.settings.municipality_code,
        section_code=user.section_code,
    )


def accounts_of_1101(live: LiveServer) -> list[str]:
    """Personal accounts of section 1101's own staff (a contractor's operator needs a contract) without
    the role, in use today: the last two are this test's (the page tour reads the first)."""
    rows = live.rows(
        "SELECT DISTINCT a.user_id FROM accounts a JOIN staff_assignments s"
        " ON s.municipality_code = a.municipality_code AND s.staff_id = a.staff_id"
        " JOIN staff p ON p.municipality_code = a.municipality_code AND p.staff_id = a.staff_id"
        " WHERE s.section_code = '1101' AND s.valid_to IS NULL AND a.kind = 'personal' AND a.disabled_on IS NULL"
        " AND p.employment <> 'contractor'"
        " AND a.user_id NOT IN (SELECT user_id FROM grants WHERE role = :r) ORDER BY a.user_id",
        r=ROLE,
    )
    return [r.user_id for r in rows]


def request_for(live: LiveServer, requester: str, user_id: str, reason: str) -> int:
    """A pending request, made with the rights service as ``requester`` (committed)."""
    now = datetime.now(UTC)
    today = service.today_in(live.settings, now)
    wanted = GrantRequestIn(user_id=user_id, role=ROLE, valid_from=today, reason=reason)
    with live.engine.begin() as conn:
        made = service.create_request(
            conn, principal(live, requester), service.role_catalog(live.settings), wanted, now=now, today=today
        )
    return made.id


def test_a_section_head_approves_a_request_with_the_form(pages: Pages, live_server: LiveServer) -> None:
    head = live_server.users["section_head"].username
    officer = live_server.users["officer"].username
    candidates = accounts_of_1101(live_server)
    assert len(candidates) >= 3, candidates
    theirs, own_account = candidates[-1], candidates[-2]
    reason = f"ブラウザ試験: 住基連携の兼務（{live_server.backend}）"
    asked = request_for(live_server, "officer", theirs, reason)
    own = request_for(live_server, "section_head", own_account, reason)

    page = pages.new("section_head")
    page.goto("/")
    page.locator("nav.mainnav").get_by_role("link", name="権限管理").click()
    expect(page.locator("h1")).to_have_text("権限管理")
    expect(page.locator("#read-only")).to_have_count(0)
    row = page.locator(f"#request-{asked}")
    expect(row).to_contain_text(theirs)
    expect(row).to_contain_text(ROLE)
    expect(row).to_contain_text(reason)
    expect(row).to_contain_text(officer)

    # the section head's own request: no form, the note instead
    own_row = page.locator(f"#request-{own}")
    expect(own_row).to_contain_text("自分の申請（他の承認者が決定します）")
    expect(own_row.locator("form")).to_have_count(0)

    approve = page.locator(f"#approve-{asked}")
    approve.get_by_role("textbox", name="コメント").fill("所属長として承認")
    approve.get_by_role("button", name="承認する").click()
    expect(page).to_have_url(f"{live_server.url}/rights#requests")
    flash = page.locator("#flash")
    expect(flash).to_contain_text("申請を承認し、権限を付与しました。")

    # the store: the request decided by the section head, the grant issued in their name
    decided = live_server.rows(
        "SELECT status, decided_by, decision_reason, grant_id FROM grant_requests WHERE id = :i", i=asked
    )[0]
    assert (decided.status, decided.decided_by, decided.decision_reason) == ("approved", head, "所属長として承認")
    assert decided.grant_id is not None
    grant = live_server.rows(
        "SELECT user_id, role, approver, status, origin FROM grants WHERE id = :g", g=decided.grant_id
    )[0]
    assert tuple(grant) == (theirs, ROLE, head, "active", "api")
    expect(flash).to_contain_text(f"#{decided.grant_id} {theirs} {ROLE}")
    steps = live_server.rows(
        "SELECT actor, action, grant_id FROM grant_events WHERE request_id = :i ORDER BY id", i=asked
    )
    assert [(s.actor, s.action) for s in steps] == [(officer, "requested"), (head, "approved")]
    trailed = live_server.scalar(
        "SELECT count(*) FROM trail WHERE actor = :a AND action = 'rights_approved' AND target_id = :g",
        a=head,
        g=str(decided.grant_id),
    )
    assert trailed == 1

    # the page: the request is gone from the pending list, the grant is listed
    expect(page.locator(f"#request-{asked}")).to_have_count(0)
    expect(page.locator(f"#grant-list-{decided.grant_id}")).to_contain_text(theirs)
    expect(page.locator(f"#request-{own}")).to_be_visible()

    # sending the approval of their own request anyway (a hand-made form with the session's CSRF token):
    # refused with the service's reason, nothing changed
    page.evaluate(
        """id => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = `/rights/requests/${id}/approve`;
            const csrf = document.querySelector('form[action="/logout"] input[name="csrf"]').cloneNode();
            form.appendChild(csrf);
            document.body.appendChild(form);
            form.submit();
        }""",
        own,
    )
    page.wait_for_url(f"{live_server.url}/rights#requests")
    expect(page.locator("#flash")).to_contain_text("この申請は処理できませんでした。")
    expect(page.locator("#flash")).to_contain_text("自分の申請は承認できません")
    status = live_server.scalar("SELECT status FROM grant_requests WHERE id = :i", i=own)
    assert status == "pending"
    assert pages.errors(page) == []

    # an auditor reads the pending request without a form
    auditor = pages.new("auditor")
    auditor.goto("/rights")
    expect(auditor.locator("#read-only")).to_be_visible()
    expect(auditor.locator(f"#request-{own}")).to_contain_text(own_account)
    expect(auditor.locator("#requests form")).to_have_count(0)
