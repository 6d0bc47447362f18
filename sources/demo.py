"""The simulated node as a data source, so that `make run` with no node configured shows the product working."""

import logging

from celery import signature
from django.db import connection, transaction

from auth_vault.models import Secret
from auth_vault.services import secret_store
from daznode import celery_app
from sources.health import HealthCheckManager
from sources.models import Source
from sources.snapshots import refresh_graph
from sources.tasks import after_new_snapshot

logger = logging.getLogger(__name__)


def other_lnd_source(name: str) -> Source | None:
    return Source.objects.filter(kind=Source.Kind.LND, enabled=True).exclude(name=name).first()


@transaction.atomic
def simulated_node_register(
    *, name: str, url: str, macaroon: bytes, cert_pem: bytes | None, actor: str = "simulate_lnd"
) -> Source:
    """Store the simulator's macaroon (new at every start) and certificate in the vault, and point a source at it."""
    credential = secret_store(name=f"{name}-macaroon", kind=Secret.Kind.MACAROON, value=macaroon, actor=actor)
    certificate = None
    if cert_pem:
        certificate = secret_store(name=f"{name}-tls", kind=Secret.Kind.TLS_CERT, value=cert_pem, actor=actor)
    source, _ = Source.objects.update_or_create(
        name=name,
        defaults={
            "kind": Source.Kind.LND,
            "url": url,
            "credential": credential,
            "tls_certificate": certificate,
            "enabled": True,
        },
    )
    return source


def simulated_node_warm_up(source_name: str) -> None:
    """A first health check, graph snapshot, analysis, channel sync and scores, once the simulator serves."""
    try:
        source = Source.objects.get(name=source_name)
        HealthCheckManager().check(source)
        result = refresh_graph(source_name=source_name, force=True)
        if result.error:
            logger.warning("demo: the first graph refresh failed: %s", result.error)
            return
        # The chain the refresh task enqueues (analyse, sync our channels, score them), run here at once.
        celery_app.loader.import_default_modules()
        after_new_snapshot(result.snapshot.id).apply()
        # And a first dry-run fee cycle, so that Decisions shows what Daznode would do with this node.
        signature("decisions.tasks.fee_cycle", kwargs={"mode": "dry_run", "sync": False}).apply()
    finally:
        connection.close()
