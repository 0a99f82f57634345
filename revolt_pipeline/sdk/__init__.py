"""Python SDK for the revolt collector: Segment-style calls, batched and retried in the background.

Standard library only, so any application can embed it without pulling in the pipeline's dependencies.

    from revolt_pipeline.sdk import Client

    client = Client("my-write-key", "http://127.0.0.1:8088")
    client.track(user_id="u1", event="Signed Up", properties={"plan": "pro"})
    client.flush()
"""

from revolt_pipeline.sdk.client import MAX_MESSAGE_BYTES, Client
from revolt_pipeline.sdk.request import CollectorRejectedEvents, PermanentRejection, TransientFailure

__all__ = ["MAX_MESSAGE_BYTES", "Client", "CollectorRejectedEvents", "PermanentRejection", "TransientFailure"]
