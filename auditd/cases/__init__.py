"""Investigation cases (事案): alerts gathered for follow-up, their disposition and evidence export."""
