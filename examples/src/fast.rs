//! The client examples' FAST token file (`--fast-token FILE`, XEP-0484): where a token the
//! server gave is kept between runs, with the `<user-agent id>` it is tied to (servers such
//! as Prosody's `mod_sasl2_fast` find a client's token by that id, so it must be the same
//! at the next login). The token is a secret, like a password: the file is written with
//! mode 0600 (replaced whole, through a temporary file beside it), and nothing here prints
//! it.
//!
//! The file has one `key value` pair a line: `user-agent`, `mechanism`, `expiry`, `token`
//! (the last three only once a token came).

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use xmpp_sansio::client::{FastToken, HtMechanism};

/// What a token file holds.
#[derive(Clone)]
pub struct FastFile {
    /// Where it is.
    pub path: PathBuf,
    /// The `<user-agent id>` of this installation: read from the file, or made afresh (a
    /// random UUID, as XEP-0388 section 2.3 recommends) when there is none.
    pub user_agent_id: String,
    /// The token kept, if any.
    pub token: Option<FastToken>,
}

// The token is a secret: `Debug` shows only whether there is one.
impl fmt::Debug for FastFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastFile")
            .field("path", &self.path)
            .field("user_agent_id", &self.user_agent_id)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A random (version 4) UUID.
pub fn random_uuid() -> String {
    let mut b = crate::random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

impl FastFile {
    /// Reads `path`; a missing file is an empty one (a fresh user agent id, no token). A
    /// file that is there but unreadable or malformed is an error: better to stop than to
    /// overwrite what the user may still want.
    pub fn load(path: &Path) -> io::Result<FastFile> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let (mut ua, mut mechanism, mut expiry, mut secret) = (None, None, None, None);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line
                .split_once(' ')
                .ok_or_else(|| bad("a line without a value"))?;
            let value = value.trim().to_owned();
            match key {
                "user-agent" => ua = Some(value),
                "mechanism" => {
                    let m = value
                        .parse::<HtMechanism>()
                        .map_err(|_| bad("an unknown mechanism"))?;
                    mechanism = Some(m);
                }
                "expiry" => expiry = Some(value),
                "token" => secret = Some(value),
                _ => return Err(bad("an unknown key")),
            }
        }
        let token = match (mechanism, secret) {
            (Some(mechanism), Some(secret)) => Some(FastToken {
                mechanism,
                secret,
                expiry: expiry.unwrap_or_default(),
            }),
            (None, None) => None,
            _ => return Err(bad("a token without its mechanism, or the reverse")),
        };
        Ok(FastFile {
            path: path.to_owned(),
            user_agent_id: ua.unwrap_or_else(random_uuid),
            token,
        })
    }

    /// Writes the file (mode 0600): the user agent id and the token, if any.
    pub fn save(&self) -> io::Result<()> {
        let mut text = format!("user-agent {}\n", self.user_agent_id);
        if let Some(t) = &self.token {
            text.push_str(&format!(
                "mechanism {}\nexpiry {}\ntoken {}\n",
                t.mechanism.name(),
                t.expiry,
                t.secret
            ));
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        // A leftover temporary file of another mode is replaced, not reused.
        let _ = fs::remove_file(&tmp);
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("xmpp-examples-{name}-{}", std::process::id()))
    }

    #[test]
    fn a_missing_file_is_a_fresh_user_agent_without_token() {
        let path = temp("fast-missing");
        let _ = fs::remove_file(&path);
        let file = FastFile::load(&path).unwrap();
        assert!(file.token.is_none());
        // A version 4 UUID.
        let id = &file.user_agent_id;
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(&id[14..15], "4", "{id}");
        assert_ne!(FastFile::load(&path).unwrap().user_agent_id, *id);
    }

    #[test]
    fn saved_tokens_load_again_with_mode_0600_and_never_show_in_debug() {
        let path = temp("fast-roundtrip");
        let mut file = FastFile::load(&path).unwrap();
        file.token = Some(FastToken {
            mechanism: HtMechanism::Sha256None,
            secret: "s3cr3t-token".to_owned(),
            expiry: "2026-12-21T11:57:43Z".to_owned(),
        });
        file.save().unwrap();
        let again = FastFile::load(&path).unwrap();
        assert_eq!(again.user_agent_id, file.user_agent_id);
        let token = again.token.as_ref().unwrap();
        assert_eq!(token.mechanism, HtMechanism::Sha256None);
        assert_eq!(token.secret, "s3cr3t-token");
        assert_eq!(token.expiry, "2026-12-21T11:57:43Z");
        assert!(!format!("{again:?}").contains("s3cr3t"), "{again:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Forgotten: the id stays, the token goes.
        file.token = None;
        file.save().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(FastFile::load(&path).unwrap().token.is_none());
        let _ = fs::remove_file(&path);
    }

    #[test]
    fn a_malformed_file_is_an_error_not_overwritten() {
        let path = temp("fast-malformed");
        fs::write(&path, "token only-a-secret\n").unwrap();
        assert!(FastFile::load(&path).is_err());
        fs::write(&path, "colour blue\n").unwrap();
        assert!(FastFile::load(&path).is_err());
        fs::write(&path, "mechanism HT-MD5\ntoken x\n").unwrap();
        assert!(FastFile::load(&path).is_err());
        let _ = fs::remove_file(&path);
    }
}
