from django.core.management.base import BaseCommand

from channels.demo import demo_seed


class Command(BaseCommand):
    help = "Seed a demo node with channels and a week of forwarding, unless our node already exists."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--channels", type=int, default=24, choices=range(1, 1001), metavar="1..1000")

    def handle(self, *args, seed: int, channels: int, **options):
        created = demo_seed(seed=seed, channel_count=channels)
        if created:
            self.stdout.write(f"Seeded {created} demo channels.")
        else:
            self.stdout.write("Our node already exists: no demo data added.")
