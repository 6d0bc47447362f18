"""Error pages are Daznode's, in its style, and say what to do: never Django's bare text."""

from django.contrib.auth import get_user_model


def test_it_answers_an_unknown_page_with_its_own_not_found_page(client, db):
    user = get_user_model().objects.create_user("nobody-404", password="nobody-password-1")
    client.force_login(user)
    response = client.get("/umbrel-ui/no-such-page")
    assert response.status_code == 404
    assert b"<h1>Not found</h1>" in response.content and b"dashboard.css" in response.content


def test_it_tells_a_user_without_a_role_what_roles_allow(client, db):
    user = get_user_model().objects.create_user("nobody-403", password="nobody-password-1")
    client.force_login(user)
    response = client.get("/umbrel-ui/dashboard")
    assert response.status_code == 403
    assert b"<h1>Not allowed</h1>" in response.content and b"Viewers read" in response.content


def test_it_leads_the_addresses_people_type_to_the_overview(client, db):
    for typed in ("/", "/dashboard/", "/umbrel-ui/", "/umbrel-ui/dashboard/"):
        response = client.get(typed)
        assert (response.status_code, response["Location"]) == (302, "/umbrel-ui/dashboard"), typed
