//! `vip serve`: starts the daemon (`vip-daemon`), waits for Ctrl-C or
//! SIGTERM, and drains it within the grace period. A second signal exits
//! at once. The exit code is 1 when anything could not be saved.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use vip_store::vault::Vault;

/// Runs the daemon until a signal, then drains it within `grace`.
pub fn run(
    config: vip_daemon::DaemonConfig,
    vault: Option<Vault>,
    grace: Duration,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let report = runtime.block_on(async move {
        let daemon = vip_daemon::start(config, vault).await?;
        vip_daemon::wait_for_signal().await;
        tracing::info!("draining");
        tokio::spawn(async {
            vip_daemon::wait_for_signal().await;
            tracing::error!("a second signal: stopping now, without saving");
            std::process::exit(1);
        });
        Ok::<_, anyhow::Error>(daemon.shutdown(grace).await)
    })?;
    // Tasks that outlived the grace period are not waited for.
    runtime.shutdown_background();
    for problem in &report.problems {
        tracing::error!("not saved: {problem}");
    }
    if report.tasks_left > 0 {
        tracing::error!(
            "{} tasks were still running and were stopped",
            report.tasks_left
        );
    }
    tracing::info!("stopped; {}", report.summary());
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
