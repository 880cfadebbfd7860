"""factory_boy factories that read like the domain."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from backlog.models import BacklogEntry, Channel, EntryLine, ResolutionMethod, Stage, Team
from triage.models import Shift


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        # The roles hook only adds groups, which needs no second save.
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.test")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        for name in extracted:
            group, _ = Group.objects.get_or_create(name=name)
            self.groups.add(group)


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"channel-{n}")
    name = factory.LazyAttribute(lambda channel: channel.code.replace("-", " ").title())


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class EntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BacklogEntry

    source = "test"
    external_ref = factory.Sequence(lambda n: f"ORD-{n:05d}")
    channel = factory.SubFactory(ChannelFactory, code="web", name="Web shop")
    customer_name = factory.Sequence(lambda n: f"Customer {n}")
    customer_email = factory.Sequence(lambda n: f"customer{n}@example.test")
    ordered_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=30))
    detected_at = factory.LazyAttribute(lambda entry: entry.ordered_at)
    stage = Stage.AWAITING_HANDOVER


class EntryLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EntryLine

    entry = factory.SubFactory(EntryFactory)
    line_number = factory.Sequence(lambda n: n + 1)
    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    quantity = 1


class ShiftFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shift

    name = factory.Sequence(lambda n: f"Shift {n}")


def resolution_method(code: str = "expedite") -> ResolutionMethod:
    return ResolutionMethod.objects.get(code=code)
