"""Alerts by Slack incoming webhook and SMTP email (both optional settings), one per condition
until it changes or clears.

A condition is a row of `nba_orchestration.alerts`, so neither a restart nor another instance
sends it twice (docs/operations.md has the runbook of each):

- `gaps:<scraper>`: open gaps on at least GAP_ALERT_DAYS of the last GAP_ALERT_WINDOW_DAYS days,
  evaluated by every `/backfill-gaps`; a new gap day alerts again.
- `run_failed:<scraper>` (critical): a scheduled run failed after its retries, sent by the run
  itself; another error class alerts again; it clears when a run of the scraper works.
- `dead_letters:<subscription>` (critical): messages wait in a dead-letter queue, checked by
  `/check-dead-letters` every 5 minutes; each order of magnitude (1, 10, 100...) alerts again,
  and it clears when the queue is empty.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from libs.common.audit import final_runs
from libs.common.clock import EASTERN, Clock
from libs.common.messages import ScraperComplete
from libs.common.warehouse.base import Row, Warehouse
from services.scrapers.failures import params_key
from services.scrapers.settings import ScraperSettings
from services.scrapers.tables import ALERTS

log = logging.getLogger(__name__)

GAPS, RUN_FAILED, DEAD_LETTERS = "gaps", "run_failed", "dead_letters"
"""The kinds of condition (`alerts.kind`)."""


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


def channels_configured(settings: ScraperSettings) -> bool:
    """Whether any channel is set up (without one, an alert is only logged)."""
    return bool(settings.slack_webhook_url.get_secret_value()) or bool(
        settings.smtp_host and settings.alert_email_to
    )


@dataclass(frozen=True)
class Condition:
    """Something an operator must hear about once: what it is, what to say, the facts it names."""

    kind: str
    name: str
    subject: str
    text: str
    facts: tuple[str, ...]
    """An alert goes out again only when a fact is not among those already sent."""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


def utc(moment: dt.datetime) -> dt.datetime:
    """A warehouse timestamp as aware UTC (a naive one is UTC)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def gap_day(gap: Row) -> dt.date:
    """The day a gap leaves without data: its game date, or the (Eastern) day an undated
    scrape first failed."""
    day: dt.date = gap["game_date"] or utc(gap["first_failed_at"]).astimezone(EASTERN).date()
    return day


def gap_conditions(
    gaps: Iterable[Row], today: dt.date, min_days: int, window: int
) -> list[Condition]:
    """The operators' rule: a scraper with open gaps on at least `min_days` of the `window`
    days ending `today`, with its gap count, oldest gap and last error."""
    first = today - dt.timedelta(days=window - 1)
    recent: dict[str, list[Row]] = {}
    for gap in gaps:
        if first <= gap_day(gap) <= today:
            recent.setdefault(gap["scraper_name"], []).append(gap)
    return [
        gap_condition(name, rows, window)
        for name, rows in sorted(recent.items())
        if len({gap_day(gap) for gap in rows}) >= min_days
    ]


def gap_condition(scraper: str, gaps: list[Row], window: int) -> Condition:
    """One scraper's gap alert."""
    days = sorted({gap_day(gap) for gap in gaps})
    oldest = min(gaps, key=lambda gap: (gap_day(gap), utc(gap["first_failed_at"])))
    last = max(gaps, key=lambda gap: utc(gap["last_failed_at"] or gap["first_failed_at"]))
    lost = [gap for gap in gaps if gap["unrecoverable"]]
    text = (f"NBA pipeline gaps: {scraper} has open gaps on {len(days)} of the last {window} days "
            f"({', '.join(map(str, days))}): {len(gaps)} gaps; the oldest, {oldest['params_key']}, "
            f"failing since {utc(oldest['first_failed_at']):%Y-%m-%d %H:%M} UTC; last error "
            f"({utc(last['last_failed_at'] or last['first_failed_at']):%Y-%m-%d %H:%M} UTC): "
            f"{last['error_message'] or last['error_class']}.")  # fmt: skip
    if lost:
        text += f" {len(lost)} of them cannot be re-run: {lost[0]['unrecoverable']}."
    text += (" /backfill-gaps re-runs the others every 4 h; once the cause is fixed, "
             "POST /backfill-gaps; a gap no run can fill: `nba-pipeline gaps list`, then "
             "`nba-pipeline gaps dismiss FAILURE_ID --reason ...` (docs/operations.md, "
             "'Gap alert').")  # fmt: skip
    subject = f"NBA pipeline gaps: {scraper} on {len(days)} of the last {window} days"
    return Condition(GAPS, scraper, subject, text, tuple(map(str, days)))


