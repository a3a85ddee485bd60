"""Pure: plan specs, calendar, evaluation, escalation policy, views. No I/O, no clock."""
