"""What codexbot remembers about runs: run records and logs in Redis, results, the archive, the schema version
and its migrations, and the queries behind pages and the API.
"""
