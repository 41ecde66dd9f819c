"""What people see on the forge: the tracking comment, the check run or commit status, and the texts of commits,
pull requests and replies. Imports repo/ and below.
"""
