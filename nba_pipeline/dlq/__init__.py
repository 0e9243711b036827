"""Dead-letter queues: what Pub/Sub gave up on, listed, replayed or purged (docs/dlq.md).

`messages` says what a dead letter is, `queues` acts on a project's DLQs (`DeadLetterQueues`,
the Python API), `cli` is `nba-pipeline dlq`. Every read goes through the one scan,
`libs.common.pubsub.PullScan`.
"""

from nba_pipeline.dlq.messages import DlqMessage, MessageFilter
from nba_pipeline.dlq.queues import DeadLetterQueues, PurgeReport, ReplayReport

__all__ = ["DeadLetterQueues", "DlqMessage", "MessageFilter", "PurgeReport", "ReplayReport"]
