//! Property tests for the JID module (RFC 7622).

use proptest::prelude::*;
use xmpp_sansio::jid::{BareJid, FullJid, Jid};

/// Localparts from a safe alphabet: ASCII letters (both cases), digits,
/// `.`, `-`, `_`, and left-to-right non-ASCII letters.
fn localpart() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._-]{1,24}",
        "[a-zA-Z0-9äöüßéàçñπσςΣΩжЖяЯ日本語._-]{1,24}",
    ]
}

/// One DNS label in LDH form, or a short Latin label with diacritics.
/// Labels starting with `xn--` are left out: they must be valid Punycode,
/// which random letters are not.
fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9]([a-zA-Z0-9-]{0,12}[a-zA-Z0-9])?",
        "[a-zäöüéñ]{1,12}",
        "_[a-z]{1,8}",
    ]
    .prop_filter("not an A-label", |l| {
        !l.to_ascii_lowercase().starts_with("xn--")
    })
}

/// Domain names ending in an alphabetic label, so they never look like an
/// IPv4 address.
fn domainpart() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(label(), 0..4),
        "[a-zA-Z]{2,8}",
        any::<bool>(),
    )
        .prop_map(|(labels, tld, trailing_dot)| {
            let mut d = labels.join(".");
            if !d.is_empty() {
                d.push('.');
            }
            d.push_str(&tld);
            if trailing_dot {
                d.push('.');
            }
            d
        })
}

/// Resourceparts: printable ASCII (including space, `@` and `/`) and some
/// non-ASCII symbols and spaces.
fn resourcepart() -> impl Strategy<Value = String> {
    prop_oneof!["[ -~]{1,32}", "[ -~äöü♚♛π日本語\u{A0}\u{2003}]{1,32}",]
}

/// Strings made mostly of characters that matter to JID parsing.
fn jidish() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9@/.:\\[\\] _\"'<>&\u{FF20}\u{FF0F}\u{3002}\u{200D}\u{5D0}äßΣ♚-]{0,40}"
}

fn check_normalized_round_trip(jid: &Jid) -> Result<(), TestCaseError> {
    let shown = jid.to_string();
    prop_assert_eq!(shown.as_str(), jid.as_str());
    let again = Jid::parse(&shown).map_err(|e| TestCaseError::fail(format!("{shown:?}: {e}")))?;
    prop_assert_eq!(&again, jid);
    prop_assert_eq!(again.to_string(), shown);
    prop_assert_eq!(again.local(), jid.local());
    prop_assert_eq!(again.domain(), jid.domain());
    prop_assert_eq!(again.resource(), jid.resource());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_jids_round_trip(
        local in proptest::option::of(localpart()),
        domain in domainpart(),
        resource in proptest::option::of(resourcepart()),
    ) {
        let built = Jid::new(local.as_deref(), &domain, resource.as_deref())
            .map_err(|e| TestCaseError::fail(format!("{local:?} {domain:?} {resource:?}: {e}")))?;
        check_normalized_round_trip(&built)?;

        // Parsing the joined string gives the same JID as building it from
        // parts: the localpart and domainpart cannot contain '@' or '/'.
        let mut joined = String::new();
        if let Some(l) = &local {
            joined.push_str(l);
            joined.push('@');
        }
        joined.push_str(&domain);
        if let Some(r) = &resource {
            joined.push('/');
            joined.push_str(r);
        }
        let parsed = Jid::parse(&joined)
            .map_err(|e| TestCaseError::fail(format!("{joined:?}: {e}")))?;
        prop_assert_eq!(&parsed, &built);

        // The typed views agree with the general one.
        prop_assert_eq!(parsed.is_full(), resource.is_some());
        let bare = parsed.to_bare();
        prop_assert_eq!(BareJid::parse(bare.as_str()), Ok(bare.clone()));
        prop_assert_eq!(bare.local(), parsed.local());
        prop_assert_eq!(bare.domain(), parsed.domain());
        let domain_jid = bare.domain_jid();
        prop_assert_eq!(domain_jid.as_str(), parsed.domain());
        if let Some(r) = &resource {
            let full = FullJid::try_from(parsed.clone()).unwrap();
            prop_assert_eq!(bare.with_resource(r), Ok(full.clone()));
            prop_assert_eq!(full.to_bare(), bare);
        }
    }

    #[test]
    fn ascii_local_and_domain_are_lowercased(
        local in "[a-zA-Z0-9]{1,16}",
        domain in "[a-zA-Z]{1,16}\\.[a-zA-Z]{2,6}",
    ) {
        let jid = BareJid::new(Some(&local), &domain).unwrap();
        let expected_local = local.to_ascii_lowercase();
        let expected_domain = domain.to_ascii_lowercase();
        prop_assert_eq!(jid.local(), Some(expected_local.as_str()));
        prop_assert_eq!(jid.domain(), expected_domain.as_str());
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        if let Ok(jid) = Jid::parse(&s) {
            check_normalized_round_trip(&jid)?;
        }
        let _ = BareJid::parse(&s);
        let _ = FullJid::parse(&s);
    }

    #[test]
    fn jid_like_strings_never_panic(s in jidish()) {
        match Jid::parse(&s) {
            Ok(jid) => check_normalized_round_trip(&jid)?,
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
