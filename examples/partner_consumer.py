"""A partner's consumer of an Agora event stream: plain pika + the official CloudEvents SDK.

    pip install pika cloudevents
    python partner_consumer.py "$AMQP_URI" "$QUEUE"          # both printed by `agora partners grant …`

Each message is a CloudEvent in structured mode (content type application/cloudevents+json). Delivery is
at-least-once: skip what you have seen (the ``sequence`` grows with every event; ``id`` is unique). After an outage,
catch up with the replay endpoint (``GET /api/v1/partners/<you>/events?after=<last sequence>``), then consume.
"""
import argparse
import json

import pika
from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_rabbitmq_event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("amqp_uri")
    parser.add_argument("queue")
    parser.add_argument("--max", type=int, default=0, help="stop after this many events (0: run forever)")
    args = parser.parse_args()

    last_sequence = ""                       # keep this in your own database, with what you did with the event
    seen = 0
    connection = pika.BlockingConnection(pika.URLParameters(args.amqp_uri))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=100)
    for method, properties, body in channel.consume(args.queue):
        event = from_rabbitmq_event(RabbitMQMessage(
            headers=dict(properties.headers or {}), content_type=properties.content_type, body=body))
        sequence = event.get_extension("sequence")
        if sequence > last_sequence:         # 20-digit strings: text order is position order
            print(json.dumps({"sequence": sequence, "type": event.get_type(), "tenant": event.get_extension("tenant"),
                              "subject": event.get_subject(), "data": event.get_data()}, ensure_ascii=False),
                  flush=True)
            last_sequence = sequence
        channel.basic_ack(method.delivery_tag)
        seen += 1
        if args.max and seen >= args.max:
            break
    channel.cancel()
    connection.close()


if __name__ == "__main__":
    main()
