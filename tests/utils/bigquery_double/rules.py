"""BigQuery's documented rules the double enforces: limits, and the errors BigQuery raises.

Each error is the `google.api_core.exceptions` type the real client raises (the HTTP status
BigQuery answers with) and BigQuery's own message, so code written against the double
handles what production will see. Sources, by rule:

1. Transaction concurrency. https://cloud.google.com/bigquery/docs/transactions
   ("Transaction concurrency"): "If a transaction mutates (update or deletes) rows in a table,
   then other transactions or DML statements that mutate rows in the same table cannot run
   concurrently. Conflicting transactions are cancelled. Conflicting DML statements that run
   outside of a transaction are queued to run later, subject to queuing limits."
   Error string, https://cloud.google.com/bigquery/docs/troubleshoot-queries ("Transaction
   aborted due to concurrent update"): "Transaction is aborted due to concurrent update
   against table [table_name]" (400).
2. Mutating DML queue. https://cloud.google.com/bigquery/docs/data-manipulation-language
   ("UPDATE, DELETE, MERGE DML concurrency"): BigQuery runs up to 2 mutating DML statements
   of a table concurrently, queues up to 20 more as PENDING, and "additional statements past
   the maximum queue length for each table fail". Error string (troubleshoot-queries, "Too
   many DML statements"): "Too many DML statements outstanding against <table-name>, limit is
   20"; as answered by the API (m-lab/etl-gardener#293): "Error 400: Resources exceeded during
   query execution: Too many DML statements outstanding against table p:d.t, limit is 20,
   resourcesExceeded".
3. MERGE source matches. https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax
   : "If a row in the table to be updated joins with more than one row from the FROM clause,
   then the query generates the following runtime error: UPDATE/MERGE must match at most one
   source row for each target row." (400)
4. Streaming buffer. https://cloud.google.com/bigquery/docs/data-manipulation-language
   ("Limitations"): "Rows that were recently written using the tabledata.insertall streaming
   method can't be modified with data manipulation language (DML), such as UPDATE, DELETE,
   MERGE, or TRUNCATE statements. The recent writes are those that occurred within the last
   30 minutes." Error string (dora-team/fourkeys#415): "UPDATE or DELETE statement over table
   p.d.t would affect rows in the streaming buffer, which is not supported" (400).

5. Request size. https://cloud.google.com/bigquery/quotas (query jobs, "Maximum request
   size"): "The request size can be up to 10 MB, including additional properties like query
   parameters" (as quoted in googleapis/google-cloud-ruby#31568). Error string, as the API
   answers it (googleapis/google-cloud-go#2855, apache/beam#18660): 400 "Request payload size
   exceeds the limit: 10485760 bytes." (far past it, the front end answers 413 instead).
6. Temporary tables. https://cloud.google.com/bigquery/docs/multi-statement-queries
   ("Temporary tables"): a `CREATE TEMP TABLE` belongs to a multi-statement query (or a
   session) and lasts until it ends; its name takes no dataset. Error string for one outside a
   script (viant/bigquery#6): "Use of CREATE TEMPORARY TABLE requires a script or session".

Also: "The WHERE keyword is mandatory for any DELETE statement" (and UPDATE), dml-syntax; a
statement BigQuery cannot parse fails with 400 "Syntax error: ...".
"""

from __future__ import annotations

import datetime as dt

from google.api_core.exceptions import BadRequest, Conflict, NotFound

MUTATING_DML_RUNNING = 2
"""Mutating DML statements of one table BigQuery runs at once (outside transactions)."""

MUTATING_DML_QUEUE = 20
"""Mutating DML statements of one table that may wait (PENDING) behind the running ones."""

MAX_REQUEST_BYTES = 10_485_760
"""Bytes of a request's body, query text and parameters included (rule 5)."""

STREAMING_BUFFER = dt.timedelta(minutes=30)
"""How long rows streamed with insertAll stay out of reach of DML."""

CLUSTERING_FIELDS = 4
"""Clustering columns a table may have (https://cloud.google.com/bigquery/docs/clustered-tables)."""

PARTITION_TYPES = frozenset({"DATE", "TIMESTAMP", "DATETIME"})
"""Column types a table can be time-partitioned by
(https://cloud.google.com/bigquery/docs/partitioned-tables)."""


def _bad_request(message: str, reason: str = "invalidQuery") -> BadRequest:
    return BadRequest(message, errors=[{"reason": reason, "message": message}])


def concurrent_update(table_id: str, transaction_id: str) -> BadRequest:
    """Rule 1: a transaction mutated a table another running transaction or DML mutates."""
    return _bad_request(
        f"Transaction is aborted due to concurrent update against table {table_id}. "
        f"Transaction ID: {transaction_id}"
    )


def too_many_dml(table_id: str) -> BadRequest:
    """Rule 2: a mutating DML statement past the table's queue."""
    project, _, rest = table_id.partition(".")
    return _bad_request(
        "Resources exceeded during query execution: Too many DML statements outstanding "
        f"against table {project}:{rest}, limit is {MUTATING_DML_QUEUE}",
        reason="resourcesExceeded",
    )


def merge_matches_many() -> BadRequest:
    """Rule 3: a target row joined more than one source row."""
    return _bad_request("UPDATE/MERGE must match at most one source row for each target row")


def streaming_buffer(table_id: str) -> BadRequest:
    """Rule 4: DML would change rows streamed less than `STREAMING_BUFFER` ago."""
    return _bad_request(
        f"UPDATE or DELETE statement over table {table_id} would affect rows in the "
        "streaming buffer, which is not supported"
    )


def request_too_large() -> BadRequest:
    """Rule 5: a request's body past `MAX_REQUEST_BYTES`."""
    return _bad_request(
        f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes.", reason="badRequest"
    )


def temporary_table_outside_script() -> BadRequest:
    """Rule 6: a temporary table created by a request that is not a script."""
    return invalid("Use of CREATE TEMPORARY TABLE requires a script or session")


def syntax_error(detail: str) -> BadRequest:
    return _bad_request(f"Syntax error: {detail}")


def invalid(message: str) -> BadRequest:
    return _bad_request(message, reason="invalid")


def table_not_found(table_id: str, location: str) -> NotFound:
    project, _, rest = table_id.partition(".")
    message = f"Not found: Table {project}:{rest} was not found in location {location}"
    return NotFound(message, errors=[{"reason": "notFound", "message": message}])


def dataset_not_found(dataset_id: str) -> NotFound:
    project, _, dataset = dataset_id.partition(".")
    message = f"Not found: Dataset {project}:{dataset}"
    return NotFound(message, errors=[{"reason": "notFound", "message": message}])


def already_exists(kind: str, resource_id: str) -> Conflict:
    project, _, rest = resource_id.partition(".")
    message = f"Already Exists: {kind} {project}:{rest}"
    return Conflict(message, errors=[{"reason": "duplicate", "message": message}])
