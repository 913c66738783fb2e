#!/usr/bin/env python3
"""slixmpp as a client under test for `xmpp-conformance live client` (interop/run's live
client rows): one connection, STARTTLS with the certificate checked against --ca, SASL with
--mech, bind of --resource, and nothing else sent by the script; it stays until the runner
ends the stream or --timeout passes. One run per vector: interop/run starts it again while
the runner waits for connections. Exit status 0 when the session ended, 1 on timeout.
"""

import argparse
import asyncio
import sys

import slixmpp


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, mech):
        super().__init__(jid, password, sasl_mech=mech)
        self.done = asyncio.get_event_loop().create_future()
        self.add_event_handler("disconnected", self._on_end)
        self.add_event_handler("connection_failed", self._on_end)

    def _on_end(self, _event):
        if not self.done.done():
            self.done.set_result(True)


async def run(args):
    c = Client(f"{args.jid}/{args.resource}", args.password, args.mech)
    c.ca_certs = args.ca
    c.enable_direct_tls = False
    c.enable_plaintext = False
    c.enable_starttls = True
    c.connect(args.host, args.port)
    try:
        await asyncio.wait_for(c.done, args.timeout)
        return 0
    except asyncio.TimeoutError:
        c.disconnect()
        return 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--jid", default="alice@localhost")
    p.add_argument("--resource", default="interop")
    p.add_argument("--password", default="secret")
    p.add_argument("--mech", default="PLAIN")
    p.add_argument("--timeout", type=float, default=6)
    args = p.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
