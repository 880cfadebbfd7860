"""Request types of the backlog views."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that passed django-htmx's middleware, so it carries `htmx`."""

    htmx: HtmxDetails
