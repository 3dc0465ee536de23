//! The gateway's local admin socket: `kubemaas gateway pairing-code` asks the running gateway
//! for a new code through a Unix socket in the gateway's state dir.
//!
//! A socket rather than a request file: the code is handed straight back to the asking
//! process and never written to disk, and the caller learns at once whether a gateway is
//! running. Access is the file system's: the state dir is 0700 and the socket 0600, so only
//! the gateway's own user can ask for codes — the same user who can read its CA key anyway.

use super::pairing::{Pairings, CODE_LIFETIME};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

pub const ADMIN_SOCKET: &str = "admin.sock";
const REQUEST_PAIRING_CODE: &str = "pairing-code";
/// The longest request line read; the protocol has one short word.
const MAX_REQUEST: usize = 256;

/// The answer to a pairing-code request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no gateway is running with the state dir {dir} ({source}): start it with `kubemaas gateway run -c gateway.yaml`, or pass the --state-dir it runs with")]
    NotRunning {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("another gateway is already running with the state dir {dir}: stop it first, or give this one its own --state-dir")]
    AlreadyRunning { dir: PathBuf },
    #[error("cannot open the admin socket {path}: {source} (check the state dir's permissions)")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the gateway's admin socket answered something unexpected ({0}): are the gateway and this command the same kubemaas version?")]
    Protocol(String),
}

/// The bound admin socket; removed again when dropped.
#[derive(Debug)]
pub struct AdminSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds `dir/admin.sock` (0600) and answers pairing-code requests with codes from `pairings`.
pub async fn serve(dir: &Path, pairings: Pairings) -> Result<AdminSocket, AdminError> {
    let path = dir.join(ADMIN_SOCKET);
    if path.exists() {
        // A socket that answers belongs to a live gateway; one that does not was left by a
        // gateway that died, and is replaced.
        if UnixStream::connect(&path).await.is_ok() {
            return Err(AdminError::AlreadyRunning {
                dir: dir.to_path_buf(),
            });
        }
        let _ = std::fs::remove_file(&path);
    }
    let socket_err = |source| AdminError::Socket {
        path: path.clone(),
        source,
    };
    let listener = UnixListener::bind(&path).map_err(socket_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(socket_err)?;
    }
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let pairings = pairings.clone();
                    tokio::spawn(answer(stream, pairings));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "admin socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(AdminSocket { path, task })
}

async fn answer(stream: UnixStream, pairings: Pairings) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST as u64));
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let reply = if line.trim() == REQUEST_PAIRING_CODE {
        let code = pairings.issue();
        AdminAnswer {
            code: Some(code.reveal()),
            expires_in_seconds: Some(CODE_LIFETIME.as_secs()),
            error: None,
        }
    } else {
        AdminAnswer {
            code: None,
            expires_in_seconds: None,
            error: Some("unknown request: the admin socket answers `pairing-code`".into()),
        }
    };
    let mut text = serde_json::to_string(&reply).unwrap_or_default();
    text.push('\n');
    let _ = write.write_all(text.as_bytes()).await;
}

/// Asks the gateway running with `dir` for a new pairing code.
pub async fn request_pairing_code(dir: &Path) -> Result<(String, u64), AdminError> {
    let path = dir.join(ADMIN_SOCKET);
    let stream = UnixStream::connect(&path)
        .await
        .map_err(|source| AdminError::NotRunning {
            dir: dir.to_path_buf(),
            source,
        })?;
    let (read, mut write) = stream.into_split();
    let socket_err = |source| AdminError::Socket {
        path: path.clone(),
        source,
    };
    write
        .write_all(format!("{REQUEST_PAIRING_CODE}\n").as_bytes())
        .await
        .map_err(socket_err)?;
    let mut line = String::new();
    BufReader::new(read.take(4096))
        .read_line(&mut line)
        .await
        .map_err(socket_err)?;
    let answer: AdminAnswer =
        serde_json::from_str(line.trim()).map_err(|e| AdminError::Protocol(e.to_string()))?;
    match answer {
        AdminAnswer {
            code: Some(code),
            expires_in_seconds: Some(secs),
            ..
        } => Ok((code, secs)),
        AdminAnswer { error, .. } => Err(AdminError::Protocol(
            error.unwrap_or_else(|| "no code in the answer".into()),
        )),
    }
}