def run_failed_condition(message: ScraperComplete, error_class: str | None) -> Condition:
    """The critical alert of a scheduled run that failed after its retries."""
    scraper, error = message.scraper_name, error_class or "Error"
    text = (f"NBA pipeline CRITICAL: {scraper} failed on a scheduled run after its retries "
            f"(workflow {message.workflow}, params {params_key(message.params)}, run "
            f"{message.execution_id}): {message.error_message}. The scrape is a gap that "
            f"/backfill-gaps re-runs every 4 h. No other alert for {scraper} failing with {error} "
            "until a run of it works (docs/operations.md, 'Critical alert').")  # fmt: skip
    return Condition(RUN_FAILED, scraper, f"NBA pipeline CRITICAL: {scraper} failing ({error})",
                     text, (error,))  # fmt: skip


def dead_letter_conditions(depths: Mapping[str, int | None]) -> list[Condition]:
    """The critical alert of each dead-letter subscription holding messages."""
    conditions = []
    for subscription, depth in sorted(depths.items()):
        if not depth:
            continue
        floor = 10 ** (len(str(depth)) - 1)
        text = (f"NBA pipeline CRITICAL: {depth} messages wait in dead-letter subscription "
                f"{subscription}: Pub/Sub gave up pushing them. `nba-pipeline dlq list` shows "
                "them with the reason; fix the cause, then `nba-pipeline dlq replay` (docs/dlq.md). "
                f"Alerts again at {floor * 10} messages, or once it has been empty.")  # fmt: skip
        subject = f"NBA pipeline CRITICAL: {depth} dead-lettered messages in {subscription}"
        conditions.append(Condition(DEAD_LETTERS, subscription, subject, text, (str(floor),)))
    return conditions


def recovered_since(warehouse: Warehouse, scraper_name: str, since: dt.datetime) -> bool:
    """Whether a run of the scraper that started after `since` worked."""
    rows = warehouse.query(
        f"SELECT count(*) AS n FROM {final_runs('scraper_name = @s AND started_at > @t')} "
        "WHERE status <> 'failed'",
        {"s": scraper_name, "t": since},
    )
    return int(rows[0]["n"]) > 0


def _json_list(value: Any) -> list[str]:
    """A JSON array column as a list (DuckDB returns JSON as text)."""
    decoded = json.loads(value) if isinstance(value, str) else value
    return list(decoded or [])


@dataclass
class Reconciled:
    """What one evaluation of a kind of condition did."""

    sent: list[dict[str, Any]]
    """`{"alert_key", "channels"}` of each alert sent."""
    cleared: list[str]
    """Keys of the conditions that no longer hold."""


