import logging

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request):
    """Liveness for load balancers and Docker: 200 when the database answers, 503 otherwise.

    Anonymous by design, so the body names the failing check and the kind of error, never connection details.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        logger.warning("healthz: database unreachable: %s", exc)
        body = {"status": "unavailable", "database": f"unreachable ({type(exc).__name__})"}
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
