"""An SMTP server for the tests (`aiosmtpd`): records each message it is
sent as a JSON line. Prints its port on the first line of standard output."""

import argparse
import json
import socket
import time
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

parser = argparse.ArgumentParser()
parser.add_argument("--record", required=True)
args = parser.parse_args()


class Handler:
    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with open(args.record, "a") as record:
            record.write(
                json.dumps(
                    {
                        "from": envelope.mail_from,
                        "to": envelope.rcpt_tos,
                        "subject": message["subject"],
                        "message_id": message["message-id"],
                        "body": message.get_content(),
                    }
                )
                + "\n"
            )
        return "250 OK"


with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
print(port, flush=True)
while True:
    time.sleep(3600)
