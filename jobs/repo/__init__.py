"""What a repository says about itself: `.codexbot.toml`, how its tests are found and run, and the JUnit reports
they write.
"""
