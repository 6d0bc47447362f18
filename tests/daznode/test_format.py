"""The template filters every page uses to show numbers to people."""

from datetime import timedelta

from django.template import Context, Template
from django.utils import timezone

from channels.models import Node


def render(text: str, **context) -> str:
    return Template("{% load daznode_format %}" + text).render(Context(context))


def test_it_shows_sats_and_msat_with_thousands_separators():
    assert render("{{ v|sats }}", v=1234567) == "1,234,567 sat"
    assert render("{{ v|msat_as_sats }}", v=1_234_999) == "1,234 sat"
    assert render("{{ v|msat }}", v=500) == "500 msat"
    assert render("{{ v|ppm }}", v=2500) == "2,500 ppm"


def test_it_shows_an_unknown_figure_as_a_dash_never_as_zero():
    for name in ("sats", "msat", "msat_as_sats", "ppm", "percent", "score", "when", "node_label"):
        assert render(f"{{{{ v|{name} }}}}", v=None) == "—", name


def test_it_shows_shares_as_percentages_and_scores_to_two_decimals():
    assert render("{{ v|percent }}", v=0.4567) == "46 %"
    assert render("{{ v|percent:1 }}", v=0.4567) == "45.7 %"
    assert render("{{ v|score }}", v=0.6964999999999999) == "0.70"


def test_it_shows_times_relative_with_the_absolute_time_on_hover():
    now = timezone.now()
    assert ">just now<span" in render("{{ v|when }}", v=now)
    earlier = now - timedelta(hours=3, minutes=5)
    three_hours = render("{{ v|when }}", v=earlier)
    local = timezone.localtime(earlier)
    assert ">3 hours ago<span" in three_hours and f'title="{local:%Y-%m-%d %H:%M:%S}' in three_hours
    assert f" · {local.day} {local:%b %H:%M}</span></time>" in three_hours, "the absolute time is visible too"
    assert ">in 2 days<span" in render("{{ v|when }}", v=now + timedelta(days=2, hours=1))


def test_it_names_a_node_by_alias_with_its_pubkey_on_hover_and_escapes_it():
    pubkey = "02" + "ab" * 32
    shown = render("{{ v|node_label }}", v=Node(pubkey=pubkey, alias="<b>bold</b>"))
    assert f'title="{pubkey}"' in shown and "&lt;b&gt;bold&lt;/b&gt;" in shown
    assert render("{{ v|node_label }}", v=Node(pubkey=pubkey, alias="")).endswith(f">{pubkey[:12]}…</span>")
