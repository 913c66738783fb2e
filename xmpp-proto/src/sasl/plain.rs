//! The `PLAIN` message (RFC 4616 section 2): `[authzid] NUL authcid NUL passwd`.

/// A parsed `PLAIN` message. The parts are UTF-8 and not empty (the authzid is `None`
/// when empty); they are not yet prepared.
pub(crate) struct PlainMessage<'a> {
    pub authzid: Option<&'a str>,
    pub authcid: &'a str,
    pub password: &'a str,
}

impl core::fmt::Debug for PlainMessage<'_> {
    // Written by hand: the password must never reach a log.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PlainMessage")
            .field("authzid", &self.authzid)
            .field("authcid", &self.authcid)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why a `PLAIN` message is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlainError {
    /// Not exactly two NULs.
    Separators,
    /// A part is not UTF-8 (RFC 4616 section 2: `UTF8-SAFE`).
    NotUtf8,
    /// The authcid or the password is empty (RFC 4616: `1*SAFE`).
    Empty,
}

/// Builds the message. The caller has checked that no part has a NUL.
pub(crate) fn build(authzid: Option<&str>, authcid: &str, password: &str) -> Vec<u8> {
    let authzid = authzid.unwrap_or("");
    let mut out = Vec::with_capacity(authzid.len() + authcid.len() + password.len() + 2);
    out.extend_from_slice(authzid.as_bytes());
    out.push(0);
    out.extend_from_slice(authcid.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}

/// Parses the message.
pub(crate) fn parse(msg: &[u8]) -> Result<PlainMessage<'_>, PlainError> {
    let mut parts = msg.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PlainError::Separators);
    };
    let text = |b| core::str::from_utf8(b).map_err(|_| PlainError::NotUtf8);
    let (authzid, authcid, password) = (text(authzid)?, text(authcid)?, text(password)?);
    if authcid.is_empty() || password.is_empty() {
        return Err(PlainError::Empty);
    }
    Ok(PlainMessage {
        authzid: (!authzid.is_empty()).then_some(authzid),
        authcid,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let msg = build(Some("admin"), "tim", "tanstaaftanstaaf");
        assert_eq!(msg, b"admin\0tim\0tanstaaftanstaaf");
        let parsed = parse(&msg).unwrap();
        assert_eq!(parsed.authzid, Some("admin"));
        assert_eq!(parsed.authcid, "tim");
        assert_eq!(parsed.password, "tanstaaftanstaaf");
        let msg = build(None, "tim", "tanstaaftanstaaf");
        assert_eq!(msg, b"\0tim\0tanstaaftanstaaf");
        assert_eq!(parse(&msg).unwrap().authzid, None);
    }

    #[test]
    fn malformed() {
        assert_eq!(parse(b"tim").unwrap_err(), PlainError::Separators);
        assert_eq!(parse(b"tim\0pw").unwrap_err(), PlainError::Separators);
        assert_eq!(parse(b"a\0b\0c\0d").unwrap_err(), PlainError::Separators);
        assert_eq!(parse(b"\0\0pw").unwrap_err(), PlainError::Empty);
        assert_eq!(parse(b"\0tim\0").unwrap_err(), PlainError::Empty);
        assert_eq!(parse(b"\0t\xffm\0pw").unwrap_err(), PlainError::NotUtf8);
    }
}
