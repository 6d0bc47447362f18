from django.core.management.base import BaseCommand, CommandError

from channels.services import NothingToScore, channels_score


class Command(BaseCommand):
    help = "Score every open channel with the eight heuristics and store the scores (the history is kept)."

    def handle(self, *args, **options):
        try:
            scores = channels_score()
        except NothingToScore as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{'channel':<20} {'peer':<24} {'total':>6}  weakest heuristic")
        for score in sorted(scores, key=lambda s: s.total_score):
            weakest = min(score.sub_scores().items(), key=lambda item: item[1])
            peer = score.channel.peer.alias or score.channel.peer.pubkey[:16]
            self.stdout.write(
                f"{score.channel.chan_id:<20} {peer[:24]:<24} {score.total_score:6.3f}  "
                f"{weakest[0]} {weakest[1]:.2f}: {score.reasons.get(weakest[0], '')}"
            )
