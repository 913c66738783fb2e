//! Secrets never reach a log (issue 23, item 3): every public configuration, credential, role
//! and event type that holds a password, a shared secret or a password equivalent (SCRAM's
//! SaltedPassword, ClientKey, ServerKey and StoredKey), formatted with `{:?}` and `{:#?}`
//! (and `{}` where it has `Display`), never shows it, in any spelling a log could carry it:
//! as text, as a Debug list of bytes, in hex, in base64, and, for PLAIN, as the base64
//! message that carried it on the wire.
//!
//! The roles are driven through whole logins, in memory, and every value is formatted after
//! every step, so that a secret held only in the middle of an exchange (a PLAIN password
//! waiting for the embedder's credentials, a SCRAM state) is caught too.

use std::fmt::Debug;
use std::num::NonZeroU32;
use std::time::Instant;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use xmpp_sansio::client::{Client, ClientConfig, ClientEvent};
use xmpp_sansio::component::{
    Component, ComponentConfig, ComponentEvent, ComponentServer, ComponentServerConfig,
};
use xmpp_sansio::sasl::{
    self, Authorization, Credentials, Mechanism, Nonce, SaslClient, SaslServer, ScramHash,
    ScramKeys, ScramSecret, ServerStep, StoredScram, UserCredential, encode_payload,
};
use xmpp_sansio::server::{FastToken, HtMechanism, Server, ServerConfig, ServerEvent};
use xmpp_sansio::stream::TlsPolicy;

/// One secret and every spelling of it that must not appear.
struct Secret {
    name: String,
    /// Looked for as they are.
    spellings: Vec<String>,
    /// Looked for in the output with all white space removed (a `Debug` list of bytes, as
    /// `{:?}` and `{:#?}` print it).
    compact: Vec<String>,
}

impl Secret {
    fn bytes(name: &str, bytes: &[u8]) -> Secret {
        assert!(bytes.len() >= 8, "{name}: too short to look for");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let b64 = encode_payload(bytes);
        let mut spellings = vec![
            hex.to_uppercase(),
            hex,
            b64.trim_end_matches('=').to_owned(),
            b64,
        ];
        if let Ok(text) = std::str::from_utf8(bytes) {
            spellings.push(text.to_owned());
        }
        // The first eight bytes as a Debug list: `[112,119,...` once white space is gone.
        let list: Vec<String> = bytes[..8].iter().map(u8::to_string).collect();
        Secret {
            name: name.to_owned(),
            spellings,
            compact: vec![format!("[{}", list.join(","))],
        }
    }

    fn text(name: &str, text: &str) -> Secret {
        Secret::bytes(name, text.as_bytes())
    }

    /// The spelling of `self` that `shown` contains, if any.
    fn found_in(&self, shown: &str) -> Option<&str> {
        let compact: String = shown.chars().filter(|c| !c.is_whitespace()).collect();
        self.spellings
            .iter()
            .find(|s| shown.contains(s.as_str()))
            .or_else(|| self.compact.iter().find(|s| compact.contains(s.as_str())))
            .map(String::as_str)
    }
}

/// Fails if any spelling of any secret is in `shown`.
fn assert_hidden(what: &str, shown: &str, secrets: &[Secret]) {
    for secret in secrets {
        if let Some(spelling) = secret.found_in(shown) {
            panic!("{what} shows {} (as {spelling:?}):\n{shown}", secret.name);
        }
    }
}

