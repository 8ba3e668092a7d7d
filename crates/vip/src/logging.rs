//! Log output for the long-running commands: `tracing` events to standard
//! error, filtered by `--log-level` (else `RUST_LOG`, else `info`), as
//! readable lines or JSON objects. A filter that does not parse is refused
//! with its source named. Warnings and errors the filter lets through also
//! go to the events socket of the daemon this process runs (`log` events:
//! level, target, message, fields), through the hub it taps.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Warnings and errors to the events socket.
struct ToEvents;

#[derive(Default)]
struct Fields {
    message: String,
    rest: serde_json::Map<String, serde_json::Value>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            name => {
                self.rest.insert(name.to_string(), value.into());
            }
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            name => {
                self.rest
                    .insert(name.to_string(), format!("{value:?}").into());
            }
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ToEvents {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        // More verbose levels compare greater: INFO, DEBUG and TRACE stay out.
        if *meta.level() > tracing::Level::WARN {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        vip_api::events::publish_log(serde_json::json!({
            "level": meta.level().as_str().to_ascii_lowercase(),
            "target": meta.target(),
            "message": fields.message,
            "fields": fields.rest,
        }));
    }
}

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
            .finish()
            .with(ToEvents)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .finish()
            .with(ToEvents)
            .try_init(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::Arc;

    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn warnings_and_errors_reach_the_tapped_hub_and_info_does_not() {
        let hub = Arc::new(vip_api::Events::new());
        vip_api::events::tap_logs(&hub);
        let subscriber = tracing_subscriber::registry().with(super::ToEvents);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("routine");
            tracing::warn!(proxy = 7, "credentials unreadable");
            tracing::error!(error_id = "ab12", "internal error");
        });
        let base = hub.base();
        assert_eq!(hub.last_seq(), base + 2, "info stays out");
        let warn: serde_json::Value =
            serde_json::from_str(&hub.text_of(base + 1).unwrap()).unwrap();
        assert_eq!(warn["type"], "log");
        assert_eq!(warn["data"]["level"], "warn");
        assert_eq!(warn["data"]["message"], "credentials unreadable");
        assert_eq!(warn["data"]["fields"]["proxy"], "7");
        let error: serde_json::Value =
            serde_json::from_str(&hub.text_of(base + 2).unwrap()).unwrap();
        assert_eq!(error["data"]["level"], "error");
        assert_eq!(error["data"]["fields"]["error_id"], "ab12");
    }
}
