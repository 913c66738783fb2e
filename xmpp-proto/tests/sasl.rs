//! SASL (RFC 6120 section 6): the example exchanges of RFC 5802, RFC 7677 and RFC 6120
//! reproduced byte for byte on both sides, the failure paths, and properties.

use std::num::NonZeroU32;

use proptest::prelude::*;
use xmpp_sansio::error::SaslFailureCondition;
use xmpp_sansio::sasl::*;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn b64(text: &str) -> Vec<u8> {
    decode_payload(text).unwrap()
}

fn nonce(s: &str) -> Nonce {
    Nonce::new(s).unwrap()
}

const SECRET: &[u8] = b"test server secret";

/// A server configuration offering `offered` on an encrypted stream.
fn server_config(offered: &[Mechanism]) -> SaslServerConfig {
    let mut config = SaslServerConfig::new(offered.to_vec(), SECRET.to_vec());
    config.encrypted = true;
    config
}

/// One SCRAM example: the inputs and the exact messages of the RFC.
struct Example {
    mechanism: Mechanism,
    hash: ScramHash,
    username: &'static str,
    password: &'static str,
    client_nonce: &'static str,
    server_nonce: &'static str,
    salt_b64: &'static str,
    client_first: &'static str,
    server_first: &'static str,
    client_final: &'static str,
    server_final: &'static str,
}

