//! Log output for the long-running commands: `tracing` events to standard
//! error, filtered by `--log-level` (else `RUST_LOG`, else `info`), as
//! readable lines or JSON objects. A filter that does not parse is refused
//! with its source named.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;
use crate::commands::InvalidInput;

/// Installs the global subscriber.
pub fn init(level: Option<&str>, format: LogFormat) -> Result<(), InvalidInput> {
    let (source, text) = match level {
        Some(l) => ("--log-level", l.to_string()),
        None => match std::env::var("RUST_LOG") {
            Ok(v) if !v.trim().is_empty() => ("RUST_LOG", v),
            _ => ("the default", "info".to_string()),
        },
    };
    let filter = EnvFilter::builder()
        .with_regex(false)
        .parse(&text)
        .map_err(|e| {
            InvalidInput(format!(
                "{source} {text:?}: {e}: use error, warn, info, debug or trace, or a filter like info,vip_daemon=debug"
            ))
        })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second install (tests calling twice) keeps the first.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    Ok(())
}
