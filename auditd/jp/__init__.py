"""Japanese specifics: codes with check digits, the national holiday calendar, 和暦 dates, kana."""
