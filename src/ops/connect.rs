//! Choosing the server and the key, and opening a client (or the in-process sandbox).
//!
//! Precedence, server: `--sandbox`, else `--server`, else the manifest's `server`, else VIP.
//! Key: `--api-key-env` / `--api-key-file`, else (with `--sandbox`) the sandbox's demo user,
//! else the manifest's `api_key`, else `VIP_API_KEY` (a manifest that names no key has that
//! default already, from its check). The manifest's key is for the real server: `--sandbox`
//! never sends it to the simulator, so any recipe runs there unchanged.
//! Whichever source is used is named in messages; the key never is.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::error::Error;
use crate::manifest::DEFAULT_SERVER;
use crate::manifest::Validated;
use crate::manifest::api_key::{DEFAULT_KEY_VARIABLE, KeySource};
use crate::sandbox;
use crate::vip::{Client, ClientConfig};

use super::registry::Account;

/// How long an execution runs in the in-process sandbox (`--sandbox`).
pub const SANDBOX_EXEC_DURATION: Duration = Duration::from_secs(3);

/// The command line's say on connecting.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// `--server`.
    pub server: Option<String>,
    /// `--sandbox`.
    pub sandbox: bool,
    /// `--api-key-env`.
    pub api_key_env: Option<String>,
    /// `--api-key-file`.
    pub api_key_file: Option<PathBuf>,
    /// `--connect-timeout`.
    pub connect_timeout: Option<Duration>,
    /// `--request-timeout`.
    pub request_timeout: Option<Duration>,
    /// `--max-retries`.
    pub max_retries: Option<usize>,
}

/// A client, where it points, and the sandbox behind it if any.
pub struct Connection {
    /// The client.
    pub client: Client,
    /// The server's base URL.
    pub server: String,
    /// Where the key came from (never the key).
    pub key_source: String,
    /// The account the server and the key name (never the key): whose quota the runs share.
    pub account: Account,
    /// The in-process sandbox, kept alive as long as the connection.
    pub sandbox: Option<sandbox::Sandbox>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.server)
            .field("key_source", &self.key_source)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Opens a connection for `manifest` (or for no manifest), as `options` say (`--sandbox`
    /// with `--server` is refused by the command line before this).
    pub async fn open(
        options: &ConnectOptions,
        manifest: Option<&Validated>,
    ) -> Result<Self, Error> {
        // The key's source, decided once: the command line, else the sandbox's demo user
        // (`None`), else the manifest's (where it says nothing, its check already chose the
        // default variable), else the default variable. Read only once the server is known.
        let given = if let Some(name) = &options.api_key_env {
            Some(KeySource::Env(name.clone()))
        } else if let Some(path) = &options.api_key_file {
            let cwd = std::env::current_dir().unwrap_or_default();
            Some(KeySource::file(&path.display().to_string(), &cwd))
        } else {
            None
        };
        let default = KeySource::Env(DEFAULT_KEY_VARIABLE.to_owned());
        let source = match (&given, manifest) {
            (Some(given), _) => Some(given),
            (None, _) if options.sandbox => None,
            (None, Some(m)) => Some(&m.api_key),
            (None, None) => Some(&default),
        };

        let mut started = None;
        let server = if options.sandbox {
            let config = sandbox::Config {
                exec_duration: SANDBOX_EXEC_DURATION,
                ..sandbox::Config::default()
            };
            let sb = sandbox::Sandbox::start(config, ([127, 0, 0, 1], 0).into())
                .await
                .map_err(|e| Error::Sandbox(e.to_string()))?;
            let url = sb.base_url();
            started = Some(sb);
            url
        } else {
            options
                .server
                .clone()
                .or_else(|| manifest.and_then(|m| m.server.clone()))
                .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
        };

        let (key, key_source): (SecretString, String) = match source {
            Some(source) => (source.resolve()?, source.describe()),
            None => (
                SecretString::from(sandbox::DEMO_KEY),
                "the sandbox's demo user".to_owned(),
            ),
        };

        let mut config = ClientConfig::new(&server);
        if let Some(t) = options.connect_timeout {
            config.connect_timeout = t;
        }
        if let Some(t) = options.request_timeout {
            config.request_timeout = t;
        }
        if let Some(n) = options.max_retries {
            config.retry.attempts = n + 1;
        }
        let client = Client::new(&config, &key)?;
        Ok(Self {
            client,
            account: Account::of(&server, &key),
            server,
            key_source,
            sandbox: started,
        })
    }

    /// Closes the connection (and stops the in-process sandbox).
    pub async fn close(self) {
        if let Some(sb) = self.sandbox {
            sb.shutdown().await;
        }
    }
}
