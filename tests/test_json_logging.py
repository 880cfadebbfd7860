"""Production log lines are JSON objects with the message and any extra fields."""

import json
import logging

from config.logging import JsonFormatter


def test_json_formatter_keeps_message_and_extra():
    record = logging.makeLogRecord(
        {"name": "triage.sweep", "levelname": "INFO", "msg": "Swept %d entries", "args": (3,), "entry_id": 7}
    )

    line = json.loads(JsonFormatter().format(record))

    assert line["message"] == "Swept 3 entries"
    assert line["logger"] == "triage.sweep"
    assert line["entry_id"] == 7
    assert "args" not in line