/// RFC 5802 section 5.
const RFC5802: Example = Example {
    mechanism: Mechanism::ScramSha1,
    hash: ScramHash::Sha1,
    username: "user",
    password: "pencil",
    client_nonce: "fyko+d2lbbFgONRv9qkxdawL",
    server_nonce: "3rfcNHYJY1ZVvWVs7j",
    salt_b64: "QSXCR+Q6sek8bf92",
    client_first: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    server_first: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    client_final: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    server_final: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

/// RFC 7677 section 3.
const RFC7677: Example = Example {
    mechanism: Mechanism::ScramSha256,
    hash: ScramHash::Sha256,
    username: "user",
    password: "pencil",
    client_nonce: "rOprNGfwEbeRWgbNEkqO",
    server_nonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    salt_b64: "W22ZaJ0SNY7soEsUEjb6gQ==",
    client_first: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
    server_first: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    client_final: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    server_final: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

/// RFC 6120 section 9.1.2 (decoded from the base64 of its `<auth/>`, `<challenge/>`,
/// `<response/>` and `<success/>`, checked in [`rfc6120_on_the_wire`]).
const RFC6120: Example = Example {
    mechanism: Mechanism::ScramSha1,
    hash: ScramHash::Sha1,
    username: "juliet",
    password: "r0m30myr0m30",
    client_nonce: "oMsTAAwAAAAMAAAANP0TAAAAAABPU0AA",
    server_nonce: "e124695b-69a9-4de6-9c30-b51b3808c59e",
    salt_b64: "NjhkYTM0MDgtNGY0Zi00NjdmLTkxMmUtNDlmNTNmNDNkMDMz",
    client_first: "n,,n=juliet,r=oMsTAAwAAAAMAAAANP0TAAAAAABPU0AA",
    server_first: "r=oMsTAAwAAAAMAAAANP0TAAAAAABPU0AAe124695b-69a9-4de6-9c30-b51b3808c59e,s=NjhkYTM0MDgtNGY0Zi00NjdmLTkxMmUtNDlmNTNmNDNkMDMz,i=4096",
    client_final: "c=biws,r=oMsTAAwAAAAMAAAANP0TAAAAAABPU0AAe124695b-69a9-4de6-9c30-b51b3808c59e,p=UA57tM/SvpATBkH2FXs0WDXvJYw=",
    server_final: "v=pNNDFVEQxuXxCoSEiW8GEZ+1RSo=",
};

impl Example {
    fn stored(&self) -> StoredScram {
        StoredScram::from_password(self.password, b64(self.salt_b64), nz(4096), self.hash).unwrap()
    }

    fn client(&self) -> SaslClient {
        SaslClient::start(
            [self.mechanism.name()],
            &SaslClientConfig::default(),
            Credentials::new(self.username, self.password),
            nonce(self.client_nonce),
        )
        .unwrap()
    }

    fn server(&self) -> SaslServer {
        SaslServer::new(server_config(&[self.mechanism]), nonce(self.server_nonce))
    }

    /// The client side produces exactly the RFC's messages and accepts its server-final.
    fn check_client(&self) -> ScramKeys {
        let mut client = self.client();
        assert_eq!(client.mechanism(), self.mechanism);
        assert_eq!(client.initial_response(), self.client_first.as_bytes());
        let client_final = client.on_challenge(self.server_first.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(client_final).unwrap(), self.client_final);
        assert!(!client.is_success());
        assert_eq!(client.scram_keys(), None);
        client.on_success(self.server_final.as_bytes()).unwrap();
        assert!(client.is_success());
        let keys = client.scram_keys().unwrap().clone();
        assert_eq!(keys.hash, self.hash);
        assert_eq!(keys.salt, b64(self.salt_b64));
        assert_eq!(keys.iterations, nz(4096));
        keys
    }

    /// The server side, given the same inputs, produces exactly the RFC's messages.
    fn check_server(&self) {
        let mut server = self.server();
        let step = server
            .start(self.mechanism.name(), Some(self.client_first.as_bytes()))
            .unwrap();
        assert_eq!(
            step,
            ServerStep::NeedCredentials {
                mechanism: self.mechanism,
                authcid: self.username.to_owned(),
                authzid: None,
            }
        );
        let step = server
            .provide_credentials(UserCredential::Scram(self.stored()), Authorization::Refuse)
            .unwrap();
        assert_eq!(
            step,
            ServerStep::Challenge(self.server_first.as_bytes().to_vec())
        );
        let step = server.on_response(self.client_final.as_bytes()).unwrap();
        assert_eq!(
            step,
            ServerStep::Success {
                additional_data: self.server_final.as_bytes().to_vec(),
                identity: Identity::User {
                    authcid: self.username.to_owned(),
                    authzid: None,
                },
            }
        );
        assert!(server.is_success());
    }
}

// ---------------------------------------------------------------------------
// The RFC examples
// ---------------------------------------------------------------------------

#[test]
fn rfc5802_example_client() {
    RFC5802.check_client();
}

#[test]
fn rfc5802_example_server() {
    RFC5802.check_server();
}

#[test]
fn rfc7677_example_client() {
    RFC7677.check_client();
}

#[test]
fn rfc7677_example_server() {
    RFC7677.check_server();
}

#[test]
fn rfc6120_example_client() {
    RFC6120.check_client();
}

#[test]
fn rfc6120_example_server() {
    RFC6120.check_server();
}

/// The base64 texts of RFC 6120 section 9.1.2, through the payload helpers.
#[test]
fn rfc6120_on_the_wire() {
    const AUTH: &str = "biwsbj1qdWxpZXQscj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQQ==";
    const CHALLENGE: &str = "cj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQWUxMjQ2OTViLTY5YTktNGRlNi05YzMwLWI1MWIzODA4YzU5ZSxzPU5qaGtZVE0wTURndE5HWTBaaTAwTmpkbUxUa3hNbVV0TkRsbU5UTm1ORE5rTURNeixpPTQwOTY=";
    const RESPONSE: &str = "Yz1iaXdzLHI9b01zVEFBd0FBQUFNQUFBQU5QMFRBQUFBQUFCUFUwQUFlMTI0Njk1Yi02OWE5LTRkZTYtOWMzMC1iNTFiMzgwOGM1OWUscD1VQTU3dE0vU3ZwQVRCa0gyRlhzMFdEWHZKWXc9";
    const SUCCESS: &str = "dj1wTk5ERlZFUXh1WHhDb1NFaVc4R0VaKzFSU289";

    // Client: offered SCRAM-SHA-1-PLUS, SCRAM-SHA-1 and PLAIN as in the RFC, but has no
    // channel binding data and does not allow PLAIN.
    let offered = ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN"];
    let mut client = SaslClient::start(
        offered,
        &SaslClientConfig::default(),
        Credentials::new("juliet", "r0m30myr0m30"),
        nonce(RFC6120.client_nonce),
    )
    .unwrap();
    assert_eq!(client.mechanism(), Mechanism::ScramSha1);
    assert_eq!(encode_payload(client.initial_response()), AUTH);
    let response = client.on_challenge(&b64(CHALLENGE)).unwrap();
    assert_eq!(encode_payload(&response), RESPONSE);
    client.on_success(&b64(SUCCESS)).unwrap();

    // Server, offering the same mechanisms.
    let config = server_config(&[
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ]);
    let mut server = SaslServer::new(config, nonce(RFC6120.server_nonce));
    let step = server.start("SCRAM-SHA-1", Some(&b64(AUTH))).unwrap();
    assert!(matches!(step, ServerStep::NeedCredentials { ref authcid, .. } if authcid == "juliet"));
    let step = server
        .provide_credentials(
            UserCredential::Scram(RFC6120.stored()),
            Authorization::Refuse,
        )
        .unwrap();
    let ServerStep::Challenge(challenge) = step else {
        panic!("expected a challenge, got {step:?}");
    };
    assert_eq!(encode_payload(&challenge), CHALLENGE);
    let step = server.on_response(&b64(RESPONSE)).unwrap();
    let ServerStep::Success {
        additional_data, ..
    } = step
    else {
        panic!("expected success, got {step:?}");
    };
    assert_eq!(encode_payload(&additional_data), SUCCESS);
}

/// A server that keeps the password in the clear serves SCRAM with its own salt; the
/// exchange still works end to end.
#[test]
fn scram_against_a_clear_password() {
    let mut server = RFC7677.server();
    server
        .start("SCRAM-SHA-256", Some(RFC7677.client_first.as_bytes()))
        .unwrap();
    let step = server
        .provide_credentials(
            UserCredential::Password("pencil".into()),
            Authorization::Refuse,
        )
        .unwrap();
    let ServerStep::Challenge(server_first) = step else {
        panic!("expected a challenge");
    };
    let mut client = RFC7677.client();
    let client_final = client.on_challenge(&server_first).unwrap();
    let ServerStep::Success {
        additional_data, ..
    } = server.on_response(&client_final).unwrap()
    else {
        panic!("expected success");
    };
    client.on_success(&additional_data).unwrap();
}

/// Some servers send the server-final-message in a challenge, then an empty success.
#[test]
fn server_final_in_a_challenge() {
    let mut client = RFC5802.client();
    client
        .on_challenge(RFC5802.server_first.as_bytes())
        .unwrap();
    let response = client
        .on_challenge(RFC5802.server_final.as_bytes())
        .unwrap();
    assert!(response.is_empty());
    assert!(!client.is_success());
    client.on_success(b"").unwrap();
    assert!(client.is_success());

    // A repeated, correct server-final-message in the success is accepted too; a wrong
    // one is not.
    let mut client = RFC5802.client();
    client
        .on_challenge(RFC5802.server_first.as_bytes())
        .unwrap();
    client
        .on_challenge(RFC5802.server_final.as_bytes())
        .unwrap();
    client.on_success(RFC5802.server_final.as_bytes()).unwrap();
    let mut client = RFC5802.client();
    client
        .on_challenge(RFC5802.server_first.as_bytes())
        .unwrap();
    client
        .on_challenge(RFC5802.server_final.as_bytes())
        .unwrap();
    assert_eq!(
        client.on_success(RFC7677.server_final.as_bytes()),
        Err(SaslClientError::ServerSignatureMismatch)
    );
}

// ---------------------------------------------------------------------------
// The client refuses to believe a server that does not prove itself
// ---------------------------------------------------------------------------

#[test]
fn server_signature_mismatch_is_an_error() {
    let mut client = RFC5802.client();
    client
        .on_challenge(RFC5802.server_first.as_bytes())
        .unwrap();
    assert_eq!(
        client.on_success(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        Err(SaslClientError::ServerSignatureMismatch)
    );
    assert!(!client.is_success());
    assert_eq!(client.scram_keys(), None);
    // The exchange is over.
    assert_eq!(
        client.on_success(RFC5802.server_final.as_bytes()),
        Err(SaslClientError::Finished)
    );
}

#[test]
fn success_without_signature_is_an_error() {
    let mut client = RFC5802.client();
    client
        .on_challenge(RFC5802.server_first.as_bytes())
        .unwrap();
    assert_eq!(
        client.on_success(b""),
        Err(SaslClientError::MissingServerSignature)
    );
    // Success before the exchange even started.
    let mut client = RFC5802.client();
    assert_eq!(
        client.on_success(b""),
        Err(SaslClientError::MissingServerSignature)
    );
}

#[test]
fn server_errors_are_typed() {
    let mut client = RFC5802.client();
    client
        .on_challenge(RFC5802.server_first.as_bytes())
        .unwrap();
    assert_eq!(
        client.on_success(b"e=invalid-proof"),
        Err(SaslClientError::ServerError(ScramServerError::InvalidProof))
    );
    let mut client = RFC5802.client();
    assert_eq!(
        client.on_challenge(b"e=unknown-user"),
        Err(SaslClientError::ServerError(ScramServerError::UnknownUser))
    );
    let mut client = RFC5802.client();
    client
        .on_challenge(RFC5802.server_first.as_bytes())
        .unwrap();
    assert_eq!(
        client.on_challenge(b"e=future-error,x=1"),
        Err(SaslClientError::ServerError(
            ScramServerError::Unrecognized("future-error".into())
        ))
    );
}

#[test]
fn malformed_server_first_messages_are_typed_errors() {
    use SaslClientError as E;
    use ScramSyntaxError as S;
    let cn = RFC5802.client_nonce;
    let cases: Vec<(String, SaslClientError)> = vec![
        (String::new(), E::MalformedServerMessage(S::Expected('r'))),
        (
            format!("r={cn}xyz"),
            E::MalformedServerMessage(S::Expected('s')),
        ),
        (
            format!("r={cn}xyz,s=QSXCR+Q6sek8bf92"),
            E::MalformedServerMessage(S::Expected('i')),
        ),
        (
            format!("s=QSXCR+Q6sek8bf92,r={cn}xyz,i=4096"),
            E::MalformedServerMessage(S::Expected('r')),
        ),
        (
            format!("r={cn}xyz,s=not base64,i=4096"),
            E::MalformedServerMessage(S::Base64('s')),
        ),
        (
            format!("r={cn}xyz,s=QSXCR+Q6sek8bf92,i=four"),
            E::MalformedServerMessage(S::IterationCount),
        ),
        (
            format!("r={cn}xyz,s=QSXCR+Q6sek8bf92,i=-1"),
            E::MalformedServerMessage(S::IterationCount),
        ),
        (
            format!("r={cn}xyz,s=QSXCR+Q6sek8bf92,i=4096,"),
            E::MalformedServerMessage(S::Extension),
        ),
        // The nonce must extend the client's nonce, and by something.
        (
            "r=otherNonce,s=QSXCR+Q6sek8bf92,i=4096".into(),
            E::NonceMismatch,
        ),
        (
            format!("r={cn},s=QSXCR+Q6sek8bf92,i=4096"),
            E::NonceMismatch,
        ),
        (
            format!("r={},s=QSXCR+Q6sek8bf92,i=4096", &cn[..10]),
            E::NonceMismatch,
        ),
        (
            format!("r={cn}xyz,s=QSXCR+Q6sek8bf92,i=0"),
            E::IterationCountOutOfRange {
                count: 0,
                min: 1,
                max: 100_000,
            },
        ),
        (
            format!("r={cn}xyz,s=QSXCR+Q6sek8bf92,i=100001"),
            E::IterationCountOutOfRange {
                count: 100_001,
                min: 1,
                max: 100_000,
            },
        ),
        (
            format!("r={cn}xyz,s=QSXCR+Q6sek8bf92,i=99999999999999999999999999"),
            E::IterationCountOutOfRange {
                count: u64::MAX,
                min: 1,
                max: 100_000,
            },
        ),
        (
            format!("m=ext,r={cn}xyz,s=QSXCR+Q6sek8bf92,i=4096"),
            E::UnsupportedExtension,
        ),
    ];
    for (msg, expected) in cases {
        let mut client = RFC5802.client();
        assert_eq!(client.on_challenge(msg.as_bytes()), Err(expected), "{msg}");
        // Any error ends the exchange.
        assert_eq!(
            client.on_challenge(RFC5802.server_first.as_bytes()),
            Err(SaslClientError::Finished)
        );
    }
    let mut client = RFC5802.client();
    assert_eq!(
        client.on_challenge(b"r=\xff"),
        Err(E::MalformedServerMessage(S::NotUtf8))
    );
}

#[test]
fn iteration_bounds_are_configurable() {
    let config = {
        let mut c = SaslClientConfig::default();
        c.min_iterations = 4096;
        c.max_iterations = 4096;
        c
    };
    let start = || {
        SaslClient::start(
            ["SCRAM-SHA-1"],
            &config,
            Credentials::new("user", "pencil"),
            nonce(RFC5802.client_nonce),
        )
        .unwrap()
    };
    start()
        .on_challenge(RFC5802.server_first.as_bytes())
        .unwrap();
    let low = RFC5802.server_first.replace("i=4096", "i=4095");
    assert_eq!(
        start().on_challenge(low.as_bytes()),
        Err(SaslClientError::IterationCountOutOfRange {
            count: 4095,
            min: 4096,
            max: 4096
        })
    );
}

#[test]
fn unexpected_steps_on_the_client() {
    let config = {
        let mut c = SaslClientConfig::default();
        c.allow_plain = true;
        c
    };
    let mut client = SaslClient::start(
        ["PLAIN"],
        &config,
        Credentials::new("user", "pencil"),
        nonce("n"),
    )
    .unwrap();
    assert_eq!(
        client.on_challenge(b""),
        Err(SaslClientError::UnexpectedChallenge)
    );
    let mut client = SaslClient::start(
        ["PLAIN"],
        &config,
        Credentials::new("user", "pencil"),
        nonce("n"),
    )
    .unwrap();
    assert_eq!(
        client.on_success(b"data"),
        Err(SaslClientError::UnexpectedSuccessData)
    );
    let mut client = RFC5802.client();
    client
        .on_challenge(RFC5802.server_first.as_bytes())
        .unwrap();
    client.on_success(RFC5802.server_final.as_bytes()).unwrap();
    assert_eq!(client.on_challenge(b""), Err(SaslClientError::Finished));
    // A step after success does not undo it.
    assert!(client.is_success());
    assert!(client.scram_keys().is_some());
}

// ---------------------------------------------------------------------------
// Server-side failures
// ---------------------------------------------------------------------------

/// Runs a SCRAM exchange between a client with `password` and a server holding the RFC 5802
/// account; returns the server's outcome.
fn scram_exchange(
    client_password: &str,
    credential: UserCredential,
) -> Result<ServerStep, SaslServerError> {
    let mut client = SaslClient::start(
        ["SCRAM-SHA-1"],
        &SaslClientConfig::default(),
        Credentials::new("user", client_password),
        nonce(RFC5802.client_nonce),
    )
    .unwrap();
    let mut server = RFC5802.server();
    server.start("SCRAM-SHA-1", Some(client.initial_response()))?;
    let ServerStep::Challenge(server_first) =
        server.provide_credentials(credential, Authorization::Refuse)?
    else {
        panic!("expected a challenge");
    };
    let client_final = client.on_challenge(&server_first).unwrap();
    server.on_response(&client_final)
}

#[test]
fn wrong_password_is_not_authorized() {
    let err = scram_exchange("pencil2", UserCredential::Scram(RFC5802.stored())).unwrap_err();
    assert_eq!(err, SaslServerError::InvalidCredentials);
    assert_eq!(err.condition(), SaslFailureCondition::NotAuthorized);
    assert_eq!(
        err.failure().condition,
        Some(SaslFailureCondition::NotAuthorized)
    );
}

#[test]
fn unknown_user_fails_at_the_end_with_a_plausible_challenge() {
    let first_challenge = |secret: &[u8], username: &str| {
        let mut config = server_config(&[Mechanism::ScramSha1]);
        config.secret = secret.to_vec();
        let mut server = SaslServer::new(config, nonce(RFC5802.server_nonce));
        let client_first = format!("n,,n={username},r={}", RFC5802.client_nonce);
        server
            .start("SCRAM-SHA-1", Some(client_first.as_bytes()))
            .unwrap();
        match server
            .provide_credentials(UserCredential::Unknown, Authorization::Refuse)
            .unwrap()
        {
            ServerStep::Challenge(c) => String::from_utf8(c).unwrap(),
            other => panic!("expected a challenge, got {other:?}"),
        }
    };
    let challenge = first_challenge(SECRET, "nobody");
    // Looks like a real account's: our nonce, a 16-byte salt, the configured count.
    let parts: Vec<&str> = challenge.split(',').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(
        parts[0],
        format!("r={}{}", RFC5802.client_nonce, RFC5802.server_nonce)
    );
    assert_eq!(b64(parts[1].strip_prefix("s=").unwrap()).len(), 16);
    assert_eq!(parts[2], "i=4096");
    // The same on every attempt, as a real account's would be, also for another spelling
    // of the same name; different for other names and other secrets.
    assert_eq!(first_challenge(SECRET, "nobody"), challenge);
    assert_eq!(first_challenge(SECRET, "NoBody"), challenge);
    assert_ne!(first_challenge(SECRET, "somebody"), challenge);
    assert_ne!(first_challenge(b"another secret", "nobody"), challenge);

    // The client cannot tell until the end, where it is not-authorized.
    let err = scram_exchange("pencil", UserCredential::Unknown).unwrap_err();
    assert_eq!(err, SaslServerError::UnknownUser);
    assert_eq!(err.condition(), SaslFailureCondition::NotAuthorized);
}

#[test]
fn embedder_refusals() {
    let err = scram_exchange(
        "pencil",
        UserCredential::Refuse(SaslFailureCondition::AccountDisabled),
    )
    .unwrap_err();
    assert_eq!(err.condition(), SaslFailureCondition::AccountDisabled);

    // A SCRAM-SHA-256 entry for a SCRAM-SHA-1 exchange is the server's fault.
    let err = scram_exchange("pencil", UserCredential::Scram(RFC7677.stored())).unwrap_err();
    assert_eq!(err, SaslServerError::InvalidStoredCredential);
    assert_eq!(err.condition(), SaslFailureCondition::TemporaryAuthFailure);
}

#[test]
fn an_authzid_is_granted_only_by_naming_it() {
    let run = |authorization: Authorization| {
        let mut client = SaslClient::start(
            ["SCRAM-SHA-1"],
            &SaslClientConfig::default(),
            Credentials::new("user", "pencil").authzid("admin@example.com"),
            nonce(RFC5802.client_nonce),
        )
        .unwrap();
        assert_eq!(
            client.initial_response(),
            format!("n,a=admin@example.com,n=user,r={}", RFC5802.client_nonce).as_bytes()
        );
        let mut server = RFC5802.server();
        let step = server
            .start("SCRAM-SHA-1", Some(client.initial_response()))
            .unwrap();
        assert_eq!(
            step,
            ServerStep::NeedCredentials {
                mechanism: Mechanism::ScramSha1,
                authcid: "user".into(),
                authzid: Some("admin@example.com".into()),
            }
        );
        let ServerStep::Challenge(server_first) = server
            .provide_credentials(UserCredential::Scram(RFC5802.stored()), authorization)
            .unwrap()
        else {
            panic!("expected a challenge");
        };
        let client_final = client.on_challenge(&server_first).unwrap();
        server.on_response(&client_final)
    };
    let step = run(Authorization::Grant("admin@example.com".into())).unwrap();
    assert!(matches!(
        step,
        ServerStep::Success {
            identity: Identity::User { authzid: Some(ref a), .. },
            ..
        } if a == "admin@example.com"
    ));
    // The default answer, and a grant of someone else, refuse the a= of SCRAM.
    for authorization in [
        Authorization::default(),
        Authorization::Grant("root@example.com".into()),
    ] {
        let err = run(authorization).unwrap_err();
        assert_eq!(err, SaslServerError::AuthzidRefused);
        assert_eq!(err.condition(), SaslFailureCondition::InvalidAuthzid);
    }
}

#[test]
fn server_checks_the_nonce_and_the_gs2_header_again() {
    let mut server = RFC5802.server();
    server
        .start("SCRAM-SHA-1", Some(RFC5802.client_first.as_bytes()))
        .unwrap();
    server
        .provide_credentials(
            UserCredential::Scram(RFC5802.stored()),
            Authorization::Refuse,
        )
        .unwrap();
    let wrong_nonce = RFC5802.client_final.replace("3rfc", "4rfc");
    assert_eq!(
        server.on_response(wrong_nonce.as_bytes()),
        Err(SaslServerError::NonceMismatch)
    );

    // c= must repeat the GS2 header of the client-first-message: "y,," is not "n,,".
    let mut server = RFC5802.server();
    server
        .start("SCRAM-SHA-1", Some(RFC5802.client_first.as_bytes()))
        .unwrap();
    server
        .provide_credentials(
            UserCredential::Scram(RFC5802.stored()),
            Authorization::Refuse,
        )
        .unwrap();
    let changed_flag = RFC5802.client_final.replace("c=biws", "c=eSws");
    let err = server.on_response(changed_flag.as_bytes()).unwrap_err();
    assert_eq!(err, SaslServerError::ChannelBindingMismatch);
    assert_eq!(err.condition(), SaslFailureCondition::NotAuthorized);
}

#[test]
fn malformed_client_messages_are_malformed_request() {
    let cases: &[&[u8]] = &[
        b"",
        b"n,,",
        b"n,,n=user",
        b"x,,n=user,r=abc",
        b"n,,n=us=er,r=abc",
        b"n,,n=user,r=a b",
        b"n,,n=user,r=abc\0",
        b"\xff,,n=user,r=abc",
        b"n,,n=us er,r=abc",
        b"n,,m=ext,n=user,r=abc",
    ];
    for &msg in cases {
        let mut server = RFC5802.server();
        let err = server.start("SCRAM-SHA-1", Some(msg)).unwrap_err();
        assert_eq!(
            err.condition(),
            SaslFailureCondition::MalformedRequest,
            "{:?}: {err:?}",
            String::from_utf8_lossy(msg)
        );
    }
    let finals: &[&[u8]] = &[b"", b"c=biws", b"c=biws,r=x", b"p=AAAA", b"c=biws,r=x,p=@@"];
    for &msg in finals {
        let mut server = RFC5802.server();
        server
            .start("SCRAM-SHA-1", Some(RFC5802.client_first.as_bytes()))
            .unwrap();
        server
            .provide_credentials(
                UserCredential::Scram(RFC5802.stored()),
                Authorization::Refuse,
            )
            .unwrap();
        let err = server.on_response(msg).unwrap_err();
        assert_eq!(err.condition(), SaslFailureCondition::MalformedRequest);
    }
}

#[test]
fn mechanism_choice_on_the_server() {
    let mut server = RFC5802.server();
    let err = server.start("DIGEST-MD5", Some(b"")).unwrap_err();
    assert_eq!(err, SaslServerError::UnknownMechanism);
    assert_eq!(err.condition(), SaslFailureCondition::InvalidMechanism);
    let mut server = RFC5802.server();
    let err = server.start("SCRAM-SHA-256", Some(b"")).unwrap_err();
    assert_eq!(
        err,
        SaslServerError::MechanismNotOffered(Mechanism::ScramSha256)
    );
    assert_eq!(err.condition(), SaslFailureCondition::InvalidMechanism);
    // PLAIN on an unencrypted stream.
    let config = SaslServerConfig::new(vec![Mechanism::Plain], SECRET.to_vec());
    let mut server = SaslServer::new(config, nonce("n"));
    let err = server.start("PLAIN", Some(b"\0user\0pencil")).unwrap_err();
    assert_eq!(err.condition(), SaslFailureCondition::EncryptionRequired);
}

#[test]
fn no_initial_response_means_an_empty_challenge() {
    let mut server = RFC5802.server();
    assert_eq!(
        server.start("SCRAM-SHA-1", None),
        Ok(ServerStep::Challenge(Vec::new()))
    );
    let step = server.on_response(RFC5802.client_first.as_bytes()).unwrap();
    assert!(matches!(step, ServerStep::NeedCredentials { .. }));
}

#[test]
fn abort_and_out_of_order_steps() {
    let mut server = RFC5802.server();
    server
        .start("SCRAM-SHA-1", Some(RFC5802.client_first.as_bytes()))
        .unwrap();
    let err = server.abort();
    assert_eq!(err.condition(), SaslFailureCondition::Aborted);
    assert_eq!(server.on_response(b""), Err(SaslServerError::OutOfOrder));

    let mut server = RFC5802.server();
    assert_eq!(server.on_response(b""), Err(SaslServerError::OutOfOrder));
    let mut server = RFC5802.server();
    assert_eq!(
        server.provide_credentials(UserCredential::Unknown, Authorization::Refuse),
        Err(SaslServerError::OutOfOrder)
    );
    let mut server = RFC5802.server();
    server
        .start("SCRAM-SHA-1", Some(RFC5802.client_first.as_bytes()))
        .unwrap();
    // The client answers before the embedder did.
    assert_eq!(server.on_response(b""), Err(SaslServerError::OutOfOrder));

    // After success, steps are refused but do not undo it.
    let mut server = RFC5802.server();
    server
        .start("SCRAM-SHA-1", Some(RFC5802.client_first.as_bytes()))
        .unwrap();
    server
        .provide_credentials(
            UserCredential::Scram(RFC5802.stored()),
            Authorization::Refuse,
        )
        .unwrap();
    server.on_response(RFC5802.client_final.as_bytes()).unwrap();
    assert_eq!(
        server.start("SCRAM-SHA-1", Some(b"")),
        Err(SaslServerError::OutOfOrder)
    );
    assert!(server.is_success());
}

// ---------------------------------------------------------------------------
// Channel binding
// ---------------------------------------------------------------------------

fn exporter(byte: u8) -> ChannelBinding {
    ChannelBinding::new(CbType::TlsExporter, [byte; 32])
}

/// Runs SCRAM between a client with `client_cb` that sees `offered`, and a server that
/// offers `server_offered` with `server_cbs`.
fn cb_exchange(
    offered: &[&str],
    client_cb: Option<ChannelBinding>,
    server_offered: &[Mechanism],
    server_cbs: Vec<ChannelBinding>,
) -> (Mechanism, Vec<u8>, Result<ServerStep, SaslServerError>) {
    let config = {
        let mut c = SaslClientConfig::default();
        c.channel_binding = client_cb;
        c
    };
    let mut client = SaslClient::start(
        offered,
        &config,
        Credentials::new("user", "pencil"),
        nonce(RFC5802.client_nonce),
    )
    .unwrap();
    let mechanism = client.mechanism();
    let initial = client.initial_response().to_vec();
    let mut server_config = server_config(server_offered);
    server_config.channel_bindings = server_cbs;
    let mut server = SaslServer::new(server_config, nonce(RFC5802.server_nonce));
    let result = (|| {
        server.start(mechanism.name(), Some(&initial))?;
        let stored = StoredScram::from_password(
            "pencil",
            b"salt".to_vec(),
            nz(16),
            mechanism.scram_hash().unwrap(),
        )
        .unwrap();
        let ServerStep::Challenge(server_first) =
            server.provide_credentials(UserCredential::Scram(stored), Authorization::Refuse)?
        else {
            panic!("expected a challenge");
        };
        let client_final = client.on_challenge(&server_first).unwrap();
        let step = server.on_response(&client_final)?;
        if let ServerStep::Success {
            additional_data, ..
        } = &step
        {
            client.on_success(additional_data).unwrap();
        }
        Ok(step)
    })();
    (mechanism, initial, result)
}

#[test]
fn plus_with_matching_channel_binding_succeeds() {
    let plus = [Mechanism::ScramSha256Plus, Mechanism::ScramSha256];
    let (mechanism, initial, result) = cb_exchange(
        &["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"],
        Some(exporter(7)),
        &plus,
        vec![
            ChannelBinding::new(CbType::TlsServerEndPoint, [1; 32]),
            exporter(7),
        ],
    );
    assert_eq!(mechanism, Mechanism::ScramSha256Plus);
    assert!(initial.starts_with(b"p=tls-exporter,,n=user,r="));
    assert!(matches!(result, Ok(ServerStep::Success { .. })));
}

#[test]
fn plus_with_wrong_channel_binding_fails() {
    let plus = [Mechanism::ScramSha256Plus, Mechanism::ScramSha256];
    let offered = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"];
    // Different data: a man in the middle terminating TLS.
    let (_, _, result) = cb_exchange(&offered, Some(exporter(7)), &plus, vec![exporter(8)]);
    let err = result.unwrap_err();
    assert_eq!(err, SaslServerError::ChannelBindingMismatch);
    assert_eq!(err.condition(), SaslFailureCondition::NotAuthorized);
    // A type the server has no data for.
    let (_, _, result) = cb_exchange(
        &offered,
        Some(ChannelBinding::new(CbType::TlsUnique, [7; 12])),
        &plus,
        vec![exporter(7)],
    );
    let err = result.unwrap_err();
    assert_eq!(err, SaslServerError::UnsupportedChannelBindingType);
    assert_eq!(err.condition(), SaslFailureCondition::NotAuthorized);
}

#[test]
fn y_flag_with_a_plus_offer_is_a_downgrade() {
    // The client can bind, but an attacker stripped the -PLUS offers it saw.
    let (mechanism, initial, result) = cb_exchange(
        &["SCRAM-SHA-256"],
        Some(exporter(7)),
        &[Mechanism::ScramSha256Plus, Mechanism::ScramSha256],
        vec![exporter(7)],
    );
    assert_eq!(mechanism, Mechanism::ScramSha256);
    assert!(initial.starts_with(b"y,,"));
    let err = result.unwrap_err();
    assert_eq!(err, SaslServerError::DowngradeDetected);
    assert_eq!(err.condition(), SaslFailureCondition::NotAuthorized);

    // Without a -PLUS offer, y is fine.
    let (_, initial, result) = cb_exchange(
        &["SCRAM-SHA-256"],
        Some(exporter(7)),
        &[Mechanism::ScramSha256],
        vec![],
    );
    assert!(initial.starts_with(b"y,,"));
    assert!(matches!(result, Ok(ServerStep::Success { .. })));
}

#[test]
fn channel_binding_flag_must_match_the_mechanism() {
    let plus = server_config(&[Mechanism::ScramSha1Plus, Mechanism::ScramSha1]);
    let mut server = SaslServer::new(plus.clone(), nonce("n"));
    let err = server
        .start("SCRAM-SHA-1-PLUS", Some(b"n,,n=user,r=abc"))
        .unwrap_err();
    assert_eq!(err, SaslServerError::ChannelBindingFlagMismatch);
    let mut server = SaslServer::new(plus, nonce("n"));
    let err = server
        .start("SCRAM-SHA-1", Some(b"p=tls-exporter,,n=user,r=abc"))
        .unwrap_err();
    assert_eq!(err, SaslServerError::ChannelBindingFlagMismatch);
    assert_eq!(err.condition(), SaslFailureCondition::MalformedRequest);
}

// ---------------------------------------------------------------------------
// PLAIN
// ---------------------------------------------------------------------------

fn plain_client(credentials: Credentials) -> SaslClient {
    let config = {
        let mut c = SaslClientConfig::default();
        c.allow_plain = true;
        c
    };
    SaslClient::start(["PLAIN"], &config, credentials, nonce("n")).unwrap()
}

fn plain_server(
    initial: &[u8],
    credential: UserCredential,
    authz: Authorization,
) -> Result<ServerStep, SaslServerError> {
    let mut server = SaslServer::new(server_config(&[Mechanism::Plain]), nonce("n"));
    server.start("PLAIN", Some(initial))?;
    server.provide_credentials(credential, authz)
}

#[test]
fn plain_is_refused_unless_allowed() {
    assert_eq!(
        SaslClient::start(
            ["PLAIN"],
            &SaslClientConfig::default(),
            Credentials::new("user", "pencil"),
            nonce("n")
        )
        .unwrap_err(),
        SaslClientError::NoAcceptableMechanism
    );
}

#[test]
fn plain_without_authzid() {
    let mut client = plain_client(Credentials::new("tim", "tanstaaftanstaaf"));
    assert_eq!(client.mechanism(), Mechanism::Plain);
    assert_eq!(client.initial_response(), b"\0tim\0tanstaaftanstaaf");
    let step = plain_server(
        client.initial_response(),
        UserCredential::Password("tanstaaftanstaaf".into()),
        Authorization::Refuse,
    )
    .unwrap();
    assert_eq!(
        step,
        ServerStep::Success {
            additional_data: Vec::new(),
            identity: Identity::User {
                authcid: "tim".into(),
                authzid: None
            },
        }
    );
    client.on_success(b"").unwrap();
    assert!(client.is_success());
    assert_eq!(client.scram_keys(), None);
}

#[test]
fn plain_with_authzid() {
    // RFC 4616 section 4.
    let client = plain_client(Credentials::new("Kurt", "xipj3plmq").authzid("Ursel"));
    assert_eq!(client.initial_response(), b"Ursel\0Kurt\0xipj3plmq");
    let mut server = SaslServer::new(server_config(&[Mechanism::Plain]), nonce("n"));
    assert_eq!(
        server.start("PLAIN", Some(client.initial_response())),
        Ok(ServerStep::NeedCredentials {
            mechanism: Mechanism::Plain,
            authcid: "Kurt".into(),
            authzid: Some("Ursel".into()),
        })
    );
    let step = server
        .provide_credentials(
            UserCredential::Password("xipj3plmq".into()),
            Authorization::Grant("Ursel".into()),
        )
        .unwrap();
    assert!(matches!(
        step,
        ServerStep::Success { identity: Identity::User { authzid: Some(ref a), .. }, .. }
            if a == "Ursel"
    ));
    // RFC 4616 section 2: the credentials must permit acting as the authzid. Neither the
    // default answer nor a grant of another identity does.
    for authorization in [
        Authorization::default(),
        Authorization::Grant("ursel".into()),
    ] {
        let err = plain_server(
            client.initial_response(),
            UserCredential::Password("xipj3plmq".into()),
            authorization,
        )
        .unwrap_err();
        assert_eq!(err, SaslServerError::AuthzidRefused);
        assert_eq!(err.condition(), SaslFailureCondition::InvalidAuthzid);
    }
    // A wrong password is not-authorized whatever the authzid: the authzid is judged only
    // once the credentials check out.
    let err = plain_server(
        client.initial_response(),
        UserCredential::Password("other".into()),
        Authorization::default(),
    )
    .unwrap_err();
    assert_eq!(err.condition(), SaslFailureCondition::NotAuthorized);
}

#[test]
fn plain_malformed() {
    for msg in [
        &b"timtanstaaf"[..],
        b"tim\0tanstaaf",
        b"\0tim\0tan\0staaf",
        b"\0\0tanstaaf",
        b"\0tim\0",
        b"\0t\xffm\0tanstaaf",
    ] {
        let err = plain_server(msg, UserCredential::Unknown, Authorization::Refuse).unwrap_err();
        assert_eq!(
            err.condition(),
            SaslFailureCondition::MalformedRequest,
            "{msg:?}"
        );
    }
}

#[test]
fn plain_wrong_password_and_unknown_user() {
    let err = plain_server(
        b"\0tim\0wrong",
        UserCredential::Password("tanstaaftanstaaf".into()),
        Authorization::Refuse,
    )
    .unwrap_err();
    assert_eq!(err, SaslServerError::InvalidCredentials);
    assert_eq!(err.condition(), SaslFailureCondition::NotAuthorized);
    // A prefix of the password is not the password.
    let err = plain_server(
        b"\0tim\0tanstaaf",
        UserCredential::Password("tanstaaftanstaaf".into()),
        Authorization::Refuse,
    )
    .unwrap_err();
    assert_eq!(err, SaslServerError::InvalidCredentials);
    let err =
        plain_server(b"\0tim\0pw", UserCredential::Unknown, Authorization::Refuse).unwrap_err();
    assert_eq!(err, SaslServerError::UnknownUser);
    assert_eq!(err.condition(), SaslFailureCondition::NotAuthorized);
}

#[test]
fn plain_against_a_stored_scram_entry() {
    for example in [&RFC5802, &RFC7677] {
        let step = plain_server(
            b"\0user\0pencil",
            UserCredential::Scram(example.stored()),
            Authorization::Refuse,
        );
        assert!(matches!(step, Ok(ServerStep::Success { .. })));
        let err = plain_server(
            b"\0user\0pencil!",
            UserCredential::Scram(example.stored()),
            Authorization::Refuse,
        )
        .unwrap_err();
        assert_eq!(err, SaslServerError::InvalidCredentials);
    }
}

#[test]
fn plain_prepares_passwords() {
    // A no-break space in the password is a space after OpaqueString.
    let step = plain_server(
        "\0tim\0a\u{00A0}b".as_bytes(),
        UserCredential::Password("a b".into()),
        Authorization::Refuse,
    );
    assert!(matches!(step, Ok(ServerStep::Success { .. })));
}

// ---------------------------------------------------------------------------
// ANONYMOUS and EXTERNAL
// ---------------------------------------------------------------------------

#[test]
fn anonymous() {
    let config = {
        let mut c = SaslClientConfig::default();
        c.preference = vec![Mechanism::Anonymous];
        c.anonymous_trace = Some("sirhc".into());
        c
    };
    let mut client = SaslClient::start(
        ["ANONYMOUS", "PLAIN"],
        &config,
        Credentials::default(),
        nonce("n"),
    )
    .unwrap();
    assert_eq!(client.mechanism(), Mechanism::Anonymous);
    assert_eq!(client.initial_response(), b"sirhc");
    let mut server = SaslServer::new(server_config(&[Mechanism::Anonymous]), nonce("n"));
    assert_eq!(
        server.start("ANONYMOUS", Some(client.initial_response())),
        Ok(ServerStep::Success {
            additional_data: Vec::new(),
            identity: Identity::Anonymous {
                trace: Some("sirhc".into())
            },
        })
    );
    client.on_success(b"").unwrap();

    let mut server = SaslServer::new(server_config(&[Mechanism::Anonymous]), nonce("n"));
    assert_eq!(
        server.start("ANONYMOUS", Some(b"")),
        Ok(ServerStep::Success {
            additional_data: Vec::new(),
            identity: Identity::Anonymous { trace: None },
        })
    );
    let mut server = SaslServer::new(server_config(&[Mechanism::Anonymous]), nonce("n"));
    let long = "x".repeat(256);
    assert_eq!(
        server.start("ANONYMOUS", Some(long.as_bytes())),
        Err(SaslServerError::MalformedTrace)
    );
    let too_long = {
        let mut c = config;
        c.anonymous_trace = Some(long);
        c
    };
    assert_eq!(
        SaslClient::start(["ANONYMOUS"], &too_long, Credentials::default(), nonce("n"))
            .unwrap_err(),
        SaslClientError::InvalidTraceToken
    );
}

#[test]
fn external() {
    let config = {
        let mut c = SaslClientConfig::default();
        c.preference = vec![Mechanism::External, Mechanism::ScramSha256];
        c
    };
    let mut client = SaslClient::start(
        ["SCRAM-SHA-256", "EXTERNAL"],
        &config,
        Credentials::default().authzid("juliet@example.com"),
        nonce("n"),
    )
    .unwrap();
    assert_eq!(client.mechanism(), Mechanism::External);
    assert_eq!(client.initial_response(), b"juliet@example.com");
    assert_eq!(encode_payload(b""), "=");

    let mut server = SaslServer::new(server_config(&[Mechanism::External]), nonce("n"));
    assert_eq!(
        server.start("EXTERNAL", Some(client.initial_response())),
        Ok(ServerStep::NeedExternal {
            authzid: Some("juliet@example.com".into())
        })
    );
    assert_eq!(
        server.provide_external(Decision::Accept),
        Ok(ServerStep::Success {
            additional_data: Vec::new(),
            identity: Identity::External {
                authzid: Some("juliet@example.com".into())
            },
        })
    );
    client.on_success(b"").unwrap();

    // Without an authzid ("=" on the wire), refused by the embedder.
    let mut server = SaslServer::new(server_config(&[Mechanism::External]), nonce("n"));
    assert_eq!(
        server.start("EXTERNAL", Some(&b64("="))),
        Ok(ServerStep::NeedExternal { authzid: None })
    );
    let err = server
        .provide_external(Decision::Refuse(SaslFailureCondition::NotAuthorized))
        .unwrap_err();
    assert_eq!(err.condition(), SaslFailureCondition::NotAuthorized);
}

// ---------------------------------------------------------------------------
// Cached keys
// ---------------------------------------------------------------------------

#[test]
fn cached_keys_replace_the_password() {
    let keys = RFC5802.check_client();
    // The keys alone reproduce the RFC exchange.
    let mut client = SaslClient::start(
        ["SCRAM-SHA-1"],
        &SaslClientConfig::default(),
        Credentials::with_scram_keys("user", keys.clone()),
        nonce(RFC5802.client_nonce),
    )
    .unwrap();
    let client_final = client
        .on_challenge(RFC5802.server_first.as_bytes())
        .unwrap();
    assert_eq!(client_final, RFC5802.client_final.as_bytes());
    client.on_success(RFC5802.server_final.as_bytes()).unwrap();
    assert_eq!(client.scram_keys(), Some(&keys));

    // So does the salted password.
    let salted =
        ScramKeys::from_password("pencil", b64(RFC5802.salt_b64), nz(4096), ScramHash::Sha1)
            .unwrap();
    let mut client = SaslClient::start(
        ["SCRAM-SHA-1"],
        &SaslClientConfig::default(),
        Credentials::with_scram_keys("user", salted),
        nonce(RFC5802.client_nonce),
    )
    .unwrap();
    let client_final = client
        .on_challenge(RFC5802.server_first.as_bytes())
        .unwrap();
    assert_eq!(client_final, RFC5802.client_final.as_bytes());

    // Another salt (the password was changed): without the password it cannot go on.
    let other_salt = RFC5802
        .server_first
        .replace("QSXCR+Q6sek8bf92", "AAAAAAAAAAAAAAAA");
    let mut client = SaslClient::start(
        ["SCRAM-SHA-1"],
        &SaslClientConfig::default(),
        Credentials::with_scram_keys("user", keys.clone()),
        nonce(RFC5802.client_nonce),
    )
    .unwrap();
    assert_eq!(
        client.on_challenge(other_salt.as_bytes()),
        Err(SaslClientError::CachedKeysMismatch)
    );
    // Another iteration count, likewise.
    let other_count = RFC5802.server_first.replace("i=4096", "i=4097");
    let mut client = SaslClient::start(
        ["SCRAM-SHA-1"],
        &SaslClientConfig::default(),
        Credentials::with_scram_keys("user", keys.clone()),
        nonce(RFC5802.client_nonce),
    )
    .unwrap();
    assert_eq!(
        client.on_challenge(other_count.as_bytes()),
        Err(SaslClientError::CachedKeysMismatch)
    );
    // With the password as well, it falls back to it and gets new keys.
    let mut credentials = Credentials::new("user", "pencil");
    credentials.scram_keys = Some(keys.clone());
    let mut client = SaslClient::start(
        ["SCRAM-SHA-1"],
        &SaslClientConfig::default(),
        credentials,
        nonce(RFC5802.client_nonce),
    )
    .unwrap();
    client.on_challenge(other_salt.as_bytes()).unwrap();

    // SCRAM-SHA-1 keys do not make SCRAM-SHA-256 usable.
    assert_eq!(
        SaslClient::start(
            ["SCRAM-SHA-256"],
            &SaslClientConfig::default(),
            Credentials::with_scram_keys("user", keys),
            nonce(RFC5802.client_nonce),
        )
        .unwrap_err(),
        SaslClientError::NoAcceptableMechanism
    );
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

#[test]
fn commas_and_equals_signs_in_usernames_are_escaped() {
    let mut client = SaslClient::start(
        ["SCRAM-SHA-1"],
        &SaslClientConfig::default(),
        Credentials::new("a,b=c", "pencil").authzid("x=y,z"),
        nonce("abc"),
    )
    .unwrap();
    assert_eq!(
        client.initial_response(),
        b"n,a=x=3Dy=2Cz,n=a=2Cb=3Dc,r=abc"
    );
    let mut server = RFC5802.server();
    assert_eq!(
        server.start("SCRAM-SHA-1", Some(client.initial_response())),
        Ok(ServerStep::NeedCredentials {
            mechanism: Mechanism::ScramSha1,
            authcid: "a,b=c".into(),
            authzid: Some("x=y,z".into()),
        })
    );
    let stored =
        StoredScram::from_password("pencil", b"salt".to_vec(), nz(8), ScramHash::Sha1).unwrap();
    let ServerStep::Challenge(server_first) = server
        .provide_credentials(
            UserCredential::Scram(stored),
            Authorization::Grant("x=y,z".into()),
        )
        .unwrap()
    else {
        panic!("expected a challenge");
    };
    let client_final = client.on_challenge(&server_first).unwrap();
    let ServerStep::Success {
        additional_data,
        identity,
    } = server.on_response(&client_final).unwrap()
    else {
        panic!("expected success");
    };
    assert_eq!(
        identity,
        Identity::User {
            authcid: "a,b=c".into(),
            authzid: Some("x=y,z".into())
        }
    );
    client.on_success(&additional_data).unwrap();
}

#[test]
fn invalid_names_and_passwords() {
    let start = |credentials: Credentials| {
        SaslClient::start(
            ["SCRAM-SHA-1"],
            &SaslClientConfig::default(),
            credentials,
            nonce("abc"),
        )
    };
    assert_eq!(
        start(Credentials::new("", "pencil")).unwrap_err(),
        SaslClientError::Preparation(PreparationError::Username)
    );
    assert_eq!(
        start(Credentials::new("us er", "pencil")).unwrap_err(),
        SaslClientError::Preparation(PreparationError::Username)
    );
    assert_eq!(
        start(Credentials::new("user", "")).unwrap_err(),
        SaslClientError::Preparation(PreparationError::Password)
    );
    assert_eq!(
        start(Credentials::new("user", "pencil").authzid("a\0b")).unwrap_err(),
        SaslClientError::InvalidAuthzid
    );
    // An empty authzid counts as none.
    assert_eq!(
        start(Credentials::new("user", "pencil").authzid(""))
            .unwrap()
            .initial_response(),
        b"n,,n=user,r=abc"
    );
}

#[test]
fn errors_display_for_people() {
    let texts = [
        SaslClientError::ServerSignatureMismatch.to_string(),
        SaslClientError::IterationCountOutOfRange {
            count: 0,
            min: 1,
            max: 2,
        }
        .to_string(),
        SaslServerError::DowngradeDetected.to_string(),
        SaslServerError::MalformedScram(ScramSyntaxError::Expected('r')).to_string(),
        IncorrectEncoding.to_string(),
    ];
    for text in texts {
        assert!(!text.is_empty());
        assert!(!text.contains("Sasl"), "{text}");
    }
}

// ---------------------------------------------------------------------------
// Properties: nothing a peer sends makes either side panic
// ---------------------------------------------------------------------------

/// Bytes that are often close to SCRAM syntax, and sometimes anything at all.
fn peer_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..96),
        "[a-z=,0-9+/nypr\\-]{0,64}".prop_map(String::into_bytes),
        (
            "[a-z]{0,3}",
            "[A-Za-z0-9+/=]{0,30}",
            "[0-9]{0,22}",
            "(,[a-z]=[^,]{0,4}){0,2}"
        )
            .prop_map(|(extra, salt, count, ext)| {
                format!("r=abc{extra},s={salt},i={count}{ext}").into_bytes()
            }),
        "(c=[A-Za-z0-9+/=]{0,12},)?(r=[a-z]{0,8},)?(p=[A-Za-z0-9+/=]{0,30})?"
            .prop_map(String::into_bytes),
    ]
}

/// `msg` with one byte changed, or cut short.
fn mutate(msg: &[u8], at: usize, byte: u8, cut: bool) -> Vec<u8> {
    let mut out = msg.to_vec();
    if out.is_empty() {
        return out;
    }
    let at = at % out.len();
    if cut {
        out.truncate(at);
    } else {
        out[at] = byte;
    }
    out
}

fn cheap_client(mechanism: &str, cb: bool) -> SaslClient {
    let config = {
        let mut c = SaslClientConfig::default();
        c.preference = Mechanism::ALL.to_vec();
        c.allow_plain = true;
        c.max_iterations = 4;
        c.channel_binding = cb.then(|| exporter(1));
        c
    };
    SaslClient::start(
        [mechanism],
        &config,
        Credentials::new("user", "pencil"),
        nonce("abc"),
    )
    .unwrap()
}

fn cheap_server() -> SaslServer {
    let mut config = server_config(&Mechanism::ALL);
    config.channel_bindings = vec![exporter(1)];
    config.scram_iterations = nz(2);
    SaslServer::new(config, nonce("srv"))
}

fn cheap_credential(mechanism: Mechanism, which: u8) -> UserCredential {
    let hash = mechanism.scram_hash().unwrap_or(ScramHash::Sha256);
    match which % 4 {
        0 => UserCredential::Scram(
            StoredScram::from_password("pencil", b"salt".to_vec(), nz(2), hash).unwrap(),
        ),
        1 => UserCredential::Password("pencil".into()),
        2 => UserCredential::Unknown,
        _ => UserCredential::Refuse(SaslFailureCondition::AccountDisabled),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn client_never_panics(
        mechanism in prop::sample::select(Mechanism::ALL.to_vec()),
        first in peer_bytes(),
        second in peer_bytes(),
        third in peer_bytes(),
    ) {
        let mut client = cheap_client(mechanism.name(), mechanism.is_plus());
        let _ = client.on_challenge(&first);
        let _ = client.on_challenge(&second);
        let _ = client.on_success(&third);
        let _ = client.scram_keys();
        let _ = format!("{client:?}");
    }

    #[test]
    fn client_never_panics_on_mutated_server_messages(
        at in any::<usize>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
        mutate_final in any::<bool>(),
    ) {
        // A real exchange with a cheap iteration count, one message of which is damaged.
        let mut client = cheap_client("SCRAM-SHA-1", false);
        let mut server = cheap_server();
        server.start("SCRAM-SHA-1", Some(client.initial_response())).unwrap();
        let ServerStep::Challenge(server_first) = server
            .provide_credentials(cheap_credential(Mechanism::ScramSha1, 0), Authorization::Refuse)
            .unwrap()
        else {
            panic!("expected a challenge");
        };
        let server_first = if mutate_final { server_first } else { mutate(&server_first, at, byte, cut) };
        let Ok(client_final) = client.on_challenge(&server_first) else {
            return Ok(());
        };
        let outcome = server.on_response(&client_final);
        if let Ok(ServerStep::Success { additional_data, .. }) = outcome {
            let data = if mutate_final { mutate(&additional_data, at, byte, cut) } else { additional_data };
            let _ = client.on_success(&data);
        }
    }

    #[test]
    fn server_never_panics(
        mechanism in prop::sample::select(Mechanism::ALL.to_vec()),
        send_initial in any::<bool>(),
        initial in peer_bytes(),
        which in any::<u8>(),
        response in peer_bytes(),
        last in peer_bytes(),
    ) {
        let mut server = cheap_server();
        let step = if send_initial {
            server.start(mechanism.name(), Some(&initial))
        } else {
            server.start(mechanism.name(), None).and_then(|_| server.on_response(&initial))
        };
        match step {
            Ok(ServerStep::NeedCredentials { .. }) => {
                let _ = server.provide_credentials(cheap_credential(mechanism, which), Authorization::Refuse);
            }
            Ok(ServerStep::NeedExternal { .. }) => {
                let _ = server.provide_external(Decision::Accept);
            }
            _ => {}
        }
        let _ = server.on_response(&response);
        let _ = server.on_response(&last);
        let _ = format!("{server:?}");
    }

    #[test]
    fn server_never_panics_on_mutated_client_messages(
        mechanism in prop::sample::select(vec![
            Mechanism::ScramSha1, Mechanism::ScramSha256Plus, Mechanism::Plain
        ]),
        which in any::<u8>(),
        at in any::<usize>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
        mutate_final in any::<bool>(),
    ) {
        let mut client = cheap_client(mechanism.name(), mechanism.is_plus());
        let mut server = cheap_server();
        let initial = client.initial_response().to_vec();
        let initial = if mutate_final { initial } else { mutate(&initial, at, byte, cut) };
        let Ok(ServerStep::NeedCredentials { .. }) = server.start(mechanism.name(), Some(&initial)) else {
            return Ok(());
        };
        let Ok(ServerStep::Challenge(server_first)) =
            server.provide_credentials(cheap_credential(mechanism, which), Authorization::Refuse)
        else {
            return Ok(());
        };
        let Ok(client_final) = client.on_challenge(&server_first) else {
            return Ok(());
        };
        let original = client_final.clone();
        let client_final = if mutate_final { mutate(&client_final, at, byte, cut) } else { client_final };
        if let Ok(ServerStep::Success { .. }) = server.on_response(&client_final) {
            // Unknown and refused users never authenticate, and neither does a damaged
            // client-final-message. (A damaged client-first-message may: the embedder was
            // asked about the damaged name and gave the same credential.)
            prop_assert!(which % 4 < 2, "an unknown or refused user authenticated");
            prop_assert!(
                !mutate_final || client_final == original,
                "a damaged client-final-message authenticated"
            );
        }
    }

    #[test]
    fn payload_decoding_never_panics(text in "\\PC{0,64}") {
        let _ = decode_payload(&text);
    }

    #[test]
    fn payloads_round_trip(data in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(decode_payload(&encode_payload(&data)), Ok(data));
    }

    #[test]
    fn exchanges_succeed_for_any_valid_name_and_password(
        username in "[a-zA-Z0-9,=@._-]{1,16}",
        password in "[ -~]{1,16}",
        mechanism in prop::sample::select(vec![
            Mechanism::ScramSha1, Mechanism::ScramSha256, Mechanism::ScramSha256Plus
        ]),
    ) {
        // The client sees the server's whole offer and picks by preference.
        let config = {
            let mut c = SaslClientConfig::default();
            c.preference = vec![mechanism];
            c.channel_binding = Some(exporter(1));
            c
        };
        let mut client = SaslClient::start(
            Mechanism::ALL.map(Mechanism::name),
            &config,
            Credentials::new(username.clone(), password.clone()),
            nonce("abc"),
        )
        .unwrap();
        let mut server = cheap_server();
        let step = server.start(mechanism.name(), Some(client.initial_response())).unwrap();
        prop_assert_eq!(
            step,
            ServerStep::NeedCredentials { mechanism, authcid: username.clone(), authzid: None }
        );
        let hash = mechanism.scram_hash().unwrap();
        let stored = StoredScram::from_password(&password, b"salt".to_vec(), nz(2), hash).unwrap();
        let ServerStep::Challenge(server_first) = server
            .provide_credentials(UserCredential::Scram(stored), Authorization::Refuse)
            .unwrap()
        else {
            panic!("expected a challenge");
        };
        let client_final = client.on_challenge(&server_first).unwrap();
        let ServerStep::Success { additional_data, .. } = server.on_response(&client_final).unwrap()
        else {
            panic!("expected success");
        };
        prop_assert_eq!(client.on_success(&additional_data), Ok(()));
    }
}
