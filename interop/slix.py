#!/usr/bin/env python3
"""slixmpp side of the interop run: two clients log in to one server over STARTTLS with
SCRAM-SHA-1 (the certificate is checked against --ca), each binds a resource and fetches its
roster, then one of three scenarios (--mode):

- message: the first sends a chat message to the second, which must receive it;
- im: RFC 6121 between the two: a adds b and subscribes, b approves and subscribes back, a
  approves (each step checked on both sides through the roster pushes and presence the
  server sends), presence changes and messages to bare JIDs both ways, then a removes b
  (b must see the subscription cancelled both ways) and b removes a;
- sm: XEP-0198 with resumption (slixmpp's xep_0198 plugin) on the first: a message to b and
  its ack, a second message and at once the TCP connection aborted; b sends a message to a
  meanwhile; a reconnects and resumes (session_resumed, never a fresh session), sends a
  third; b must receive 1, 2, 3 and a b's message, each exactly once.

With --direct-tls both connect with direct TLS (XEP-0368) instead of STARTTLS: slixmpp's
xmpps-client connection, TLS from the first byte with the JID's domain as SNI (slixmpp
offers no ALPN), the certificate checked against --ca, and never STARTTLS or plaintext;
each prints `direct tls up (...)` and fails if TLS came up more than once.

Prints one line per step; exits 0 when every step happened, 1 otherwise (or on --timeout).
"""

import argparse
import asyncio
import sys

import slixmpp


class Client(slixmpp.ClientXMPP):
    def __init__(self, name, jid, password, ca, mech, sm=False, direct_tls=False):
        super().__init__(jid, password, sasl_mech=mech)
        self.name = name
        # Subscription requests are answered by the scenario, not by slixmpp's roster.
        self.auto_authorize = None
        self.auto_subscribe = False
        if sm:
            self.register_plugin("xep_0198")
            self.sm_enabled = asyncio.get_event_loop().create_future()
            self.add_event_handler("sm_enabled", self._on_sm_enabled)
            self.add_event_handler("session_resumed", self._on_resumed)
            self.add_event_handler("sm_failed", self._on_sm_failed)
        self.resumed = asyncio.get_event_loop().create_future()
        self.sessions = 0
        # What the server told us: roster pushes (jid -> (subscription, ask) or None when
        # removed) and presence stanzas (type, from bare JID, status).
        self.pushed = {}
        self.presences = []
        self.add_event_handler("roster_update", self._on_roster_update)
        self.add_event_handler("presence", self._on_presence)
        self.ca_certs = ca
        # STARTTLS on the given port only: no direct TLS, no plaintext fallback; or with
        # direct_tls, direct TLS only.
        self.direct_tls = direct_tls
        self.enable_direct_tls = direct_tls
        self.enable_starttls = not direct_tls
        self.enable_plaintext = False
        self.tls_ok = False
        self.tls_count = 0
        self.online = asyncio.get_event_loop().create_future()
        self.inbox = asyncio.Queue()
        self.add_event_handler("tls_success", self._on_tls)
        self.add_event_handler("session_start", self._on_session)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("message", self._on_message)
        self.add_event_handler("disconnected", self._on_disconnected)

    def say(self, what):
        print(f"{self.name}: {what}", flush=True)

    def _on_sm_enabled(self, _event):
        self.say("sm enabled")
        if not self.sm_enabled.done():
            self.sm_enabled.set_result(True)

    def _on_resumed(self, _event):
        self.say("resumed")
        if not self.resumed.done():
            self.resumed.set_result(True)

    def _on_sm_failed(self, _event):
        if not self.resumed.done():
            self.resumed.set_exception(RuntimeError(f"{self.name}: sm failed"))

    def _on_roster_update(self, iq):
        if iq["type"] != "set":
            return
        for jid, item in iq["roster"]["items"].items():
            sub = item["subscription"]
            state = None if sub == "remove" else (sub, item["ask"] == "subscribe")
            self.pushed[str(jid.bare)] = state
            self.say(f"roster push {jid.bare}: {state}")

    def _on_presence(self, pres):
        # slixmpp gives the <show/> as the type of available presence.
        ptype = pres["type"]
        if ptype in ("away", "chat", "dnd", "xa"):
            ptype = "available"
        entry = (ptype, str(pres["from"].bare), pres["status"])
        self.presences.append(entry)
        self.say(f"presence {entry}")

    def _on_tls(self, _event):
        self.tls_ok = True
        self.tls_count += 1
        self.say("tls ok")
        if self.direct_tls:
            ssl_object = self.transport.get_extra_info("ssl_object")
            alpn = ssl_object.selected_alpn_protocol() if ssl_object else None
            self.say(f"direct tls up ({ssl_object.version() if ssl_object else '?'}, ALPN {alpn})")

    def _fail(self, why):
        if not self.online.done():
            self.online.set_exception(RuntimeError(f"{self.name}: {why}"))

    def _on_failed_auth(self, _event):
        self._fail("sasl failure")

    def _on_disconnected(self, _event):
        self._fail("disconnected before session start")

    async def _on_session(self, _event):
        self.sessions += 1
        if self.sessions > 1:
            # A second session_start is a fresh login, not a resumption.
            if not self.resumed.done():
                self.resumed.set_exception(RuntimeError(f"{self.name}: new session, not resumed"))
            return
        try:
            self.say(f"bound {self.boundjid.full}")
            if not self.tls_ok:
                raise RuntimeError("session started without TLS")
            if self.direct_tls and self.tls_count != 1:
                raise RuntimeError(f"TLS came up {self.tls_count} times: STARTTLS after direct TLS")
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


