"""A race for the forge adapters' tests: another attempt opens the request right after a look-up found none."""


class RaceAfterLookup:
    """Mix in before a forge class; `racer` (a callable) runs once, just after find_pull_request."""

    racer = None

    def find_pull_request(self, head_branch):
        found = super().find_pull_request(head_branch)
        if self.racer is not None:
            self.racer, racer = None, self.racer
            racer()
        return found