class AlertBook:
    """Sends each condition once, until it names a new fact or clears, and records it.

    Reads happen only where something may be alerted (a failed scheduled run, a backfill pass,
    a dead-letter check), never for a run that worked. Within one process a lock makes each
    decision once; two instances deciding the same condition at the same instant could both
    send (the scheduler calls one instance per job, and a workflow's runs happen on the one
    instance that claimed its attempt, so this needs two failures of one scraper at once on
    two instances). With channels configured but none accepting, nothing is recorded and the
    next evaluation tries again.
    """

    def __init__(self, settings: ScraperSettings, warehouse: Warehouse, clock: Clock) -> None:
        self.settings, self.warehouse, self.clock = settings, warehouse, clock
        self.max_age = dt.timedelta(seconds=settings.state_max_age_seconds)
        self._lock = threading.Lock()
        self._known: dict[str, tuple[frozenset[str], dt.datetime]] = {}
        """run_failed facts this process recorded or read, so a burst of failures (one scraper
        fanned out over 30 teams) reads the warehouse once."""

    def active(self, kind: str) -> dict[str, Row]:
        """The recorded conditions of a kind that have not cleared, by key."""
        rows = self.warehouse.query(
            "SELECT * FROM {nba_orchestration.alerts} WHERE kind = @k AND cleared_at IS NULL",
            {"k": kind},
        )
        return {row["alert_key"]: row | {"facts": _json_list(row["facts"]),
                                         "channels": _json_list(row["channels"])} for row in rows}  # fmt: skip

    def _send(self, condition: Condition, record: Row | None) -> Row | None:
        """Alert if the condition is new or names a new fact; the row to record, if it went."""
        known = set(record["facts"]) if record else set()
        if record is not None and known.issuperset(condition.facts):
            return None
        log.warning("alert", extra={"fields": {"alert_key": condition.key, "text": condition.text}})
        channels = send_alert(self.settings, condition.subject, condition.text)
        if not channels and channels_configured(self.settings):
            return None
        now = self.clock.now()
        return {"alert_key": condition.key, "kind": condition.kind, "facts": sorted(known | set(condition.facts)),
                "subject": condition.subject, "text": condition.text, "channels": channels,
                "first_alerted_at": record["first_alerted_at"] if record else now,
                "alerted_at": now, "cleared_at": None}  # fmt: skip

    def reconcile(
        self, kind: str, holding: list[Condition], unknown: Collection[str] = ()
    ) -> Reconciled:
        """Alert each condition of `kind` that holds and is new or names a new fact; clear the
        recorded ones that no longer hold, except `unknown` keys (their state could not be read)."""
        with self._lock:
            records = self.active(kind)
            rows = [row for c in holding if (row := self._send(c, records.get(c.key)))]
            still = {c.key for c in holding} | set(unknown)
            cleared = sorted(key for key in records if key not in still)
            now = self.clock.now()
            rows += [records[key] | {"cleared_at": now} for key in cleared]
            if rows:
                self.warehouse.upsert(ALERTS, rows)
        sent = [{"alert_key": row["alert_key"], "channels": row["channels"]}
                for row in rows if row["cleared_at"] is None]  # fmt: skip
        return Reconciled(sent, cleared)

    def run_failed(self, message: ScraperComplete, error_class: str | None) -> list[str]:
        """Critical alert of a failed scheduled run, once per scraper and error class until a
        run of the scraper works; returns the channels that took it. The run is recorded
        already, so a failure here is logged, never raised into it."""
        try:
            return self._run_failed(message, error_class)
        except Exception:
            log.exception("critical alert not evaluated", extra={"fields": {
                "scraper_name": message.scraper_name, "execution_id": message.execution_id}})  # fmt: skip
            return []

    def _run_failed(self, message: ScraperComplete, error_class: str | None) -> list[str]:
        condition = run_failed_condition(message, error_class)
        with self._lock:
            now = self.clock.now()
            facts, seen = self._known.get(condition.key, (frozenset(), now - self.max_age))
            if dt.timedelta(0) <= now - seen < self.max_age and facts.issuperset(condition.facts):
                return []
            record = self.active(RUN_FAILED).get(condition.key)
            if record is not None and recovered_since(
                self.warehouse, message.scraper_name, record["alerted_at"]
            ):
                record = None  # it cleared in between: a new condition, recorded over the old
            row = self._send(condition, record)
            if row is not None:
                self.warehouse.upsert(ALERTS, [row])
            if (current := row or record) is not None:
                self._known[condition.key] = (frozenset(current["facts"]), now)
        return row["channels"] if row else []

    def recovered(self, scraper_name: str) -> None:
        """A run of the scraper worked: forget what this process knew of its failure alert (its
        record clears when the next failure finds the run). No lock: the event loop calls it."""
        self._known.pop(f"{RUN_FAILED}:{scraper_name}", None)
