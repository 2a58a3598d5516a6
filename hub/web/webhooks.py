"""``POST /webhooks/<connector>/<webhook key>`` (channels) and
``POST /webhooks/carriers/<carrier>/<webhook key>`` (carriers' tracking updates): the signature
is checked over the raw body before anything is stored, the body goes to the inbox
(deduplicated by the sender's event id), the answer goes back, and it is processed after."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from hub.app import current_hub
from hub.inbox import process_event, receive_webhook

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
MAX_BODY = 5 * 1024 * 1024


@bp.post("/<connector>/<key>")
@bp.post("/carriers/<connector>/<key>")
def receive(connector: str, key: str) -> tuple[Response, int]:
    hub = current_hub()
    if (request.content_length or 0) > MAX_BODY:
        return jsonify({"error": "body too large"}), 413
    body = request.get_data(cache=False)
    received = receive_webhook(hub.db, hub.box, connector, key, request.headers, body)
    if received.event_id is not None:
        hub.dispatcher.submit(process_event, hub.db, hub.box, hub.settings.public_url, received.event_id)
    return jsonify({"status": received.message}), received.status
