//! The gateway's local admin socket: `kubemaas gateway pairing-code` asks the running gateway
//! for a new code through a Unix socket in the gateway's state dir (and `gateway consoles` /
//! `gateway revoke NAME` list and revoke paired consoles the same way). One request line, one
//! JSON answer line.
//!
//! A socket rather than a request file: the code is handed straight back to the asking
//! process and never written to disk, and the caller learns at once whether a gateway is
//! running. Access is the file system's: the state dir is 0700 and the socket 0600, so only
//! the gateway's own user can ask for codes — the same user who can read its CA key anyway.

use super::pairing::{Pairings, CODE_LIFETIME};
use super::registry::{ConsoleRecord, ConsoleRegistry};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

pub const ADMIN_SOCKET: &str = "admin.sock";
const REQUEST_PAIRING_CODE: &str = "pairing-code";
const REQUEST_CONSOLES: &str = "consoles";
const REQUEST_REVOKE: &str = "revoke ";
/// The longest request line read; the protocol has one short word.
const MAX_REQUEST: usize = 256;

/// The answer to a pairing-code request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AdminAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consoles: Option<Vec<ConsoleRecord>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AdminAnswer {
    fn error(message: impl Into<String>) -> Self {
        AdminAnswer {
            error: Some(message.into()),
            ..Default::default()
        }
    }
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
    #[error("{0}")]
    Refused(String),
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

/// Binds `dir/admin.sock` (0600) and answers requests with codes from `pairings` and the
/// consoles of `consoles`.
pub async fn serve(
    dir: &Path,
    pairings: Pairings,
    consoles: ConsoleRegistry,
) -> Result<AdminSocket, AdminError> {
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
                    tokio::spawn(answer(stream, pairings.clone(), consoles.clone()));
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

async fn answer(stream: UnixStream, pairings: Pairings, consoles: ConsoleRegistry) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST as u64));
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let request = line.trim();
    let reply = if request == REQUEST_PAIRING_CODE {
        AdminAnswer {
            code: Some(pairings.issue().reveal()),
            expires_in_seconds: Some(CODE_LIFETIME.as_secs()),
            ..Default::default()
        }
    } else if request == REQUEST_CONSOLES {
        AdminAnswer {
            consoles: Some(consoles.list()),
            ..Default::default()
        }
    } else if let Some(name) = request.strip_prefix(REQUEST_REVOKE) {
        match consoles.revoke(name.trim()) {
            Ok(n) => AdminAnswer {
                revoked: Some(n),
                ..Default::default()
            },
            Err(e) => AdminAnswer::error(e.to_string()),
        }
    } else {
        AdminAnswer::error("unknown request: the admin socket answers `pairing-code`, `consoles` and `revoke NAME`")
    };
    let mut text = serde_json::to_string(&reply).unwrap_or_default();
    text.push('\n');
    let _ = write.write_all(text.as_bytes()).await;
}

/// Sends one request line and reads the answer.
async fn ask(dir: &Path, request: &str) -> Result<AdminAnswer, AdminError> {
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
        .write_all(format!("{request}\n").as_bytes())
        .await
        .map_err(socket_err)?;
    let mut line = String::new();
    BufReader::new(read.take(16 * 1024 * 1024))
        .read_line(&mut line)
        .await
        .map_err(socket_err)?;
    let answer: AdminAnswer =
        serde_json::from_str(line.trim()).map_err(|e| AdminError::Protocol(e.to_string()))?;
    match answer.error {
        Some(e) => Err(AdminError::Refused(e)),
        None => Ok(answer),
    }
}

/// The consoles the gateway running with `dir` has paired.
pub async fn list_consoles(dir: &Path) -> Result<Vec<ConsoleRecord>, AdminError> {
    ask(dir, REQUEST_CONSOLES)
        .await?
        .consoles
        .ok_or_else(|| AdminError::Protocol("no console list in the answer".into()))
}

/// Revokes the consoles called `name`; returns how many were active.
pub async fn revoke_console(dir: &Path, name: &str) -> Result<usize, AdminError> {
    if name.trim().is_empty() || name.contains('\n') {
        return Err(AdminError::Refused(
            "give the console's name as `kubemaas gateway consoles` lists it".into(),
        ));
    }
    ask(dir, &format!("{REQUEST_REVOKE}{name}"))
        .await?
        .revoked
        .ok_or_else(|| AdminError::Protocol("no count in the answer".into()))
}

/// Asks the gateway running with `dir` for a new pairing code.
pub async fn request_pairing_code(dir: &Path) -> Result<(String, u64), AdminError> {
    match ask(dir, REQUEST_PAIRING_CODE).await? {
        AdminAnswer {
            code: Some(code),
            expires_in_seconds: Some(secs),
            ..
        } => Ok((code, secs)),
        _ => Err(AdminError::Protocol("no code in the answer".into())),
    }
}