async def until(what, cond, timeout=5.0):
    """Waits until cond() holds; fails the step after timeout seconds."""
    end = asyncio.get_event_loop().time() + timeout
    while not cond():
        if asyncio.get_event_loop().time() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    print(f"ok: {what}", flush=True)


async def receive(c, body, timeout=5.0):
    """Waits for a message with this body at c; returns it."""
    end = asyncio.get_event_loop().time() + timeout
    while True:
        left = end - asyncio.get_event_loop().time()
        if left <= 0:
            raise RuntimeError(f"{c.name}: no message {body!r}")
        msg = await asyncio.wait_for(c.inbox.get(), left)
        if msg["body"] == body:
            c.say(f"received {body!r} from {msg['from']}")
            return msg
        c.say(f"ignoring {msg['body']!r}")


async def run(args):
    sm = args.mode == "sm"
    direct = args.direct_tls
    a = Client("a", f"{args.user_a}/slix-a", args.password, args.ca, args.mech, sm=sm,
               direct_tls=direct)
    b = Client("b", f"{args.user_b}/slix-b", args.password, args.ca, args.mech,
               direct_tls=direct)
    for c in (a, b):
        c.connect(args.host, args.port)
    await asyncio.gather(a.online, b.online)
    if args.mode == "im":
        await im(a, b)
    elif sm:
        await stream_management(a, b, args)
    else:
        await message(a, b)
    for c in (a, b):
        c.disconnect()
    await asyncio.wait([a.disconnected, b.disconnected], timeout=3)
    print("ok", flush=True)


