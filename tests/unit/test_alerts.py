"""Gap alerts reach a local Slack-style webhook and a local SMTP server."""

from __future__ import annotations

import datetime as dt

from libs.common.settings import ScraperSettings
from services.scrapers.alerts import gap_text, send_alert
from tests.utils.receivers import smtp_server, webhook_receiver

GAP = {"scraper_name": "bdl_box_scores", "params_key": '{"date":"2025-01-15"}', "attempts": 4,
       "first_failed_at": dt.datetime(2025, 1, 16, 6, tzinfo=dt.UTC), "error_class": "UpstreamError",
       "error_message": "GET .../v1/box_scores answered 503"}  # fmt: skip


def test_alert_goes_to_slack_and_email_with_the_gap_named() -> None:
    with webhook_receiver() as (url, hooks), smtp_server() as (port, mails):
        settings = ScraperSettings(slack_webhook_url=url, smtp_host="127.0.0.1", smtp_port=port,
                                   alert_email_to=["ops@example.com"])  # fmt: skip
        assert send_alert(settings, "NBA pipeline gap", gap_text(GAP)) == ["slack", "email"]
    assert "bdl_box_scores" in hooks.items[0]["text"] and "failed 4 times" in hooks.items[0]["text"]
    (mail,) = mails.items
    assert mail.rcpt_tos == ["ops@example.com"]
    assert b"Subject: NBA pipeline gap" in mail.content and b"bdl_box_scores" in mail.content


def test_no_channel_configured_sends_nothing() -> None:
    assert send_alert(ScraperSettings(), "s", "t") == []


def test_a_failing_channel_does_not_stop_the_other() -> None:
    with smtp_server() as (port, mails):
        settings = ScraperSettings(slack_webhook_url="http://127.0.0.1:9/unreachable", smtp_host="127.0.0.1",
                                   smtp_port=port, alert_email_to=["ops@example.com"])  # fmt: skip
        assert send_alert(settings, "s", "text") == ["email"]
    assert len(mails.items) == 1
