//! Sealing virtual keys under the server secret, so SigV4 can recover them.
//!
//! A Bedrock client signs with the virtual key as its AWS secret, and
//! verifying a signature needs that secret back: the lookup hash cannot give
//! it. So each key is also stored sealed with ChaCha20-Poly1305 under a
//! 256-bit server key, with the key id as associated data (a sealed value
//! copied onto another key's row does not open). The server key never enters
//! the database; a copy of the database alone reveals no virtual key.
//!
//! The server key comes from `governance.secret_key_env` (any string; it is
//! hashed to 32 bytes, so it should be long and random, e.g.
//! `openssl rand -hex 32`), or else from a 32-byte file beside `db_path`,
//! created on first start with mode 0600.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

use crate::error::OpenError;
use crate::key::hex;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
// The first byte of a sealed value, so the format can change later.
const FORMAT_V1: u8 = 1;

/// Seals and opens virtual keys under the server's 256-bit key.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    fingerprint: String,
}

/// A sealed value did not open: wrong server key, or a damaged row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sealed virtual key does not open with this server's secret")]
pub struct SealError;

impl Sealer {
    /// A sealer keyed by `secret` (the value of `secret_key_env`), hashed
    /// with a domain label to 32 bytes. `None` for an empty secret.
    pub fn from_secret(secret: &str) -> Option<Self> {
        if secret.is_empty() {
            return None;
        }
        let mut hasher = Sha256::new();
        hasher.update(b"busbar-governance seal key v1\0");
        hasher.update(secret.as_bytes());
        let digest = hasher.finalize();
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&digest);
        Some(Self::from_key(key))
    }

    /// A sealer with this exact 256-bit key.
    pub fn from_key(key: [u8; KEY_LEN]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"busbar-governance key check v1\0");
        hasher.update(key);
        let fingerprint = hex(&hasher.finalize());
        Self {
            cipher: ChaCha20Poly1305::new(&Key::from(key)),
            fingerprint,
        }
    }

    /// The sealer for a configuration: `secret_key` when set, else the key
    /// file beside `db_path` ([`key_file_path`](Self::key_file_path)),
    /// created if missing.
    pub fn from_config(config: &busbar_config::Governance) -> Result<Self, OpenError> {
        if let Some(secret) = &config.secret_key {
            return Self::from_secret(secret.expose()).ok_or_else(|| {
                OpenError::Config("the governance secret key (secret_key_env) is empty".into())
            });
        }
        if let Some(var) = &config.secret_key_env {
            return Err(OpenError::Config(format!(
                "governance.secret_key_env names {var}, which is not set"
            )));
        }
        Self::load_or_create_key_file(&Self::key_file_path(&config.db_path))
    }

    /// Where the key file lives for a database at `db_path`: the same path
    /// with `.key` appended (`busbar-governance.db.key`).
    pub fn key_file_path(db_path: &Path) -> PathBuf {
        let mut name = db_path.as_os_str().to_owned();
        name.push(".key");
        PathBuf::from(name)
    }

    /// Reads the 32-byte key file at `path`, or creates it (mode 0600) from
    /// the operating system's generator when it does not exist.
    pub fn load_or_create_key_file(path: &Path) -> Result<Self, OpenError> {
        let fail = |source: io::Error| OpenError::KeyFile {
            path: path.to_owned(),
            source,
        };
        match read_key_file(path) {
            Ok(key) => return Ok(Self::from_key(key)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(fail(err)),
        }
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| fail(io::Error::other(e)))?;
        create_key_file(path, &key).map_err(fail)?;
        // Another process may have won the race to create it: use what is
        // on disk, not what this process generated.
        read_key_file(path).map(Self::from_key).map_err(fail)
    }

    /// A one-way fingerprint of the server key. The store remembers the
    /// first one it sees, so a process with the wrong key refuses to start
    /// instead of failing every SigV4 request.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Seals `secret` for the key `key_id`: version byte, random nonce,
    /// ciphertext and tag.
    pub fn seal(&self, key_id: &str, secret: &str) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError)?;
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: key_id.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .map_err(|_| SealError)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) produced for the same `key_id`.
    pub fn open(&self, key_id: &str, sealed: &[u8]) -> Result<String, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError)?;
        if version != FORMAT_V1 || rest.len() < NONCE_LEN {
            return Err(SealError);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError)?;
        let payload = Payload {
            msg: body,
            aad: key_id.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| SealError)?;
        String::from_utf8(plain).map_err(|_| SealError)
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn read_key_file(path: &Path) -> io::Result<[u8; KEY_LEN]> {
    let file = fs::File::open(path)?;
    warn_if_shared(&file, path);
    let mut bytes = Vec::with_capacity(KEY_LEN + 1);
    file.take(KEY_LEN as u64 + 1).read_to_end(&mut bytes)?;
    bytes.try_into().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a governance key file holds exactly 32 bytes",
        )
    })
}

