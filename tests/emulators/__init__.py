"""Stand-ins for GitHub and the OpenAI API: real HTTP servers on 127.0.0.1 for the real clients."""
