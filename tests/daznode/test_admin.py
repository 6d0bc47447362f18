import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from channels.demo import demo_seed
from decisions.models import AuditEntry
from tests.daznode.admin_pages import PASSWORD, text


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("operator", "", PASSWORD)


@pytest.mark.django_db
def test_the_login_page_renders(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b"Daznode" in response.content
    assert b'name="password"' in response.content


def test_an_admin_can_log_in(client, operator):
    response = client.post("/admin/login/?next=/admin/", {"username": "operator", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"Fee and channel management" in index.content


def test_a_wrong_password_is_refused(client, operator):
    response = client.post("/admin/login/?next=/admin/", {"username": "operator", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter the correct username and password" in response.content
    assert client.get("/admin/").status_code == 302


def test_anonymous_visitors_are_sent_to_the_login_page(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert client.get(response["Location"])["Location"].startswith("/umbrel-ui/login?next=/umbrel-ui/dashboard")
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_every_registered_model_lists_without_error(client, operator):
    demo_seed(channel_count=3)
    client.force_login(operator)
    ours = [
        model
        for model in admin.site._registry
        if model._meta.app_label in ("sources", "channels", "decisions", "auth_vault")
    ]
    assert len(ours) == 20
    for model in ours:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url


def test_the_audit_log_cannot_be_added_changed_or_deleted_from_the_admin(client, operator):
    entry = AuditEntry.objects.create(actor="system", action=AuditEntry.Action.DRY_RUN, reason="test")
    client.force_login(operator)
    assert client.get(reverse("admin:decisions_auditentry_add")).status_code == 403
    change_url = reverse("admin:decisions_auditentry_change", args=[entry.pk])
    assert client.post(change_url, {"actor": "someone-else", "reason": "edited"}).status_code == 403
    delete_url = reverse("admin:decisions_auditentry_delete", args=[entry.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert (entry.actor, entry.reason) == ("system", "test")


def test_every_admin_page_says_whether_dry_run_is_on(client, operator, settings):
    client.force_login(operator)
    assert b'class="daznode-mode daznode-mode-dry_run"' in client.get("/admin/").content
    settings.DAZNODE_DECISION_MODE = "live"
    assert b'class="daznode-mode daznode-mode-live"' in client.get("/admin/").content
    assert client.get("/static/daznode/admin.css").status_code == 200


def test_admin_logins_are_rate_limited_per_address(client, operator, settings):
    from django.core.cache import cache

    cache.clear()
    settings.DAZNODE_RATE_LOGIN = "3/d"  # day-long fixed windows keep the test from straddling a window's end
    wrong = {"username": "operator", "password": "wrong-guess-000"}
    statuses = [client.post("/admin/login/", wrong).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = client.post("/admin/login/", {"username": "operator", "password": PASSWORD})
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert client.get("/admin/login/").status_code == 200, "the page itself still renders"
    assert client.post("/admin/login/", wrong, REMOTE_ADDR="192.0.2.44").status_code == 200


INDEX_GROUPS = ["Decisions", "Channels", "Data sources", "Vault", "Authentication and Authorization", "Advanced"]
ADVANCED_MODELS = [
    "auth.group",
    "django_celery_beat.clockedschedule",
    "django_celery_beat.crontabschedule",
    "django_celery_beat.intervalschedule",
    "django_celery_beat.periodictask",
    "django_celery_beat.solarschedule",
    "token_blacklist.blacklistedtoken",
    "token_blacklist.outstandingtoken",
]


def index_groups(html: str) -> dict[str, list[str]]:
    """Each heading of the index's main column, with the changelist URLs under it, in the order shown."""
    main = html.split('id="content-main"', 1)[1].split('id="content-related"', 1)[0]
    groups = {}
    for caption, rows in re.findall(r"<caption>(.*?)</caption>(.*?)</table>", main, re.S):
        groups[text(caption)] = re.findall(r'<th scope="row"[^>]*>\s*<a href="([^"]+)"', rows)
    return groups


def changelist(label: str) -> str:
    return reverse(f"admin:{label.replace('.', '_')}_changelist")


def test_it_lists_the_daily_screens_first_and_the_machinery_last_under_advanced(client, operator):
    client.force_login(operator)
    groups = index_groups(client.get("/admin/").content.decode())
    assert list(groups) == INDEX_GROUPS
    decisions = [changelist(f"decisions.{name}") for name in ("decision", "auditentry", "killswitch")]
    assert groups["Decisions"][:3] == decisions
    assert groups["Channels"][0] == changelist("channels.channel")
    assert groups["Authentication and Authorization"] == [changelist("auth.user")]
    assert sorted(groups["Advanced"]) == sorted(changelist(label) for label in ADVANCED_MODELS)
    listed = [url for urls in groups.values() for url in urls]
    registered = [reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist") for m in admin.site._registry]
    assert sorted(listed) == sorted(registered), "every model stays reachable, once"


def test_it_keeps_each_apps_own_page_and_gives_advanced_no_link(client, operator):
    client.force_login(operator)
    index = client.get("/admin/").content.decode()
    assert '<span class="section">Advanced</span>' in index
    assert client.get("/admin/advanced/").status_code == 404
    assert list(index_groups(client.get("/admin/auth/").content.decode())) == ["Authentication and Authorization"]
    assert (
        changelist("auth.group")
        in index_groups(client.get("/admin/auth/").content.decode())["Authentication and Authorization"]
    )
    assert client.get("/admin/django_celery_beat/").status_code == 200
    page = client.get(changelist("channels.channel")).content.decode()
    assert 'class="app-channels module current-app"' in page, "the sidebar marks where we are"
    assert 'class="app-advanced module"' in page, "and not the group without a page"


def test_it_shows_a_limited_user_only_their_groups(client, db):
    user = get_user_model().objects.create_user("viewer", password=PASSWORD, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_channel", "view_group"]))
    client.force_login(user)
    groups = index_groups(client.get("/admin/").content.decode())
    assert groups == {"Channels": [changelist("channels.channel")], "Advanced": [changelist("auth.group")]}
