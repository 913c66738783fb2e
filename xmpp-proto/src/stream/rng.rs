//! The embedder-seeded generator of stream ids, nonces, resources and stanza ids.

/// A deterministic generator for ids, nonces and resources, seeded by the embedder: the core
/// never asks the operating system for randomness, so exchanges replay exactly. Each output
/// is SHA-256 of the seed and a counter, so that seeing some outputs (stream ids, nonces)
/// tells nothing of the others, as it would with an invertible mixer.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    seed: u64,
    counter: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { seed, counter: 0 }
    }

    pub fn next_u64(&mut self) -> u64 {
        use sha2::{Digest, Sha256};
        self.counter += 1;
        let digest = Sha256::new()
            .chain_update(self.seed.to_le_bytes())
            .chain_update(self.counter.to_le_bytes())
            .finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
    }

    /// `n` random letters and digits.
    pub fn token(&mut self, n: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..n)
            .map(|_| ALPHABET[(self.next_u64() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// Stanza ids for the embedder (`next_id` on every role): unique in the session, since each
/// ends in a serial number, and unguessable, since each starts with letters from the
/// session's generator.
#[derive(Debug, Clone)]
pub(crate) struct StanzaIds {
    rng: Rng,
    issued: u64,
}

impl StanzaIds {
    pub fn new(rng: Rng) -> Self {
        StanzaIds { rng, issued: 0 }
    }

    pub fn next(&mut self) -> String {
        next_id(&mut self.rng, &mut self.issued)
    }
}

/// The next stanza id from `rng`, `issued` ids having been made before.
pub(crate) fn next_id(rng: &mut Rng, issued: &mut u64) -> String {
    *issued += 1;
    format!("{}{}", rng.token(4), issued)
}
