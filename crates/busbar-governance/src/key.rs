//! Virtual key material: the `sk-bb-` secret, its lookup hash and the `vk_` id.
//!
//! The secret is 128 bits from the operating system's generator, so a plain
//! SHA-256 is the right lookup hash: a slow password hash protects guessable
//! inputs, and nobody guesses 2^128. The hash is the only form of the secret
//! the store can search by; the sealed copy (see `seal`) is for SigV4.

use std::fmt;

use sha2::{Digest, Sha256};

/// Every virtual key starts with this.
pub(crate) const SECRET_PREFIX: &str = "sk-bb-";
/// Every key id starts with this.
pub(crate) const ID_PREFIX: &str = "vk_";

const SECRET_HEX_LEN: usize = 32;
const ID_HEX_LEN: usize = 16;

/// A virtual key's secret, `sk-bb-` + 32 lowercase hex digits.
///
/// `Debug` never prints it; [`expose`](Self::expose) is the one way out.
#[derive(Clone, PartialEq, Eq)]
pub struct VirtualKey(String);

impl VirtualKey {
    /// A fresh key with 128 bits from the operating system.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; SECRET_HEX_LEN / 2];
        getrandom::fill(&mut bytes)?;
        Ok(Self(format!("{SECRET_PREFIX}{}", hex(&bytes))))
    }

    /// Wraps a presented string if it has the shape of a virtual key.
    pub fn parse(text: &str) -> Option<Self> {
        looks_like_virtual_key(text).then(|| Self(text.to_owned()))
    }

    /// The secret itself, for the one response that shows it and for SigV4.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The lookup hash: lowercase hex SHA-256 of the whole secret.
    pub fn lookup_hash(&self) -> String {
        lookup_hash(&self.0)
    }
}

impl fmt::Debug for VirtualKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VirtualKey(<redacted>)")
    }
}

/// Whether `text` has the shape of a virtual key: `sk-bb-` and 32 lowercase
/// hex digits. The server can use it to tell a virtual key from other tokens
/// before touching the store.
pub fn looks_like_virtual_key(text: &str) -> bool {
    text.strip_prefix(SECRET_PREFIX)
        .is_some_and(|rest| rest.len() == SECRET_HEX_LEN && is_lower_hex(rest))
}

/// Whether `text` has the shape of a key id: `vk_` and 16 lowercase hex
/// digits. Routes can answer 404 for anything else without a lookup.
pub fn looks_like_key_id(text: &str) -> bool {
    text.strip_prefix(ID_PREFIX)
        .is_some_and(|rest| rest.len() == ID_HEX_LEN && is_lower_hex(rest))
}

/// The lowercase hex SHA-256 of `secret`, however it is shaped: an unknown
/// token hashes to a value no key has.
pub fn lookup_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// A fresh key id, `vk_` + 16 hex digits (64 random bits).
pub(crate) fn generate_key_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; ID_HEX_LEN / 2];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{ID_PREFIX}{}", hex(&bytes)))
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_contract_shape() {
        let key = VirtualKey::generate().expect("os randomness");
        let text = key.expose();
        assert!(text.starts_with("sk-bb-"), "{text}");
        assert_eq!(text.len(), 6 + 32);
        assert!(looks_like_virtual_key(text));
        assert_eq!(VirtualKey::parse(text), Some(key));
    }

    #[test]
    fn generated_ids_have_the_contract_shape() {
        let id = generate_key_id().expect("os randomness");
        assert!(id.starts_with("vk_") && id.len() == 3 + 16, "{id}");
        assert!(looks_like_key_id(&id));
    }

    #[test]
    fn generated_keys_differ() {
        let a = VirtualKey::generate().expect("os randomness");
        let b = VirtualKey::generate().expect("os randomness");
        assert_ne!(a, b);
        assert_ne!(generate_key_id().ok(), generate_key_id().ok());
    }

    #[test]
    fn shapes_are_checked_exactly() {
        assert!(!looks_like_virtual_key(
            "sk-bb-0123456789abcdef0123456789abcde"
        ));
        assert!(!looks_like_virtual_key(
            "sk-bb-0123456789abcdef0123456789abcdef0"
        ));
        assert!(!looks_like_virtual_key(
            "sk-bb-0123456789ABCDEF0123456789abcdef"
        ));
        assert!(!looks_like_virtual_key(
            "sk-xx-0123456789abcdef0123456789abcdef"
        ));
        assert!(looks_like_virtual_key(
            "sk-bb-0123456789abcdef0123456789abcdef"
        ));
        assert!(!looks_like_key_id("vk_0123456789abcdeg"));
        assert!(!looks_like_key_id("vk_0123"));
        assert!(VirtualKey::parse("Bearer sk-bb-x").is_none());
    }

    #[test]
    fn lookup_hash_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            lookup_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let key = VirtualKey::parse("sk-bb-0123456789abcdef0123456789abcdef").expect("shape");
        assert_eq!(key.lookup_hash(), lookup_hash(key.expose()));
        assert_eq!(key.lookup_hash().len(), 64);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = VirtualKey::generate().expect("os randomness");
        let printed = format!("{key:?}");
        assert!(!printed.contains("sk-bb-"), "{printed}");
    }
}
