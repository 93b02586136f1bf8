"""``neon-theory bench``: the toolkit's estimators against the official one, side by side."""