async def im(a, b):
    """RFC 6121 between a and b (see the module's doc)."""
    A, B = str(a.boundjid.bare), str(b.boundjid.bare)
    # a adds b and asks for its presence: the push says "none" with a request out (3.1.2),
    # b gets the request (3.1.3).
    await a.update_roster(B, name="Bob", groups=["interop"])
    await until("a's roster has b (push)", lambda: a.pushed.get(B, ("",))[0] == "none")
    a.send_presence_subscription(pto=B)
    await until("a's push: none + ask", lambda: a.pushed.get(B) == ("none", True))
    await until("b got a's subscribe", lambda: ("subscribe", A, "") in b.presences)
    # b approves: a's item becomes "to" (3.1.5/3.1.6), and a gets b's presence.
    b.send_presence(pto=A, ptype="subscribed")
    await until("a's push: to", lambda: a.pushed.get(B) == ("to", False))
    await until("b's push: from", lambda: b.pushed.get(A) == ("from", False))
    await until("a got b's subscribed", lambda: ("subscribed", B, "") in a.presences)
    await until("a got b's presence", lambda: ("available", B, "") in a.presences)
    # b subscribes back, a approves: both "both".
    b.send_presence_subscription(pto=A)
    await until("a got b's subscribe", lambda: ("subscribe", B, "") in a.presences)
    a.send_presence(pto=B, ptype="subscribed")
    await until("a's push: both", lambda: a.pushed.get(B) == ("both", False))
    await until("b's push: both", lambda: b.pushed.get(A) == ("both", False))
    await until("b got a's presence", lambda: ("available", A, "") in b.presences)
    # A presence change reaches the contact (4.4).
    a.send_presence(pstatus="busy with interop", pshow="dnd")
    await until("b got a's new status",
                lambda: ("available", A, "busy with interop") in b.presences)
    b.send_presence(pstatus="here too")
    await until("a got b's new status", lambda: ("available", B, "here too") in a.presences)
    # Messages to the bare JIDs (8.5.2.1.1: the most available resource).
    a.send_message(mto=B, mbody="hi b, from a", mtype="chat")
    await receive(b, "hi b, from a")
    b.send_message(mto=A, mbody="hi a, from b", mtype="chat")
    await receive(a, "hi a, from b")
    # a removes b (2.5.2): a's push removes it; b's subscription is cancelled both ways,
    # and b gets a's unavailable presence.
    mark = len(b.presences)
    await a.del_roster_item(B)
    await until("a's push: b removed", lambda: B in a.pushed and a.pushed[B] is None)
    await until("b got a's unsubscribe", lambda: ("unsubscribe", A, "") in b.presences[mark:])
    await until("b got a's unsubscribed",
                lambda: ("unsubscribed", A, "") in b.presences[mark:])
    await until("b's push: none", lambda: b.pushed.get(A) == ("none", False))
    await until("b got a's unavailable", lambda: ("unavailable", A, "") in b.presences[mark:])
    await b.del_roster_item(A)
    await until("b's push: a removed", lambda: A in b.pushed and b.pushed[A] is None)


async def message(a, b):
    text = "hello from slixmpp"
    a.send_message(mto=b.boundjid.full, mbody=text, mtype="chat")
    a.say(f"sent to {b.boundjid.full}")
    await receive(b, text, timeout=15)


async def stream_management(a, b, args):
    """XEP-0198 cut and resume (see the module's doc)."""
    await asyncio.wait_for(a.sm_enabled, 5)
    sm = a.plugin["xep_0198"]
    a.send_message(mto=b.boundjid.full, mbody="sm 1", mtype="chat")
    await receive(b, "sm 1")
    sm.request_ack()
    await until("the server acked message 1", lambda: len(sm.unacked_queue) == 0)
    full_a = a.boundjid.full
    a.send_message(mto=b.boundjid.full, mbody="sm 2", mtype="chat")
    # Let the send loop write it, then end the TCP connection under the stream: no
    # closing tag, no TLS close_notify.
    await asyncio.sleep(0.05)
    a.say(f"aborting the connection ({len(sm.unacked_queue)} unacked)")
    a.transport.abort()
    await asyncio.wait_for(a.disconnected, 5)
    b.send_message(mto=full_a, mbody="while a was away", mtype="chat")
    a.connect(args.host, args.port)
    await asyncio.wait_for(a.resumed, 10)
    if a.boundjid.full != full_a:
        raise RuntimeError(f"resumed as {a.boundjid.full}, not {full_a}")
    await receive(a, "while a was away")
    a.send_message(mto=b.boundjid.full, mbody="sm 3", mtype="chat")
    await receive(b, "sm 2")
    await receive(b, "sm 3")
    # Anything more would be a duplicate.
    await asyncio.sleep(1)
    for c in (a, b):
        while not c.inbox.empty():
            extra = c.inbox.get_nowait()
            raise RuntimeError(f"{c.name}: duplicate or unexpected {extra['body']!r}")


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
    p.add_argument("--mode", choices=("message", "im", "sm"), default="message")
    p.add_argument("--direct-tls", action="store_true",
                   help="direct TLS (XEP-0368) on --port instead of STARTTLS")
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
