//! Who can reach the controller's HTTP API, and what they need to change anything.
//!
//! The API carries the ticket database's mutating routes (ack, resolve), so its exposure
//! is decided here, before anything starts, and the safe choice is the default:
//!
//! - **Loopback unless asked.** `--listen` defaults to `127.0.0.1:9464`; any address
//!   that is not loopback is refused (exit 2) unless `--allow-remote-api` is given. The
//!   compose files pass it, because there the operator runs in a container and the host
//!   reaches it through a published port (itself bound to the host's 127.0.0.1).
//! - **A token for every mutation.** Mutating routes need `Authorization: Bearer <token>`
//!   with the token from `OPERATOR_API_TOKEN`, or from the first line of the file named
//!   by `--api-token-file` / `OPERATOR_API_TOKEN_FILE` (a mounted secret). With no token
//!   configured they are refused (403), never open: an operator started without one is
//!   read-only over HTTP, and the CLI still acks and resolves through the database when
//!   no controller runs. Reads (`GET`) stay open, like `/metrics`.
//!
//! The token is never logged: it lives in [`ApiToken`], whose `Debug` prints
//! `<redacted>`.

use std::net::SocketAddr;
use std::path::Path;

use super::CliError;

/// The environment variable holding the API token.
pub(crate) const TOKEN_ENV: &str = "OPERATOR_API_TOKEN";

/// The API token. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

impl ApiToken {
    /// The token's text (to hand to the router or the client).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The token from `env_value` (the value of [`TOKEN_ENV`], if set and not blank),
    /// else the first line of `file`. `Ok(None)` when neither is configured.
    ///
    /// # Errors
    /// [`CliError::Input`] (exit 2) when the file is named but cannot be read or its first
    /// line is blank: a configured but unusable token must not silently turn into "no
    /// token".
    pub(crate) fn resolve(
        env_value: Option<String>,
        file: Option<&Path>,
    ) -> Result<Option<Self>, CliError> {
        if let Some(v) = env_value.map(|v| v.trim().to_owned()) {
            if !v.is_empty() {
                return Ok(Some(Self(v)));
            }
        }
        let Some(path) = file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::Input(format!(
                "cannot read the API token file {}: {e}",
                path.display()
            ))
        })?;
        let line = text.lines().next().unwrap_or("").trim();
        if line.is_empty() {
            return Err(CliError::Input(format!(
                "the API token file {} is empty; expected the token on its first line",
                path.display()
            )));
        }
        Ok(Some(Self(line.to_owned())))
    }

    /// [`ApiToken::resolve`] with [`TOKEN_ENV`] read from the environment.
    pub(crate) fn from_env_or_file(file: Option<&Path>) -> Result<Option<Self>, CliError> {
        Self::resolve(std::env::var(TOKEN_ENV).ok(), file)
    }
}

/// Refuses a non-loopback `listen` address unless `allow_remote` is set.
///
/// # Errors
/// [`CliError::Input`] (exit 2), naming the flag that allows it.
pub(crate) fn check_listen(listen: SocketAddr, allow_remote: bool) -> Result<(), CliError> {
    if listen.ip().is_loopback() || allow_remote {
        return Ok(());
    }
    Err(CliError::Input(format!(
        "--listen {listen} is not a loopback address: the API would be reachable from the \
         network; pass --allow-remote-api to mean it (mutating routes still need the token \
         from {TOKEN_ENV} or --api-token-file)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_need_no_flag_and_others_do() {
        for ok in ["127.0.0.1:9464", "127.8.9.10:1", "[::1]:9464"] {
            check_listen(ok.parse().unwrap(), false).unwrap();
        }
        for remote in [
            "0.0.0.0:9464",
            "[::]:9464",
            "192.168.1.5:9464",
            "10.0.0.1:80",
        ] {
            let addr: SocketAddr = remote.parse().unwrap();
            let err = check_listen(addr, false).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains("--allow-remote-api"), "{err}");
            check_listen(addr, true).unwrap();
        }
    }

    #[test]
    fn the_environment_wins_over_the_file_and_blank_values_count_as_unset() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  from-file  \nsecond line ignored\n").unwrap();
        let t = |env: Option<&str>, f: Option<&Path>| {
            ApiToken::resolve(env.map(str::to_owned), f)
                .unwrap()
                .map(|t| t.expose().to_owned())
        };
        assert_eq!(
            t(Some("from-env"), Some(&file)).as_deref(),
            Some("from-env")
        );
        assert_eq!(t(Some("   "), Some(&file)).as_deref(), Some("from-file"));
        assert_eq!(t(None, Some(&file)).as_deref(), Some("from-file"));
        assert_eq!(t(None, None), None);
        assert_eq!(t(Some(""), None), None);
    }

    #[test]
    fn an_unreadable_or_empty_token_file_is_bad_input_not_an_open_api() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        for path in [empty, dir.path().join("missing")] {
            let err = ApiToken::resolve(None, Some(&path)).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{err}");
        }
    }

    #[test]
    fn the_token_is_never_printed() {
        let t = ApiToken::resolve(Some("tok-3f9a".into()), None)
            .unwrap()
            .unwrap();
        assert!(!format!("{t:?}").contains("tok-3f9a"));
    }
}
