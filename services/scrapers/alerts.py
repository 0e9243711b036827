"""Stale-gap alerts by Slack incoming webhook and SMTP email; both optional settings."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Any

import httpx

from libs.common.settings import ScraperSettings

log = logging.getLogger(__name__)


def gap_text(gap: dict[str, Any]) -> str:
    """One line a person can act on: which scrape, since when, why, and the fix."""
    return (
        f"NBA pipeline gap: {gap['scraper_name']} {gap['params_key']} has failed {gap['attempts']} times "
        f"since {gap['first_failed_at']:%Y-%m-%d %H:%M} UTC ({gap['error_class']}: {gap['error_message']}). "
        f"Backfill retries every 4 h; re-run by hand with POST /process."
    )


def send_alert(settings: ScraperSettings, subject: str, text: str) -> list[str]:
    """Send to every configured channel; returns the channels that accepted it."""
    sent = []
    webhook = settings.slack_webhook_url.get_secret_value()
    if webhook:
        try:
            httpx.post(webhook, json={"text": text}, timeout=10).raise_for_status()
            sent.append("slack")
        except httpx.HTTPError as exc:
            log.error("slack alert failed", extra={"fields": {"error": type(exc).__name__}})
    if settings.smtp_host and settings.alert_email_to:
        message = EmailMessage()
        message["Subject"], message["From"] = subject, settings.alert_email_from
        message["To"] = ", ".join(settings.alert_email_to)
        message.set_content(text)
        try:
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
                if settings.smtp_starttls:
                    smtp.starttls()
                if settings.smtp_username:
                    smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
                smtp.send_message(message)
            sent.append("email")
        except (OSError, smtplib.SMTPException) as exc:
            log.error("email alert failed", extra={"fields": {"error": type(exc).__name__}})
    return sent
