//! Where kubemaas keeps its state, configuration and logs.
//!
//! `--state-dir` / `KUBEMAAS_STATE_DIR` override the state directory; otherwise the platform's
//! state dir (XDG `~/.local/state/kubemaas` on Linux) is used, falling back to the data dir on
//! platforms without one.

use directories::ProjectDirs;
use std::path::{Path, PathBuf};

/// The directories one kubemaas process works with.
#[derive(Debug, Clone)]
pub struct Paths {
    pub state_dir: PathBuf,
    pub config_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error("cannot find a home directory to keep kubemaas state in: pass --state-dir DIR or set KUBEMAAS_STATE_DIR")]
    NoHome,
    #[error("cannot create the state directory {path}: {source} (pass --state-dir DIR to use another place)")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Paths {
    /// Resolves the directories; `state_dir` is the `--state-dir` / `KUBEMAAS_STATE_DIR` value.
    pub fn resolve(state_dir: Option<&Path>) -> Result<Self, PathsError> {
        let dirs = ProjectDirs::from("io", "kubemaas", "kubemaas");
        let state_dir = match (state_dir, &dirs) {
            (Some(dir), _) => dir.to_path_buf(),
            (None, Some(d)) => d
                .state_dir()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| d.data_local_dir().to_path_buf()),
            (None, None) => return Err(PathsError::NoHome),
        };
        // With an explicit state dir, configuration lives beside the state so that one
        // directory holds a whole, relocatable installation (tests and demos rely on this).
        let config_dir = match (state_dir_is_explicit(state_dir.as_path(), &dirs), &dirs) {
            (false, Some(d)) => d.config_dir().to_path_buf(),
            _ => state_dir.join("config"),
        };
        Ok(Paths {
            state_dir,
            config_dir,
        })
    }

    /// Creates the state directory (0700: it holds secrets) if it does not exist.
    pub fn ensure_state_dir(&self) -> Result<(), PathsError> {
        create_private_dir(&self.state_dir)
    }

    pub fn log_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }
}

fn state_dir_is_explicit(state_dir: &Path, dirs: &Option<ProjectDirs>) -> bool {
    match dirs {
        Some(d) => Some(state_dir) != d.state_dir() && state_dir != d.data_local_dir(),
        None => true,
    }
}

/// Creates a directory readable by its owner only.
pub fn create_private_dir(path: &Path) -> Result<(), PathsError> {
    let err = |source| PathsError::Create {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(path).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Only when it is not 0700 already: a chmod fails on a read-only filesystem even when
        // it would change nothing, and an existing private dir there is still readable.
        let mode = std::fs::metadata(path).map_err(err)?.permissions().mode() & 0o777;
        if mode != 0o700 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
        }
    }
    Ok(())
}

/// Writes a file that holds secrets: created 0600 before any byte is written, replaced atomically.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("secret"),
        std::process::id()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The throw-away state directory of one `--demo` run: unique (never a directory another run
/// left behind, even when the pid is reused), 0700, deleted when dropped. A run that was killed
/// cannot delete its own, so each new run removes those whose process is gone.
pub struct DemoDir(tempfile::TempDir);

/// Demo directories are `kubemaas-demo-PID-RANDOM` in the temp dir.
const DEMO_PREFIX: &str = "kubemaas-demo-";

impl DemoDir {
    pub fn create() -> std::io::Result<DemoDir> {
        let tmp = std::env::temp_dir();
        sweep_dead_demo_dirs(&tmp);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DEMO_PREFIX}{}-", std::process::id()))
            .tempdir_in(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(DemoDir(dir))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Removes demo directories whose process no longer runs (Linux: no `/proc/PID`). Best effort:
/// a directory that cannot be read or removed is left alone.
fn sweep_dead_demo_dirs(tmp: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DEMO_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_state_dir_holds_config_too() {
        let p = Paths::resolve(Some(Path::new("/tmp/km-x"))).unwrap();
        assert_eq!(p.state_dir, PathBuf::from("/tmp/km-x"));
        assert_eq!(p.config_dir, PathBuf::from("/tmp/km-x/config"));
    }

    #[test]
    fn demo_dirs_of_dead_processes_are_swept_and_others_kept() {
        if !Path::new("/proc/self").exists() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        // No process has this pid (above Linux's pid_max).
        let dead = tmp.path().join(format!("{DEMO_PREFIX}4000000000-abc"));
        let old_style_dead = tmp.path().join(format!("{DEMO_PREFIX}4000000001"));
        let ours = tmp
            .path()
            .join(format!("{DEMO_PREFIX}{}-xyz", std::process::id()));
        let unrelated = tmp.path().join(format!("{DEMO_PREFIX}notapid"));
        for d in [&dead, &old_style_dead, &ours, &unrelated] {
            std::fs::create_dir_all(d.join("logs")).unwrap();
        }
        sweep_dead_demo_dirs(tmp.path());
        assert!(!dead.exists() && !old_style_dead.exists());
        assert!(ours.exists() && unrelated.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_demo_dir_is_private_unique_and_gone_when_dropped() {
        use std::os::unix::fs::PermissionsExt;
        let a = DemoDir::create().unwrap();
        let b = DemoDir::create().unwrap();
        assert_ne!(a.path(), b.path());
        let mode = std::fs::metadata(a.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key");
        write_private_file(&f, b"secret").unwrap();
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&f).unwrap(), b"secret");
    }
}
