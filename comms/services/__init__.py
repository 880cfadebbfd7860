"""State changes of customer and staff communication: the outbox and in-app notifications."""
