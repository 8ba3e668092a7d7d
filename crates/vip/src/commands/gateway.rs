//! `vip gateway`: a foreground gateway over the `--upstream` arguments
//! (`vip_daemon::standalone`), until Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use vip_daemon::standalone::{Standalone, StandaloneConfig};

use crate::cli::BlockingArgs;

impl BlockingArgs {
    /// The flags as the daemon's tracker-blocking settings.
    pub fn blocking(&self) -> vip_daemon::inputs::Blocking {
        vip_daemon::inputs::Blocking {
            filter_lists: self.filter_lists.clone(),
            allow_domains: self.allow_domains.clone(),
            off: self.no_blocking,
        }
    }
}

pub fn run(config: StandaloneConfig) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let upstreams = config.upstreams.len();
        let gateway = Standalone::start(config).await?;
        tracing::info!(
            "vip gateway: HTTP and SOCKS5 proxy on {} over {upstreams} upstream(s), {}; Ctrl-C stops",
            gateway.addr,
            gateway.strategy
        );
        vip_daemon::wait_for_signal().await;
        gateway.shutdown(Duration::from_secs(5)).await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
