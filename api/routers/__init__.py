"""One router per resource: health, features, admin."""
