// xmpp.js (@xmpp/client, a third-party WebSocket client) against our server example over
// XMPP over WebSocket (RFC 7395), for interop/run: alice and bob each connect to URL
// (ws: or wss:; for wss: the test CA comes in NODE_EXTRA_CA_CERTS), authenticate with SASL and bind a resource; alice
// sends bob a message, bob answers it, alice receives the answer, and both close the stream
// (<close/>, then the WebSocket closing handshake). Exit status 0 when all of it happened
// within the timeout, 1 otherwise.
//
// The same over direct TLS (XEP-0368) with URL xmpps://HOST:PORT: xmpp.js's TLS connection
// from the first byte (Node's tls.connect, the host as SNI; xmpp.js offers no ALPN); each
// client then prints `direct tls up (VERSION, ALPN ...)` once online, and a STARTTLS
// feature or <proceed/> on that stream fails the run.
//
// Usage: node xmppjs.mjs MODULES_DIR URL PASSWORD TIMEOUT_SECONDS
// MODULES_DIR holds node_modules/@xmpp/client and node_modules/ws (interop/run installs them
// with npm).

import path from "node:path";
import { pathToFileURL } from "node:url";
import { webcrypto } from "node:crypto";

const [modules, service, password, timeoutSecs] = process.argv.slice(2);
if (!modules || !service || !password) {
  console.error("usage: node xmppjs.mjs MODULES_DIR URL PASSWORD [TIMEOUT_SECONDS]");
  process.exit(2);
}
const load = (name, file) =>
  import(pathToFileURL(path.join(modules, "node_modules", name, file)).href);

// xmpp.js takes the WebSocket and crypto globals of browsers and newer Node releases; on a
// Node without them (WebSocket is behind a flag before Node 22) the `ws` package stands in.
if (typeof globalThis.WebSocket !== "function") {
  const ws = await load("ws", "wrapper.mjs");
  globalThis.WebSocket = ws.WebSocket;
}
globalThis.crypto ??= webcrypto;

const { client, xml } = await load("@xmpp/client", "index.js");

const timer = setTimeout(() => {
  console.log(`FAILED: timeout after ${timeoutSecs || 20} s`);
  process.exit(1);
}, 1000 * Number(timeoutSecs || 20));

function start(name) {
  const xmpp = client({ service, domain: "localhost", resource: "xmppjs", username: name, password });
  xmpp.on("error", (err) => console.log(`${name}: error ${err.condition || ""} ${err.message}`));
  xmpp.on("status", (status) => console.log(`${name}: status ${status}`));
  xmpp.on("element", (el) => {
    console.log(`${name}: in ${el.toString()}`);
    // XEP-0368: STARTTLS MUST NOT be used over direct TLS.
    if (direct && (el.is("proceed") || el.getChild("starttls"))) {
      console.log(`FAILED: ${name}: STARTTLS on a direct TLS stream`);
      process.exit(1);
    }
  });
  return xmpp;
}

const direct = service.startsWith("xmpps:");
// What the direct TLS handshake agreed on (xmpp.js's socket wraps Node's TLSSocket).
function directTls(name, xmpp) {
  if (!direct) return;
  const sock = xmpp.socket && xmpp.socket.socket;
  if (!sock || typeof sock.getProtocol !== "function") {
    throw new Error(`${name}: not a TLS socket`);
  }
  console.log(`${name}: direct tls up (${sock.getProtocol()}, ALPN ${sock.alpnProtocol || "none"})`);
}

function received(xmpp, from, body) {
  return new Promise((resolve) => {
    xmpp.on("stanza", (stanza) => {
      if (
        stanza.is("message") &&
        stanza.attrs.type !== "error" &&
        (stanza.attrs.from || "").startsWith(from) &&
        stanza.getChildText("body") === body
      ) {
        resolve(stanza);
      }
    });
  });
}

try {
  const bob = start("bob");
  const alice = start("alice");
  const bobGot = received(bob, "alice@localhost/", "interop-xmppjs-hello");
  const aliceGot = received(alice, "bob@localhost/", "interop-xmppjs-answer");
  const bobJid = await bob.start();
  console.log(`bob: online ${bobJid}`);
  directTls("bob", bob);
  const aliceJid = await alice.start();
  console.log(`alice: online ${aliceJid}`);
  directTls("alice", alice);
  await alice.send(
    xml("message", { to: bobJid.toString(), type: "chat" }, xml("body", {}, "interop-xmppjs-hello")),
  );
  await bobGot;
  console.log("bob: received interop-xmppjs-hello");
  await bob.send(
    xml("message", { to: aliceJid.toString(), type: "chat" }, xml("body", {}, "interop-xmppjs-answer")),
  );
  await aliceGot;
  console.log("alice: received interop-xmppjs-answer");
  await alice.stop();
  await bob.stop();
  console.log(`closed: alice ${alice.status}, bob ${bob.status}`);
  clearTimeout(timer);
  process.exit(alice.status === "offline" && bob.status === "offline" ? 0 : 1);
} catch (err) {
  console.log(`FAILED: ${err.stack || err}`);
  process.exit(1);
}