/// `{:?}` and `{:#?}` of `value`, checked.
fn check_debug(what: &str, value: &impl Debug, secrets: &[Secret]) {
    assert_hidden(what, &format!("{value:?}"), secrets);
    assert_hidden(what, &format!("{value:#?}"), secrets);
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// A SCRAM-SHA-256 password's equivalents for `salt` and `iterations` (RFC 5802 section 3):
/// SaltedPassword, ClientKey, ServerKey and StoredKey, as secrets to look for.
fn scram_equivalents(password: &str, salt: &[u8], iterations: u32) -> Vec<Secret> {
    let keys = ScramKeys::from_password(password, salt.to_vec(), nz(iterations), ScramHash::Sha256)
        .unwrap();
    let ScramSecret::SaltedPassword(salted) = &keys.secret else {
        panic!("from_password keeps the salted password")
    };
    let client_key = hmac_sha256(salted, b"Client Key");
    let server_key = hmac_sha256(salted, b"Server Key");
    let stored_key = Sha256::digest(&client_key).to_vec();
    vec![
        Secret::bytes("SaltedPassword", salted),
        Secret::bytes("ClientKey", &client_key),
        Secret::bytes("ServerKey", &server_key),
        Secret::bytes("StoredKey", &stored_key),
    ]
}

const PASSWORD: &str = "Sw0rdf1sh-juliet-pw";
const WRONG_PASSWORD: &str = "Typo-Sw0rdf1sh-jul";
const SERVER_SECRET: &[u8] = b"decoy-salt-secret-42";
const COMPONENT_SECRET: &str = "Gateway-shared-S3cret";

/// The scan itself: each spelling is found when it is there, so that a pass below means
/// the secret was absent, not that the scan was blind.
#[test]
fn the_scan_finds_every_spelling() {
    let secret = Secret::text("the password", PASSWORD);
    let bytes = PASSWORD.as_bytes().to_vec();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    for shown in [
        format!("{:?}", PASSWORD),
        format!("{bytes:?}"),
        format!("{:#?}", Some(&bytes)),
        format!("Config {{ key: {} }}", hex.to_uppercase()),
        format!("key={hex}"),
        format!("key={}", encode_payload(&bytes)),
        format!("key={}", encode_payload(&bytes).trim_end_matches('=')),
    ] {
        assert!(secret.found_in(&shown).is_some(), "missed in {shown}");
    }
    assert!(secret.found_in("Password(<redacted>)").is_none());
}

#[test]
fn configurations_and_credentials_hide_their_secrets() {
    let salt = b"a salt of 16 b..".to_vec();
    let mut secrets = vec![
        Secret::text("the password", PASSWORD),
        Secret::bytes("the server's SASL secret", SERVER_SECRET),
        Secret::text("the component secret", COMPONENT_SECRET),
    ];
    secrets.extend(scram_equivalents(PASSWORD, &salt, 4096));

    let salted =
        ScramKeys::from_password(PASSWORD, salt.clone(), nz(4096), ScramHash::Sha256).unwrap();
    let ScramSecret::SaltedPassword(salted_bytes) = &salted.secret else {
        panic!("from_password keeps the salted password")
    };
    let client_key = hmac_sha256(salted_bytes, b"Client Key");
    let server_key = hmac_sha256(salted_bytes, b"Server Key");
    let as_keys = ScramKeys {
        secret: ScramSecret::Keys {
            client_key,
            server_key,
        },
        ..salted.clone()
    };
    let stored =
        StoredScram::from_password(PASSWORD, salt.clone(), nz(4096), ScramHash::Sha256).unwrap();

    let mut client = ClientConfig::new("juliet@example.com".parse().unwrap(), PASSWORD);
    client.scram_keys = Some(salted.clone());
    let mut client_with_keys = client.clone();
    client_with_keys.scram_keys = Some(as_keys.clone());

    check_debug("client::ClientConfig", &client, &secrets);
    check_debug("client::ClientConfig (keys)", &client_with_keys, &secrets);
    check_debug(
        "server::ServerConfig",
        &ServerConfig::new("example.com", SERVER_SECRET.to_vec()),
        &secrets,
    );
    check_debug(
        "component::ComponentConfig",
        &ComponentConfig::new(gw(), COMPONENT_SECRET),
        &secrets,
    );
    check_debug(
        "component::ComponentServerConfig",
        &ComponentServerConfig::new(gw(), COMPONENT_SECRET),
        &secrets,
    );
    check_debug(
        "sasl::ServerConfig",
        &sasl::SaslServerConfig::new(vec![Mechanism::Plain], SERVER_SECRET.to_vec()),
        &secrets,
    );
    check_debug(
        "sasl::ClientConfig",
        &sasl::SaslClientConfig::default(),
        &secrets,
    );
    check_debug(
        "sasl::Credentials",
        &Credentials::new("juliet", PASSWORD).authzid("juliet@example.com"),
        &secrets,
    );
    check_debug(
        "sasl::Credentials (keys)",
        &Credentials::with_scram_keys("juliet", as_keys.clone()),
        &secrets,
    );
    check_debug("sasl::ScramKeys (salted)", &salted, &secrets);
    check_debug("sasl::ScramKeys (keys)", &as_keys, &secrets);
    check_debug("sasl::ScramSecret", &salted.secret, &secrets);
    check_debug("sasl::ScramSecret (keys)", &as_keys.secret, &secrets);
    check_debug("sasl::StoredScram", &stored, &secrets);
    check_debug(
        "sasl::UserCredential::Password",
        &UserCredential::Password(PASSWORD.into()),
        &secrets,
    );
    check_debug(
        "sasl::UserCredential::Scram",
        &UserCredential::Scram(stored),
        &secrets,
    );
}

/// The SASL state machines on their own, PLAIN and SCRAM, formatted after every step.
#[test]
fn sasl_exchanges_hide_their_secrets_at_every_step() {
    let salt = b"sasl-level salt!".to_vec();
    let mut secrets = vec![
        Secret::text("the password", PASSWORD),
        Secret::bytes("the server's SASL secret", SERVER_SECRET),
        Secret::bytes(
            "the PLAIN message",
            format!("\0juliet\0{PASSWORD}").as_bytes(),
        ),
    ];
    secrets.extend(scram_equivalents(PASSWORD, &salt, 4096));

    let mut server_config = sasl::SaslServerConfig::new(
        vec![Mechanism::ScramSha256, Mechanism::Plain],
        SERVER_SECRET.to_vec(),
    );
    server_config.encrypted = true;
    let mut client_config = {
        let mut c = sasl::SaslClientConfig::default();
        c.allow_plain = true;
        c
    };

    for mechanism in [Mechanism::Plain, Mechanism::ScramSha256] {
        client_config.preference = vec![mechanism];
        let credential = UserCredential::Scram(
            StoredScram::from_password(PASSWORD, salt.clone(), nz(4096), ScramHash::Sha256)
                .unwrap(),
        );
        let mut client = SaslClient::start(
            [mechanism.name()],
            &client_config,
            Credentials::new("juliet", PASSWORD),
            Nonce::new("client-nonce-0123").unwrap(),
        )
        .unwrap();
        let what = |step: &str| format!("{mechanism} {step}");
        check_debug(&what("SaslClient started"), &client, &secrets);
        let mut server = SaslServer::new(
            server_config.clone(),
            Nonce::new("server-nonce-4567").unwrap(),
        );
        let mut step = server
            .start(mechanism.name(), Some(client.initial_response()))
            .unwrap();
        let mut credential = Some(credential);
        loop {
            check_debug(&what("SaslServer"), &server, &secrets);
            check_debug(&what("ServerStep"), &step, &secrets);
            check_debug(&what("SaslClient"), &client, &secrets);
            step = match step {
                ServerStep::NeedCredentials { .. } => server
                    .provide_credentials(credential.take().unwrap(), Authorization::Refuse)
                    .unwrap(),
                ServerStep::Challenge(data) => {
                    let response = client.on_challenge(&data).unwrap();
                    server.on_response(&response).unwrap()
                }
                ServerStep::Success {
                    additional_data, ..
                } => {
                    client.on_success(&additional_data).unwrap();
                    break;
                }
                ServerStep::NeedExternal { .. } => unreachable!("not EXTERNAL"),
            };
        }
        assert!(client.is_success() && server.is_success(), "{mechanism}");
        check_debug(&what("SaslServer done"), &server, &secrets);
        check_debug(&what("SaslClient done"), &client, &secrets);
        if mechanism == Mechanism::ScramSha256 {
            let keys = client.scram_keys().expect("a SCRAM login gives its keys");
            check_debug(&what("SaslClient::scram_keys"), keys, &secrets);
        }
    }
}

/// Polls every event of both sides, checking each one and both roles after each step.
fn check_c2s(client: &mut Client, server: &mut Server, secrets: &[Secret]) -> Vec<ClientEvent> {
    let now = Instant::now();
    let mut client_events = Vec::new();
    let mut auth_requests = 0;
    loop {
        check_debug("Client", client, secrets);
        check_debug("Server", server, secrets);
        let mut quiet = true;
        while let Some(bytes) = client.poll_transmit() {
            quiet = false;
            server.handle_input(now, &bytes).unwrap();
            check_debug("Server", server, secrets);
        }
        while let Some(bytes) = server.poll_transmit() {
            quiet = false;
            client.handle_input(now, &bytes).unwrap();
            check_debug("Client", client, secrets);
        }
        while let Some(event) = server.poll_event() {
            quiet = false;
            check_debug("ServerEvent", &event, secrets);
            // Here the server holds what the client sent (for PLAIN, the password).
            check_debug("Server awaiting the embedder", server, secrets);
            match event {
                ServerEvent::AuthRequest { .. } => {
                    auth_requests += 1;
                    let credential = UserCredential::Password(PASSWORD.into());
                    server.credentials(now, credential).unwrap();
                }
                ServerEvent::BindRequest { .. } => {
                    server
                        .bind(now, "juliet@example.com/r".parse().unwrap())
                        .unwrap();
                }
                ServerEvent::FastTokenRequest { .. } => {
                    server.issue_fast_token(now, Some(fast_token())).unwrap();
                }
                ServerEvent::FastAuthRequest { .. } => {
                    auth_requests += 1;
                    server.fast_credentials(now, Some(fast_token())).unwrap();
                }
                _ => {}
            }
        }
        while let Some(event) = client.poll_event() {
            quiet = false;
            check_debug("ClientEvent", &event, secrets);
            if let ClientEvent::SaslFailure(failure) = &event {
                assert_hidden("SaslFailure (Display)", &failure.to_string(), secrets);
            }
            client_events.push(event);
        }
        if quiet {
            assert!(auth_requests <= 1, "one login attempt");
            return client_events;
        }
    }
}

fn c2s_pair(mechanism: Mechanism, password: &str) -> (Client, Server) {
    let now = Instant::now();
    let mut server_config = ServerConfig::new("example.com", SERVER_SECRET.to_vec());
    server_config.tls = TlsPolicy::Disabled;
    server_config.allow_plain_without_tls = true;
    server_config.mechanisms = vec![mechanism];
    let mut client_config = ClientConfig::new("juliet@example.com".parse().unwrap(), password);
    client_config.tls = TlsPolicy::Disabled;
    client_config.allow_plain_without_tls = true;
    client_config.mechanisms = vec![mechanism];
    let mut client = Client::new(client_config, 1, now);
    client.open(now).unwrap();
    (client, Server::new(server_config, 7, now))
}

/// A c2s login with each mechanism, a right and a wrong password: the roles and their events
/// never show either password, the server secret, or what SCRAM derives from them.
#[test]
fn c2s_roles_and_events_hide_secrets_through_a_login() {
    for mechanism in [Mechanism::Plain, Mechanism::ScramSha256] {
        for password in [PASSWORD, WRONG_PASSWORD] {
            let mut secrets = vec![
                Secret::text("the password", PASSWORD),
                Secret::text("the attempted password", password),
                Secret::bytes("the server's SASL secret", SERVER_SECRET),
                Secret::bytes(
                    "the PLAIN message",
                    format!("\0juliet\0{password}").as_bytes(),
                ),
            ];
            let (mut client, mut server) = c2s_pair(mechanism, password);
            let events = check_c2s(&mut client, &mut server, &secrets);
            let online = events.iter().any(|e| matches!(e, ClientEvent::Online(_)));
            assert_eq!(online, password == PASSWORD, "{mechanism}: {events:?}");
            if let Some(keys) = client.scram_keys() {
                // The salt the server chose (derived from its secret): now the password's
                // SCRAM equivalents are known, and must not be in anything either.
                secrets.extend(scram_equivalents(
                    PASSWORD,
                    &keys.salt,
                    keys.iterations.get(),
                ));
                check_debug("Client::scram_keys", keys, &secrets);
                check_debug("Client online", &client, &secrets);
                check_debug("Server online", &server, &secrets);
            }
            assert_eq!(
                client.scram_keys().is_some(),
                online && mechanism == Mechanism::ScramSha256
            );
        }
    }
}

const FAST_SECRET: &str = "fast-token-secret-WXZzciBwYmFm";

fn fast_token() -> FastToken {
    FastToken {
        mechanism: HtMechanism::Sha256None,
        secret: FAST_SECRET.into(),
        expiry: "2030-01-01T00:00:00Z".into(),
    }
}

/// A SASL2 login that asks for a FAST token, then one with the token: neither role, event
/// nor configuration shows it (nor the password).
#[test]
fn fast_tokens_stay_out_of_debug() {
    let secrets = vec![
        Secret::text("the password", PASSWORD),
        Secret::text("the FAST token", FAST_SECRET),
        Secret::bytes("the server's SASL secret", SERVER_SECRET),
    ];
    for with_token in [false, true] {
        let now = Instant::now();
        let mut server_config = ServerConfig::new("example.com", SERVER_SECRET.to_vec());
        server_config.tls = TlsPolicy::Disabled;
        server_config.allow_plain_without_tls = true;
        server_config.mechanisms = vec![Mechanism::ScramSha256];
        server_config.sasl2 = true;
        server_config.fast = vec![HtMechanism::Sha256None];
        let mut client_config = ClientConfig::new("juliet@example.com".parse().unwrap(), PASSWORD);
        client_config.tls = TlsPolicy::Disabled;
        client_config.mechanisms = vec![Mechanism::ScramSha256];
        client_config.sasl2 = true;
        client_config.fast_request_token = !with_token;
        client_config.fast_token = with_token.then(fast_token);
        check_debug("ClientConfig", &client_config, &secrets);
        let mut client = Client::new(client_config, 1, now);
        client.open(now).unwrap();
        let mut server = Server::new(server_config, 7, now);
        let events = check_c2s(&mut client, &mut server, &secrets);
        assert!(
            events.iter().any(|e| matches!(e, ClientEvent::Online(_))),
            "{events:?}"
        );
        let issued = events
            .iter()
            .any(|e| matches!(e, ClientEvent::FastToken(t) if t.secret == FAST_SECRET));
        assert_eq!(issued, !with_token, "{events:?}");
        check_debug("FastToken", &fast_token(), &secrets);
    }
}

/// Both sides of XEP-0114 through the handshake, right and wrong secret.
#[test]
fn component_roles_and_events_hide_the_shared_secret() {
    let now = Instant::now();
    let wrong = "Wrong-gateway-S3cret";
    for attempted in [COMPONENT_SECRET, wrong] {
        let secrets = [
            Secret::text("the component secret", COMPONENT_SECRET),
            Secret::text("the attempted secret", attempted),
        ];
        let mut component = Component::new(ComponentConfig::new(gw(), attempted), 5, now);
        let mut server =
            ComponentServer::new(ComponentServerConfig::new(gw(), COMPONENT_SECRET), 0, now);
        component.open(now).unwrap();
        let mut online = false;
        loop {
            check_debug("Component", &component, &secrets);
            check_debug("ComponentServer", &server, &secrets);
            let mut quiet = true;
            while let Some(bytes) = component.poll_transmit() {
                quiet = false;
                server.handle_input(now, &bytes).unwrap();
            }
            while let Some(bytes) = server.poll_transmit() {
                quiet = false;
                component.handle_input(now, &bytes).unwrap();
            }
            for event in std::iter::from_fn(|| component.poll_event())
                .chain(std::iter::from_fn(|| server.poll_event()))
            {
                quiet = false;
                online |= matches!(event, ComponentEvent::Online(_));
                check_debug("ComponentEvent", &event, &secrets);
            }
            if quiet {
                break;
            }
        }
        assert_eq!(online, attempted == COMPONENT_SECRET);
    }
}

#[test]
fn the_generator_seed_stays_out_of_debug() {
    // It decides SCRAM nonces, stream ids and resources: printing it would let a log reader
    // predict them.
    let seed: u64 = 0x5EED_C0DE_1234_5678;
    let now = Instant::now();
    let config = ClientConfig::new("juliet@example.com".parse().unwrap(), "pw");
    let client = Client::new(config, seed, now);
    let component = Component::new(ComponentConfig::new(gw(), "s"), seed, now);
    let server = Server::new(ServerConfig::new("example.com", b"k".to_vec()), seed, now);
    let gateway = ComponentServer::new(ComponentServerConfig::new(gw(), "s"), seed, now);
    let texts = [
        format!("{client:?}"),
        format!("{component:?}"),
        format!("{server:?}"),
        format!("{gateway:?}"),
    ];
    for text in texts {
        assert!(!text.contains(&seed.to_string()), "{text}");
        assert!(!text.to_lowercase().contains("5eedc0de"), "{text}");
    }
}

fn gw() -> xmpp_sansio::jid::BareJid {
    "gw.example.com".parse().unwrap()
}
