//! Why an address does not answer, in one line that names it.
//!
//! The HTTP clients' errors say "error sending request" or "client error (Connect)"
//! without the cause. When PD or Docker does not answer, one TCP connection attempt
//! tells the user what they need: nothing listens there (refused), nothing answers
//! (timeout), the name does not resolve, or something listens but is not what we
//! expected.

use std::time::Duration;

/// How long the probe waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `http://h:p/x` → `h:p` (port 80/443 by scheme when absent); `tcp://h:p` → `h:p`.
pub(crate) fn host_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split('/').next()?.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty())
        && !authority.ends_with(']');
    Some(if has_port {
        authority.to_string()
    } else {
        let port = if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        };
        format!("{authority}:{port}")
    })
}

/// What a TCP connection to `addr` (`host:port`) finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Something accepted the connection.
    Listening,
    /// The connection was refused: nothing listens there.
    Refused,
    /// No answer within the probe's timeout.
    Timeout,
    /// Any other failure (name resolution, unreachable network), in words.
    Other(String),
}

/// Tries one TCP connection to `addr`.
pub(crate) async fn probe(addr: &str) -> Reach {
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Err(_) => Reach::Timeout,
        Ok(Ok(_)) => Reach::Listening,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Reach::Refused,
        Ok(Err(e)) => Reach::Other(e.to_string()),
    }
}

/// One line on why `url` did not answer as `what` (`PD`, `Docker`) did; `detail` is the
/// client's own error, used when the probe finds the address listening.
pub async fn explain(what: &str, url: &str, detail: &str) -> String {
    let Some(addr) = host_port(url) else {
        return format!("{what} at {url}: {detail}");
    };
    match probe(&addr).await {
        Reach::Refused => format!(
            "{what} at {url}: connection refused at {addr} (nothing listens there; is {what} running?)"
        ),
        Reach::Timeout => format!(
            "{what} at {url}: no answer from {addr} within {} s",
            PROBE_TIMEOUT.as_secs()
        ),
        Reach::Other(e) => format!("{what} at {url}: cannot connect to {addr}: {e}"),
        Reach::Listening => format!("{what} at {url}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_reduced_to_the_address_to_probe() {
        assert_eq!(
            host_port("http://127.0.0.1:2379/pd").as_deref(),
            Some("127.0.0.1:2379")
        );
        assert_eq!(
            host_port("https://pd.example").as_deref(),
            Some("pd.example:443")
        );
        assert_eq!(
            host_port("tcp://10.0.0.1:2375").as_deref(),
            Some("10.0.0.1:2375")
        );
        assert_eq!(host_port("http://"), None);
    }

    #[tokio::test]
    async fn a_closed_port_is_said_to_refuse_the_connection() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert_eq!(probe(&addr.to_string()).await, Reach::Listening);
        drop(l);
        assert_eq!(probe(&addr.to_string()).await, Reach::Refused);
    }
}
