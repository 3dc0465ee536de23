//! The gateway side of a deployed gateway's pairing: `kubemaas gateway run
//! --pairing-code-file FILE` reads the code the console put in the node's user-data, admits it
//! once for what is left of its lifetime (counted from when cloud-init wrote the file, at first
//! boot), and deletes the file so that no later start accepts it again.

use crate::bootstrap::gateway_user_data::PREISSUED_CODE_LIFETIME;
use crate::gateway::pairing::{PairingCode, Pairings};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What became of a pre-issued code file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preissued {
    /// No file: this is not the first start (or the gateway was not deployed by a console).
    Absent,
    /// Admitted for this long.
    Admitted(Duration),
    /// The file was older than the code's lifetime: not admitted.
    Expired,
}

/// Why the file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PreissuedError {
    #[error("cannot read the pairing code file {path}: {detail} (it must be readable by the gateway's user; get a code with `kubemaas gateway pairing-code` instead)")]
    Read { path: PathBuf, detail: String },
    #[error("the pairing code file {path} holds no pairing code ({detail}); it was removed: get a code with `kubemaas gateway pairing-code`")]
    Invalid { path: PathBuf, detail: String },
    #[error("cannot remove the pairing code file {path} after reading it: {detail} (remove it by hand: it must be accepted only at the first start)")]
    Remove { path: PathBuf, detail: String },
}

/// Reads `path`, admits its code into `pairings` for the rest of [`PREISSUED_CODE_LIFETIME`]
/// (its age taken from the file's modification time, against `now`), and removes the file.
pub fn admit_from_file(
    path: &Path,
    pairings: &Pairings,
    now: SystemTime,
) -> Result<Preissued, PreissuedError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Preissued::Absent),
        Err(e) => {
            return Err(PreissuedError::Read {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })
        }
    };
    let written = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(now);
    // Removed before anything else: whatever follows, the code is never read twice.
    std::fs::remove_file(path).map_err(|e| PreissuedError::Remove {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let code = PairingCode::parse(text.trim()).map_err(|e| PreissuedError::Invalid {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    // A file from the future (clock set back) counts as new.
    let age = now.duration_since(written).unwrap_or_default();
    match PREISSUED_CODE_LIFETIME.checked_sub(age) {
        Some(left) if !left.is_zero() => {
            pairings.admit(&code, left);
            Ok(Preissued::Admitted(left))
        }
        _ => {
            tracing::warn!(path = %path.display(), "pre-issued pairing code expired before the gateway started");
            Ok(Preissued::Expired)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::clock::ManualClock;
    use crate::gateway::pairing::{code_key, proof, Limits, PairingError, Side};
    use std::sync::Arc;

    #[test]
    fn a_fresh_file_is_admitted_once_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pairing-code");
        let code = PairingCode::parse("7KQ2M-4XH9P-ABCDE-FGHJK").unwrap();
        std::fs::write(&path, format!("{}\n", code.reveal())).unwrap();
        let pairings = Pairings::new(Arc::new(ManualClock::new()), Limits::default());
        let now = SystemTime::now() + Duration::from_secs(600);
        match admit_from_file(&path, &pairings, now).unwrap() {
            Preissued::Admitted(left) => {
                assert!(left <= PREISSUED_CODE_LIFETIME - Duration::from_secs(599))
            }
            other => panic!("{other:?}"),
        }
        assert!(!path.exists());
        assert_eq!(
            admit_from_file(&path, &pairings, now).unwrap(),
            Preissued::Absent
        );
        let fp = [1u8; 32];
        let p = proof(&code_key(&code), Side::Console, &fp, b"pk");
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        assert!(pairings.redeem(ip, &fp, b"pk", &p).is_ok());
        assert_eq!(
            pairings.redeem(ip, &fp, b"pk", &p),
            Err(PairingError::ReusedCode)
        );
    }

    #[test]
    fn old_and_garbled_files_are_refused_and_still_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pairing-code");
        let pairings = Pairings::new(Arc::new(ManualClock::new()), Limits::default());
        std::fs::write(&path, "7KQ2M-4XH9P-ABCDE-FGHJK\n").unwrap();
        let later = SystemTime::now() + PREISSUED_CODE_LIFETIME + Duration::from_secs(1);
        assert_eq!(
            admit_from_file(&path, &pairings, later).unwrap(),
            Preissued::Expired
        );
        assert!(!path.exists());
        std::fs::write(&path, "not a code").unwrap();
        assert!(matches!(
            admit_from_file(&path, &pairings, SystemTime::now()),
            Err(PreissuedError::Invalid { .. })
        ));
        assert!(!path.exists());
    }
}
