"""Privacy at the door: 個人番号 masking, keyed pseudonyms for residents, an encrypted vault for display."""