// Written to a private temporary name first and then hard-linked into place,
// so the file appears complete or not at all, and an existing one is never
// overwritten.
fn create_key_file(path: &Path, key: &[u8; KEY_LEN]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = private_file(&tmp)?;
        file.write_all(key)?;
        file.sync_all()?;
        match fs::hard_link(&tmp, path) {
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
    })();
    let _ = fs::remove_file(&tmp);
    result
}

#[cfg(unix)]
fn private_file(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn warn_if_shared(file: &fs::File, path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = file.metadata() {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "governance key file is readable by others; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_file: &fs::File, _path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    const SECRET: &str = "sk-bb-0123456789abcdef0123456789abcdef";

    #[test]
    fn sealing_round_trips() {
        let sealer = Sealer::from_secret("a long random server secret").expect("non-empty");
        let sealed = sealer.seal("vk_0000000000000001", SECRET).expect("seals");
        assert_eq!(
            sealer.open("vk_0000000000000001", &sealed).expect("opens"),
            SECRET
        );
    }

    #[test]
    fn sealed_bytes_do_not_contain_the_key() {
        let sealer = Sealer::from_secret("server secret").expect("non-empty");
        let sealed = sealer.seal("vk_0000000000000001", SECRET).expect("seals");
        let window = sealed.windows(6).any(|w| w == b"sk-bb-");
        assert!(!window, "the plaintext prefix leaked into the sealed value");
        // A fresh nonce each time: sealing twice gives different bytes.
        assert_ne!(
            sealed,
            sealer.seal("vk_0000000000000001", SECRET).expect("seals")
        );
    }

    #[test]
    fn a_different_server_secret_cannot_open() {
        let sealed = Sealer::from_secret("one")
            .expect("non-empty")
            .seal("vk_1", SECRET);
        let other = Sealer::from_secret("two").expect("non-empty");
        assert_eq!(other.open("vk_1", &sealed.expect("seals")), Err(SealError));
    }

    #[test]
    fn a_sealed_value_is_bound_to_its_key_id() {
        let sealer = Sealer::from_secret("server secret").expect("non-empty");
        let sealed = sealer.seal("vk_0000000000000001", SECRET).expect("seals");
        assert_eq!(sealer.open("vk_0000000000000002", &sealed), Err(SealError));
    }

    #[test]
    fn damaged_values_do_not_open() {
        let sealer = Sealer::from_secret("server secret").expect("non-empty");
        let mut sealed = sealer.seal("vk_1", SECRET).expect("seals");
        assert_eq!(sealer.open("vk_1", &[]), Err(SealError));
        assert_eq!(sealer.open("vk_1", &sealed[..10]), Err(SealError));
        if let Some(last) = sealed.last_mut() {
            *last ^= 1;
        }
        assert_eq!(sealer.open("vk_1", &sealed), Err(SealError));
    }

    #[test]
    fn empty_secrets_are_refused_and_fingerprints_differ() {
        assert!(Sealer::from_secret("").is_none());
        let a = Sealer::from_secret("a").expect("non-empty");
        let b = Sealer::from_secret("b").expect("non-empty");
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            a.fingerprint(),
            Sealer::from_secret("a").expect("non-empty").fingerprint()
        );
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = TempDir::new("seal");
        let db = dir.path().join("gov.db");
        let path = Sealer::key_file_path(&db);
        assert_eq!(path, dir.path().join("gov.db.key"));
        let first = Sealer::load_or_create_key_file(&path).expect("creates");
        assert_eq!(fs::read(&path).expect("exists").len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("exists").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = Sealer::load_or_create_key_file(&path).expect("reads");
        assert_eq!(first.fingerprint(), second.fingerprint());
        let sealed = first.seal("vk_1", SECRET).expect("seals");
        assert_eq!(second.open("vk_1", &sealed).expect("opens"), SECRET);
    }

    #[test]
    fn a_key_file_of_the_wrong_size_is_an_error() {
        let dir = TempDir::new("seal-bad");
        let path = dir.path().join("gov.db.key");
        fs::write(&path, b"short").expect("writes");
        let err = Sealer::load_or_create_key_file(&path).expect_err("refused");
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }

    #[test]
    fn config_prefers_the_secret_and_reports_an_unset_variable() {
        let dir = TempDir::new("seal-config");
        let mut config = busbar_config::Governance::default();
        config.db_path = dir.path().join("gov.db");
        config.secret_key = Some(busbar_config::Secret::new("from the environment"));
        let sealer = Sealer::from_config(&config).expect("from secret");
        let expected = Sealer::from_secret("from the environment").expect("non-empty");
        assert_eq!(sealer.fingerprint(), expected.fingerprint());
        assert!(!Sealer::key_file_path(&config.db_path).exists());

        config.secret_key = None;
        config.secret_key_env = Some("BUSBAR_SEAL".into());
        let err = Sealer::from_config(&config).expect_err("unset variable");
        assert!(err.to_string().contains("BUSBAR_SEAL"), "{err}");

        config.secret_key_env = None;
        Sealer::from_config(&config).expect("key file");
        assert!(Sealer::key_file_path(&config.db_path).exists());
    }
}
