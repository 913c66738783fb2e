#!/usr/bin/env python3
"""slixmpp side of the interop run: two clients log in to one server over STARTTLS with
SCRAM-SHA-1 (the certificate is checked against --ca), each binds a resource and fetches its
roster, the first sends a chat message to the second, and the second must receive it.

Prints one line per step; exits 0 when every step happened, 1 otherwise (or on --timeout).
"""

import argparse
import asyncio
import sys

import slixmpp


class Client(slixmpp.ClientXMPP):
    def __init__(self, name, jid, password, ca, mech):
        super().__init__(jid, password, sasl_mech=mech)
        self.name = name
        self.ca_certs = ca
        # STARTTLS on the given port only: no direct TLS, no plaintext fallback.
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        self.tls_ok = False
        self.online = asyncio.get_event_loop().create_future()
        self.inbox = asyncio.Queue()
        self.add_event_handler("tls_success", self._on_tls)
        self.add_event_handler("session_start", self._on_session)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("message", self._on_message)
        self.add_event_handler("disconnected", self._on_disconnected)

    def say(self, what):
        print(f"{self.name}: {what}", flush=True)

    def _on_tls(self, _event):
        self.tls_ok = True
        self.say("tls ok")

    def _fail(self, why):
        if not self.online.done():
            self.online.set_exception(RuntimeError(f"{self.name}: {why}"))

    def _on_failed_auth(self, _event):
        self._fail("sasl failure")

    def _on_disconnected(self, _event):
        self._fail("disconnected before session start")

    async def _on_session(self, _event):
        try:
            self.say(f"bound {self.boundjid.full}")
            if not self.tls_ok:
                raise RuntimeError("session started without TLS")
            await self.get_roster(timeout=10)
            self.say(f"roster ok ({len(self.client_roster)} items)")
            self.send_presence()
            if not self.online.done():
                self.online.set_result(True)
        except Exception as exc:  # noqa: BLE001 - report any failure as a failed step
            self._fail(f"{type(exc).__name__}: {exc}")

    def _on_message(self, msg):
        if msg["type"] in ("chat", "normal"):
            self.inbox.put_nowait(msg)


async def run(args):
    a = Client("a", f"{args.user_a}/slix-a", args.password, args.ca, args.mech)
    b = Client("b", f"{args.user_b}/slix-b", args.password, args.ca, args.mech)
    for c in (a, b):
        c.connect(args.host, args.port)
    await asyncio.gather(a.online, b.online)
    text = "hello from slixmpp"
    a.send_message(mto=b.boundjid.full, mbody=text, mtype="chat")
    a.say(f"sent to {b.boundjid.full}")
    while True:
        msg = await b.inbox.get()
        if msg["body"] == text:
            break
        b.say(f"ignoring {msg}")
    b.say(f"received from {msg['from']}: {msg['body']}")
    for c in (a, b):
        c.disconnect()
    await asyncio.wait([a.disconnected, b.disconnected], timeout=3)
    print("ok", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5222)
    p.add_argument("--ca", required=True)
    p.add_argument("--user-a", default="alice@localhost")
    p.add_argument("--user-b", default="bob@localhost")
    p.add_argument("--password", default="secret")
    p.add_argument("--mech", default="SCRAM-SHA-1")
    p.add_argument("--timeout", type=float, default=20)
    args = p.parse_args()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    rc = 0
    try:
        loop.run_until_complete(asyncio.wait_for(run(args), args.timeout))
    except asyncio.TimeoutError:
        print(f"FAIL: timed out after {args.timeout}s", flush=True)
        rc = 1
    except Exception as exc:  # noqa: BLE001
        print(f"FAIL: {exc}", flush=True)
        rc = 1
    # Let slixmpp's own background tasks finish cancelling before the loop goes away.
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
