//! `vip gateway`: a foreground gateway over an in-memory pool built from
//! `--upstream` arguments, for quick use and benchmarking (no database, the
//! credentials live only in this process); and what it shares with
//! `vip serve` (client authentication, tracker lists, upstream TLS).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use vip_engine::{
    CountryCode, CredentialRef, Engine, HealthSettings, PoolSnapshot, Proxy, RotationConfig,
    StrategyName,
};
use vip_gateway::{Assignment, ClientAuth, Gateway, GatewaySettings, ListenerSpec, NullSink};
use vip_store::porting::parse_line;
use vip_store::vault::Secret;

use super::InvalidInput;

/// Trust for HTTPS upstream proxies: Mozilla's roots plus `--proxy-ca`.
pub fn proxy_tls(pem: Option<&std::path::Path>) -> anyhow::Result<vip_gateway::upstream::Tls> {
    let Some(path) = pem else {
        return Ok(vip_gateway::upstream::Tls::default());
    };
    let bytes = std::fs::read(path)
        .map_err(|e| InvalidInput(format!("--proxy-ca {}: {e}", path.display())))?;
    Ok(vip_gateway::upstream::Tls::with_pem_roots(&bytes)
        .map_err(|e| InvalidInput(format!("--proxy-ca {}: {e}", path.display())))?)
}

pub(super) fn client_auth_arg(text: Option<&str>) -> anyhow::Result<Option<ClientAuth>> {
    text.map(|s| {
        let (user, pass) = s
            .split_once(':')
            .ok_or_else(|| InvalidInput("--client-auth: use USER:PASS".into()))?;
        Ok(ClientAuth {
            username: user.to_string(),
            password: Secret::new(pass),
        })
    })
    .transpose()
}

/// Loads the filter lists the gateway blocks with, or none; `who` names the
/// command in what it prints.
pub(super) fn blocklist(
    args: &crate::cli::BlockingArgs,
    who: &str,
) -> anyhow::Result<Option<Arc<vip_privacy::Blocklist>>> {
    if args.no_blocking {
        return Ok(None);
    }
    let list = if args.filter_lists.is_empty() {
        match vip_privacy::Blocklist::from_files(&vip_privacy::DEBIAN_LISTS) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("{who}: tracker blocking off: {e}");
                return Ok(None);
            }
        }
    } else {
        vip_privacy::Blocklist::from_files(&args.filter_lists)
            .map_err(|e| InvalidInput(e.to_string()))?
    };
    let list = args
        .allow_domains
        .iter()
        .fold(list, |l, d| l.allow_domain(d));
    tracing::info!("{who}: tracker blocking on ({} filter lines)", list.rules());
    Ok(Some(Arc::new(list)))
}

/// What `vip gateway` runs with besides its address and upstreams.
pub struct Options<'a> {
    pub strategy: &'a str,
    pub client_auth: Option<&'a str>,
    pub tls: vip_gateway::upstream::Tls,
    pub blocking: &'a crate::cli::BlockingArgs,
}

pub fn run(
    listen: SocketAddr,
    upstreams: &[String],
    options: Options<'_>,
) -> anyhow::Result<ExitCode> {
    let Options {
        strategy,
        client_auth,
        tls,
        blocking,
    } = options;
    let strategy = StrategyName::parse(strategy).map_err(|e| InvalidInput(e.to_string()))?;
    let mut proxies = Vec::new();
    let mut logins = HashMap::new();
    for (i, text) in upstreams.iter().enumerate() {
        let parsed =
            parse_line(text).map_err(|e| InvalidInput(format!("--upstream {text:?}: {e}")))?;
        let id = i as u64 + 1;
        let mut proxy = Proxy::new(id, &parsed.host, parsed.port);
        proxy.protocol = parsed.protocol.unwrap_or(vip_engine::Protocol::Http);
        proxy.country = parsed
            .country
            .as_deref()
            .and_then(|c| CountryCode::parse(c).ok());
        if let Some(user) = parsed.username {
            proxy.credential = Some(CredentialRef(id));
            logins.insert(
                CredentialRef(id),
                (user, parsed.password.unwrap_or_default()),
            );
        }
        proxies.push(proxy);
    }
    let auth = client_auth_arg(client_auth)?;
    let blocklist = blocklist(blocking, "vip gateway")?;
    let pool = PoolSnapshot::new(proxies).map_err(|e| InvalidInput(e.to_string()))?;
    let mut config = RotationConfig::new(1, strategy, None);
    if strategy == StrategyName::TimeBased {
        config.common.interval = Some(Duration::from_secs(60));
    }
    let mut engine = Engine::new(pool, HealthSettings::default());
    engine.set_rotation(config, vip_gateway::now());
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let settings = GatewaySettings {
            tls,
            blocklist: blocklist.clone(),
            ..GatewaySettings::default()
        };
        let gateway = Gateway::new(engine, Arc::new(logins), Arc::new(NullSink), settings);
        let spec = ListenerSpec { assignment: Assignment::Rotation(vip_engine::ConfigId(1)), tab: None, auth };
        let handle = gateway.listen(listen, spec).await.map_err(|e| InvalidInput(e.to_string()))?;
        tracing::info!(
            "vip gateway: HTTP and SOCKS5 proxy on {} over {} upstream(s), {strategy}; Ctrl-C stops",
            handle.addr,
            upstreams.len()
        );
        vip_daemon::wait_for_signal().await;
        match &blocklist {
            Some(list) => tracing::info!("vip gateway: draining ({} requests blocked)", list.blocked()),
            None => tracing::info!("vip gateway: draining"),
        }
        gateway.shutdown(Duration::from_secs(5)).await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
