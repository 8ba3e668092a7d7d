//! The token and endpoint files in the data directory, written with mode
//! 0600: the token is at least 256 random bits, new on every start.

use std::net::SocketAddr;
use std::path::Path;

/// The token file in the data directory.
pub const TOKEN_FILE: &str = "api-token";
/// The file holding the API's address.
pub const ENDPOINT_FILE: &str = "api-endpoint";

/// Writes a fresh random token and the API's address into `data_dir`, both
/// readable only by the user; returns the token.
pub fn write_files(data_dir: &Path, addr: SocketAddr) -> std::io::Result<String> {
    use rand::TryRngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(std::io::Error::other)?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&data_dir.join(TOKEN_FILE), &token)?;
    write_private(&data_dir.join(ENDPOINT_FILE), &addr.to_string())?;
    Ok(token)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
