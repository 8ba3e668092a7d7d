//! SOCKS5 inbound (RFC 1928/1929): no authentication, or username/password
//! when the listener requires it; CONNECT only; IPv4, IPv6 and domain-name
//! targets (names are passed on, never resolved here). Failures get the
//! matching reply code. The handshake is read through the buffer that
//! `inbound::handle` filled, so its many small fields cost one `recv` per
//! segment, not one per field.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::splice;
use crate::connect::{self, OpenError};
use crate::gateway::{ListenerSpec, Shared};
use crate::target::Target;
use crate::upstream::Mode;

const OK: u8 = 0;
const GENERAL: u8 = 1;
const NOT_ALLOWED: u8 = 2;
const HOST_UNREACHABLE: u8 = 4;
const CMD_UNSUPPORTED: u8 = 7;
const ATYP_UNSUPPORTED: u8 = 8;

/// The client connection while its handshake is read.
type Client = BufReader<TcpStream>;

async fn reply(stream: &mut Client, code: u8) {
    let _ = stream.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await;
    if code != OK {
        let _ = stream.shutdown().await;
    }
}

async fn negotiate(stream: &mut Client, spec: &ListenerSpec) -> std::io::Result<bool> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await?;
    let mut methods = vec![0u8; usize::from(head[1])];
    stream.read_exact(&mut methods).await?;
    let Some(auth) = &spec.auth else {
        if methods.contains(&0) {
            stream.write_all(&[5, 0]).await?;
            return Ok(true);
        }
        stream.write_all(&[5, 0xff]).await?;
        return Ok(false);
    };
    if !methods.contains(&2) {
        stream.write_all(&[5, 0xff]).await?;
        return Ok(false);
    }
    stream.write_all(&[5, 2]).await?;
    let mut ver_len = [0u8; 2];
    stream.read_exact(&mut ver_len).await?;
    let mut user = vec![0u8; usize::from(ver_len[1])];
    stream.read_exact(&mut user).await?;
    let mut plen = [0u8; 1];
    stream.read_exact(&mut plen).await?;
    let mut pass = vec![0u8; usize::from(plen[0])];
    stream.read_exact(&mut pass).await?;
    let ok = ver_len[0] == 1
        && user == auth.username.as_bytes()
        && pass == auth.password.expose().as_bytes();
    stream.write_all(&[1, if ok { 0 } else { 1 }]).await?;
    Ok(ok)
}

async fn read_target(stream: &mut Client) -> std::io::Result<Result<Target, u8>> {
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Ok(Err(GENERAL));
    }
    if head[1] != 1 {
        return Ok(Err(CMD_UNSUPPORTED));
    }
    let host = match head[3] {
        1 => {
            let mut a = [0u8; 4];
            stream.read_exact(&mut a).await?;
            Ipv4Addr::from(a).to_string()
        }
        4 => {
            let mut a = [0u8; 16];
            stream.read_exact(&mut a).await?;
            Ipv6Addr::from(a).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0])];
            stream.read_exact(&mut name).await?;
            match String::from_utf8(name) {
                Ok(n) => n,
                Err(_) => return Ok(Err(GENERAL)),
            }
        }
        _ => return Ok(Err(ATYP_UNSUPPORTED)),
    };
    let mut port = [0u8; 2];
    stream.read_exact(&mut port).await?;
    Ok(Target::parse_authority(
        &format!(
            "{}:{}",
            if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            },
            u16::from_be_bytes(port)
        ),
        None,
    )
    .map_err(|_| GENERAL))
}

/// Serves one SOCKS5 client, whose first bytes are in `stream`'s buffer.
pub async fn serve(
    mut stream: Client,
    shared: &Arc<Shared>,
    spec: &ListenerSpec,
    abort: &CancellationToken,
) {
    let handshake = async {
        if !negotiate(&mut stream, spec).await? {
            return Ok(None);
        }
        read_target(&mut stream).await.map(Some)
    };
    let target = match tokio::time::timeout(shared.settings.client_timeout, handshake).await {
        Ok(Ok(Some(Ok(t)))) => t,
        Ok(Ok(Some(Err(code)))) => return reply(&mut stream, code).await,
        _ => return,
    };
    match connect::open(shared, spec, &target, None, Mode::Tunnel).await {
        Ok(opened) => {
            reply(&mut stream, OK).await;
            // Anything the client sent past its request goes on first.
            let early = stream.buffer().to_vec();
            splice(stream.into_inner(), opened, early, shared, &target, abort).await;
        }
        Err(e) => {
            let code = match &e {
                OpenError::Blocked | OpenError::Tracker | OpenError::Own { .. } => NOT_ALLOWED,
                _ if e.origin_fault() => HOST_UNREACHABLE,
                _ => GENERAL,
            };
            reply(&mut stream, code).await;
        }
    }
}
