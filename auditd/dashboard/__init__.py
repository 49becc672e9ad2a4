"""The security officer's dashboard: server-rendered Jinja2, Japanese first, no external assets."""
