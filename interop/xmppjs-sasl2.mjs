// xmpp.js (@xmpp/client 0.14) logs into our server example with SASL2 (XEP-0388), Bind 2
// (XEP-0386) and FAST (XEP-0484), for interop/run, over TCP with STARTTLS (the test CA comes
// in NODE_EXTRA_CA_CERTS). bob logs in with his password. alice logs in with hers and asks
// for a FAST token (xmpp.js asks whenever it has none and the server offers FAST), sends bob
// a message and closes; then a new client for alice, with the same <user-agent id> (the
// token is tied to it) and a WRONG password, logs in with the token (HT-SHA-256-NONE): it
// can only get online through FAST. It sends bob a second message; bob must receive both.
// The token is never printed. Exit status 0 when all of it happened within the timeout, 1
// otherwise.
//
// Usage: node xmppjs-sasl2.mjs MODULES_DIR SERVICE PASSWORD TIMEOUT_SECONDS
// SERVICE is xmpp://HOST:PORT (the domain is localhost: STARTTLS checks the certificate for
// it); MODULES_DIR holds node_modules/@xmpp/client (interop/run
// installs it with npm).

import path from "node:path";
import { pathToFileURL } from "node:url";
import { webcrypto, randomUUID } from "node:crypto";

const [modules, service, password, timeoutSecs] = process.argv.slice(2);
if (!modules || !service || !password) {
  console.error("usage: node xmppjs-sasl2.mjs MODULES_DIR SERVICE PASSWORD [TIMEOUT_SECONDS]");
  process.exit(2);
}
const load = (name, file) =>
  import(pathToFileURL(path.join(modules, "node_modules", name, file)).href);
globalThis.crypto ??= webcrypto;

const { client, xml } = await load("@xmpp/client", "index.js");

const timer = setTimeout(() => {
  console.log(`FAILED: timeout after ${timeoutSecs || 20} s`);
  process.exit(1);
}, 1000 * Number(timeoutSecs || 20));

// One installation of alice's client: its <user-agent id> stays the same across logins.
const aliceAgent = randomUUID();
// The FAST token alice's first login received (what a real client keeps in its store).
let aliceToken = null;

function start(name, label, pw, agentId) {
  const xmpp = client({
    service,
    domain: "localhost",
    resource: "xmppjs",
    username: name,
    password: pw,
    userAgent: xml("user-agent", { id: agentId }, xml("software", {}, "xmpp.js interop")),
  });
  // Every element in, but the secret of a <token/> (XEP-0484's token element).
  xmpp.on("element", (el) => {
    const text = el.toString().replace(/token=(['"])[^'"]*\1/g, "token=$1<redacted>$1");
    console.log(`${label}: in ${text}`);
  });
  xmpp.on("error", (err) => console.log(`${label}: error ${err.condition || ""} ${err.message}`));
  xmpp.on("status", (status) => console.log(`${label}: status ${status}`));
  xmpp.fast.saveToken = async (token) => {
    aliceToken = name === "alice" ? token : aliceToken;
    console.log(`${label}: fast token received (${token.mechanism}, expires ${token.expiry})`);
  };
  xmpp.fast.fetchToken = async () => (name === "alice" ? aliceToken : null);
  xmpp.fast.deleteToken = async () => {
    console.log(`${label}: fast token deleted`);
    if (name === "alice") aliceToken = null;
  };
  return xmpp;
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
  const bob = start("bob", "bob", password, randomUUID());
  const got1 = received(bob, "alice@localhost/", "interop-xmppjs-sasl2-1");
  const got2 = received(bob, "alice@localhost/", "interop-xmppjs-fast-2");
  const bobJid = await bob.start();
  console.log(`bob: online ${bobJid}`);

  const alice = start("alice", "alice", password, aliceAgent);
  const aliceJid = await alice.start();
  console.log(`alice: online ${aliceJid} (password)`);
  if (!aliceToken) throw new Error("alice's first login got no FAST token");
  await alice.send(
    xml("message", { to: bobJid.toString(), type: "chat" }, xml("body", {}, "interop-xmppjs-sasl2-1")),
  );
  await got1;
  console.log("bob: received interop-xmppjs-sasl2-1");
  await alice.stop();
  console.log(`alice: ${alice.status}`);

  // The same installation again, with a wrong password: only the token can log it in.
  const again = start("alice", "alice-fast", "not-the-password", aliceAgent);
  const againJid = await again.start();
  console.log(`alice-fast: online ${againJid} (FAST token)`);
  await again.send(
    xml("message", { to: bobJid.toString(), type: "chat" }, xml("body", {}, "interop-xmppjs-fast-2")),
  );
  await got2;
  console.log("bob: received interop-xmppjs-fast-2");
  await again.stop();
  await bob.stop();
  console.log(`closed: alice ${again.status}, bob ${bob.status}`);
  clearTimeout(timer);
  process.exit(again.status === "offline" && bob.status === "offline" ? 0 : 1);
} catch (err) {
  console.log(`FAILED: ${err.stack || err}`);
  process.exit(1);
}
