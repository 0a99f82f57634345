"""People: person days, the people snapshot of each day, and active users built from them."""
