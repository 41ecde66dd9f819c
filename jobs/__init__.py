"""codexbot's back room: task types, intake, and (in the worker) everything slow. Never imports Flask or bot/."""
