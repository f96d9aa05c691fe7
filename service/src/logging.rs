//! Logs go to stderr, filtered by `RUST_LOG` (default `info`), without colour codes unless stderr
//! is a terminal.

use std::io::IsTerminal;

pub fn init(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// An error with its causes, as one line, leaving out causes whose text the line already holds
/// (many errors repeat their source in their own message).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeated_causes_are_left_out() {
        let io = std::io::Error::other("Connection refused");
        let e =
            anyhow::Error::new(io).context("error communicating with database: Connection refused").context("MySQL");
        assert_eq!(super::error_chain(&e), "MySQL: error communicating with database: Connection refused");
    }
}
