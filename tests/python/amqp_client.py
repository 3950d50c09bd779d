"""Predictions over RabbitMQ with Python's `pika`, unchanged: the RPC pattern (a reply
queue, `reply_to`, `correlation_id`) against a Capstan model server's queue.

Usage:
  python3 amqp_client.py rpc AMQP_URL QUEUE CSV ROWS CONSUMERS [TOKEN]
      one single-row request per row, one batch of all rows, a request whose rows do not
      fit the model, a body that is not JSON and one without a token if TOKEN is given;
      prints every reply (content type, app_id, body) by correlation id and what the
      dead-letter queue `QUEUE.dead` holds.
  python3 amqp_client.py flood AMQP_URL QUEUE CSV REQUESTS CONSUMERS
      publishes REQUESTS single-row requests, writing `half` to stderr once half are out
      (the Rust test kills a model server then), and waits for every answer; prints how
      many distinct requests were answered, the duplicates, which server answered how
      many, and how many replies said they answered a redelivered request.

Both first wait until CONSUMERS model servers consume QUEUE.
"""

import csv
import json
import sys
import time

import pika


def rows_of(path, n):
    with open(path, newline="") as f:
        return [[float(v) for v in row[:-1]] for _, row in zip(range(n), list(csv.reader(f))[1:])]


def wait_for_consumers(connection, queue, consumers):
    deadline = time.time() + 60
    while time.time() < deadline:
        channel = connection.channel()
        try:
            declared = channel.queue_declare(queue, passive=True)
            if declared.method.consumer_count >= consumers:
                channel.close()
                return
            channel.close()
        except pika.exceptions.ChannelClosedByBroker:
            pass
        time.sleep(0.1)
    sys.exit(f"{consumers} consumers never attached to {queue}")


class Caller:
    def __init__(self, connection):
        self.channel = connection.channel()
        self.reply_queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.replies = []
        self.channel.basic_consume(self.reply_queue, self.on_reply, auto_ack=True)

    def on_reply(self, channel, method, properties, body):
        self.replies.append((properties, body))

    def send(self, queue, correlation_id, body, headers=None):
        self.channel.basic_publish(
            exchange="",
            routing_key=queue,
            properties=pika.BasicProperties(
                reply_to=self.reply_queue,
                correlation_id=correlation_id,
                content_type="application/json",
                headers=headers,
            ),
            body=body,
        )

    def wait(self, done, timeout=60):
        deadline = time.time() + timeout
        while not done() and time.time() < deadline:
            self.channel.connection.process_data_events(time_limit=0.1)


def rpc(url, queue, path, n, consumers, token):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    wait_for_consumers(connection, queue, consumers)
    caller = Caller(connection)
    auth = {"authorization": f"Bearer {token}"} if token else None
    rows = rows_of(path, n)
    expected = set()
    for i, row in enumerate(rows):
        caller.send(queue, f"row-{i}", json.dumps({"instances": [row]}), auth)
        expected.add(f"row-{i}")
    caller.send(queue, "batch", json.dumps({"instances": rows}), auth)
    caller.send(queue, "bad-shape", json.dumps({"instances": [[1.0, 2.0, 3.0]]}), auth)
    caller.send(queue, "malformed", b"this is not json", auth)
    expected |= {"batch", "bad-shape", "malformed"}
    if token:
        caller.send(queue, "no-token", json.dumps({"instances": [rows[0]]}))
        expected.add("no-token")
    caller.wait(lambda: {p.correlation_id for p, _ in caller.replies} >= expected)
    replies = {
        p.correlation_id: {
            "content_type": p.content_type,
            "app_id": p.app_id,
            "body": json.loads(body),
        }
        for p, body in caller.replies
    }
    dead = []
    channel = connection.channel()
    deadline = time.time() + 10
    while not dead and time.time() < deadline:
        method, properties, body = channel.basic_get(f"{queue}.dead", auto_ack=True)
        if method is None:
            time.sleep(0.1)
            continue
        deaths = (properties.headers or {}).get("x-death") or [{}]
        dead.append({
            "body": body.decode("utf-8", "replace"),
            "correlation_id": properties.correlation_id,
            "reason": str(deaths[0].get("reason", b""), "utf-8") if isinstance(deaths[0].get("reason"), bytes) else deaths[0].get("reason"),
        })
    connection.close()
    print(json.dumps({"replies": replies, "dead": dead}))


def flood(url, queue, path, requests, consumers):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    wait_for_consumers(connection, queue, consumers)
    caller = Caller(connection)
    row = rows_of(path, 1)[0]
    body = json.dumps({"instances": [row]})
    for i in range(requests):
        caller.send(queue, f"req-{i}", body)
        if i == requests // 2:
            caller.channel.connection.process_data_events(time_limit=0)
            print("half", file=sys.stderr, flush=True)
    caller.wait(lambda: len({p.correlation_id for p, _ in caller.replies}) >= requests, timeout=120)
    answered = {}
    by_server = {}
    redelivered = 0
    for properties, _ in caller.replies:
        answered[properties.correlation_id] = answered.get(properties.correlation_id, 0) + 1
        by_server[properties.app_id] = by_server.get(properties.app_id, 0) + 1
        if (properties.headers or {}).get("capstan-redelivered"):
            redelivered += 1
    connection.close()
    print(json.dumps({
        "answered": len(answered),
        "duplicates": sum(count - 1 for count in answered.values()),
        "by_server": by_server,
        "redelivered_replies": redelivered,
    }))


def main():
    mode, url, queue, path, n, consumers = sys.argv[1:7]
    if mode == "rpc":
        rpc(url, queue, path, int(n), int(consumers), sys.argv[7] if len(sys.argv) > 7 else None)
    else:
        flood(url, queue, path, int(n), int(consumers))


if __name__ == "__main__":
    main()
