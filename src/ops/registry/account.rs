//! Which account a run draws on: the server and the key, named without the key. VIP's cap
//! of running executions is the account's, whatever recipe launches, so runs share slots by
//! this name.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::manifest::expand::hex;

/// An account: a key on a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its folder's name in the registry: a short hash of the server and of the key's
    /// SHA-256, so the folder says nothing of the key and cannot be turned back into it.
    pub id: String,
    /// The server's base URL (without a trailing slash, which names the same server).
    pub server: String,
    /// `sha256:` and the first 8 hex digits of the key's SHA-256: enough for a person to
    /// tell two keys apart, too little to find either.
    pub fingerprint: String,
}

impl Account {
    /// The account `key` opens on `server`.
    pub fn of(server: &str, key: &SecretString) -> Self {
        let server = server.trim_end_matches('/').to_owned();
        let key_digest = hex(&Sha256::digest(key.expose_secret().as_bytes()));
        let id = hex(&Sha256::digest(
            format!("{server}\n{key_digest}").as_bytes(),
        ))[..16]
            .to_owned();
        Self {
            id,
            fingerprint: format!("sha256:{}", &key_digest[..8]),
            server,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_named_without_its_key() {
        let key = "a-secret-key-0123456789";
        let a = Account::of("https://vip/rest/", &SecretString::from(key));
        assert_eq!(a.server, "https://vip/rest");
        assert_eq!(a.id.len(), 16);
        assert!(!a.id.contains(key) && !a.fingerprint.contains(key));
        // The same account however the server is written; another key, another account.
        assert_eq!(a, Account::of("https://vip/rest", &SecretString::from(key)));
        assert_ne!(
            a.id,
            Account::of("https://vip/rest", &SecretString::from("another")).id
        );
        assert_ne!(
            a.id,
            Account::of("https://other/rest", &SecretString::from(key)).id
        );
    }
}
