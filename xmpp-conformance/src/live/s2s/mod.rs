//! Live s2s runs (vectors/README.md, "Live runs"). Both directions need the runner to be a
//! server with a domain of its own, the site's `peer_domain`, which must lead the server
//! under test to the runner's `--listen` address:
//!
//! - `live s2s-in` ([`incoming`]): the runner is the originating server of the `s2s-in`
//!   vectors, connecting to the server under test's s2s port, and also its domain's
//!   authoritative server ([`authority`], XEP-0220 section 2.2.2): the server under test
//!   checks the runner's dialback key by connecting back to `peer_domain` and sending
//!   `<db:verify/>`, which the runner answers as the vector's embedder decided.
//! - `live s2s-out` ([`outgoing`]): the runner is the receiving server of the `s2s-out`
//!   vectors. A server opens an s2s stream only when it has a stanza to route there, so a
//!   trigger (a command: a user of the server under test sending a message to
//!   `peer_domain`) stands for the vector's `open`, and the runner accepts the stream that
//!   follows.

pub mod authority;
pub mod incoming;
pub mod outgoing;

pub use authority::Authority;
pub use incoming::plan_s2s_in;
pub use outgoing::{TRIGGER_MARKER, plan_s2s_out};

use super::plan::attr;

/// The `id` of every stream header in `text` (what the server under test sent).
pub(in crate::live) fn header_ids(text: &str) -> impl Iterator<Item = String> + '_ {
    text.match_indices("<stream:stream").filter_map(|(at, _)| {
        let end = at + text[at..].find('>')?;
        attr(&text[at..end], "id")
    })
}

/// `text` without the complete `<message>` elements that carry `marker` (the trigger's
/// message of `live s2s-out`), or `None` when it holds none.
pub(in crate::live) fn without_marked_messages(text: &str, marker: &str) -> Option<String> {
    if !text.contains(marker) {
        return None;
    }
    let (mut out, mut rest, mut cut) = (String::new(), text, false);
    while let Some((start, end)) = element(rest, "<message", "</message>") {
        let keep = !rest[start..end].contains(marker);
        out.push_str(&rest[..if keep { end } else { start }]);
        cut |= !keep;
        rest = &rest[end..];
    }
    out.push_str(rest);
    cut.then_some(out)
}

/// The end of the first stream header in `text`.
pub(in crate::live) fn header_end(text: &str) -> Option<usize> {
    let at = text.find("<stream:stream")?;
    text[at..].find('>').map(|e| at + e + 1)
}

/// The end of the first element starting with `open` (`<name`) in `text`, once complete.
pub(in crate::live) fn element_end(text: &str, open: &str, close: &str) -> Option<usize> {
    element(text, open, close).map(|(_, end)| end)
}

/// The span of the first complete element starting with `open` in `text`: empty
/// (`<name .../>`) or up to its end tag `close`.
pub(in crate::live) fn element(text: &str, open: &str, close: &str) -> Option<(usize, usize)> {
    let start = text.find(open)?;
    let after = text[start + open.len()..].chars().next()?;
    if !(after.is_whitespace() || after == '>' || after == '/') {
        return None;
    }
    let tag_end = start + text[start..].find('>')?;
    if text[..tag_end].ends_with('/') {
        return Some((start, tag_end + 1));
    }
    let end = tag_end + text[tag_end..].find(close)? + close.len();
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_triggers_message_is_taken_out() {
        let text = "<a/><message to='x'><body>live-s2s-out-trigger</body></message><b/>";
        assert_eq!(
            without_marked_messages(text, "live-s2s-out-trigger").as_deref(),
            Some("<a/><b/>")
        );
        // Another message stays; an incomplete one waits.
        let other = "<message to='x'><body>hi</body></message>";
        assert_eq!(without_marked_messages(other, "live-s2s-out-trigger"), None);
        let partial = "<message><body>live-s2s-out-trigger</bo";
        assert_eq!(
            without_marked_messages(partial, "live-s2s-out-trigger"),
            None
        );
    }

    #[test]
    fn elements_are_found_once_complete() {
        assert_eq!(
            element("<db:verify from='a'", "<db:verify", "</db:verify>"),
            None
        );
        assert_eq!(
            element("x<db:verify a='1'/>y", "<db:verify", "</db:verify>"),
            Some((1, 19))
        );
        assert_eq!(
            element(
                "<db:verify a='1'>k</db:verify>",
                "<db:verify",
                "</db:verify>"
            ),
            Some((0, 30))
        );
        assert_eq!(
            element("<db:verify a='1'>k</db:ver", "<db:verify", "</db:verify>"),
            None
        );
        // Another element whose name starts the same is not it.
        assert_eq!(element("<starttlsx/>", "<starttls", "</starttls>"), None);
        assert_eq!(header_end("<?xml?><stream:stream a='b'>rest"), Some(28));
    }
}
