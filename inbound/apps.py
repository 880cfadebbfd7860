from django.apps import AppConfig


class InboundConfig(AppConfig):
    name = "inbound"
    label = "inbound"
    verbose_name = "Inbound customer contacts"
