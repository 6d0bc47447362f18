from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from daznode import views

HEALTHZ_PATH = "/healthz"


class HealthzMiddleware:
    """Answers /healthz before any middleware validates the Host header.

    Docker, Caddy and load balancers probe by address or by a container name that ALLOWED_HOSTS rightly does not
    list; Django's host check (CommonMiddleware, the CSRF check) would answer them 400 and keep the stack unhealthy.
    The probe reveals nothing a host name should guard, so it is the one path served for any Host.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTHZ_PATH:
            return views.healthz(request)
        return self.get_response(request)
