//! Reading and writing a tool's config file safely: never through a symbolic link or a `..`,
//! never a file that is read-only, too large or not text; written atomically (a temp file in
//! the same folder, then a rename) with the file's own permissions, or 0600 when it is new.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Config files are small; anything larger is not the file KeyGate expects.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(
        "{0} is a symbolic link; KeyGate does not write through links. Point the tool's own setting at the real file, or connect it by hand"
    )]
    Symlink(String),
    #[error("{0} contains '..'; KeyGate only writes where the tool itself looks")]
    Traversal(String),
    #[error("{0} is not a regular file")]
    NotAFile(String),
    #[error(
        "{0} is read-only; KeyGate leaves it as it is. Make it writable, or connect the tool by hand"
    )]
    ReadOnly(String),
    #[error("{0} is larger than 1 MB; that is not a config file KeyGate knows")]
    TooLarge(String),
    #[error("{0} is not UTF-8 text")]
    NotText(String),
    #[error("{path} changed while KeyGate was writing it; nothing was written. Try again")]
    ChangedMeanwhile { path: String },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FileError + 'a {
    move |source| FileError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// Refuses a path with `..`, or a link at the file or at any folder above it up to the
/// first one that exists.
pub fn check_path(path: &Path) -> Result<(), FileError> {
    let shown = || path.display().to_string();
    if path.components().any(|c| matches!(c, Component::ParentDir)) || !path.is_absolute() {
        return Err(FileError::Traversal(shown()));
    }
    if let Ok(meta) = fs::symlink_metadata(path) {
        if meta.file_type().is_symlink() {
            return Err(FileError::Symlink(shown()));
        }
        if !meta.is_file() {
            return Err(FileError::NotAFile(shown()));
        }
    }
    // The tool's own folder (`~/.claude`, `~/.codex`…) must not be a link either.
    if let Some(parent) = path.parent()
        && let Ok(meta) = fs::symlink_metadata(parent)
        && meta.file_type().is_symlink()
    {
        return Err(FileError::Symlink(parent.display().to_string()));
    }
    Ok(())
}

/// The file's text, or `None` when it does not exist.
pub fn read(path: &Path) -> Result<Option<String>, FileError> {
    check_path(path)?;
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", path)(e)),
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(FileError::TooLarge(path.display().to_string()));
    }
    let bytes = fs::read(path).map_err(io("read", path))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| FileError::NotText(path.display().to_string()))
}

/// Refuses before anything is written when the file exists and is read-only.
pub fn check_writable(path: &Path) -> Result<(), FileError> {
    check_path(path)?;
    match fs::metadata(path) {
        Ok(meta) if meta.permissions().readonly() => {
            Err(FileError::ReadOnly(path.display().to_string()))
        }
        _ => Ok(()),
    }
}

/// Writes `text` to `path` atomically. `expected` is what the file held when KeyGate read it
/// (`None`: absent); a file that changed since is left alone.
pub fn write_atomic(path: &Path, text: &str, expected: Option<&str>) -> Result<(), FileError> {
    check_writable(path)?;
    if read(path)?.as_deref() != expected {
        return Err(FileError::ChangedMeanwhile {
            path: path.display().to_string(),
        });
    }
    let dir = path
        .parent()
        .ok_or_else(|| FileError::NotAFile(path.display().to_string()))?;
    create_private_dir(dir)?;
    let mode = existing_mode(path).unwrap_or(0o600);
    let temp = temp_path(path);
    let result = (|| {
        let mut file = open_new(&temp, mode)?;
        file.write_all(text.as_bytes())
            .map_err(io("write", &temp))?;
        file.sync_all().map_err(io("write", &temp))?;
        drop(file);
        set_mode(&temp, mode)?;
        fs::rename(&temp, path).map_err(io("replace", path))?;
        if let Ok(dir) = fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Removes a file KeyGate created (undo of a file that did not exist before).
pub fn remove(path: &Path) -> Result<(), FileError> {
    check_path(path)?;
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("remove", path)(e)),
    }
}

/// Creates `dir` and the folders above it, each 0700 when KeyGate creates it.
pub fn create_private_dir(dir: &Path) -> Result<(), FileError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io("create the folder", dir))
}

/// Writes a private file KeyGate owns (a backup, a record), 0600, atomically.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let temp = temp_path(path);
    let mut file = open_new(&temp, 0o600)?;
    file.write_all(bytes).map_err(io("write", &temp))?;
    file.sync_all().map_err(io("write", &temp))?;
    drop(file);
    fs::rename(&temp, path).map_err(io("replace", path))
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.keygate-{}.tmp", std::process::id()))
}

fn open_new(path: &Path, mode: u32) -> Result<fs::File, FileError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path).map_err(io("create", path))
}

#[cfg(unix)]
fn existing_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .ok()
        .map(|meta| meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn existing_mode(_path: &Path) -> Option<u32> {
    None
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), FileError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(io("set permissions on", path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), FileError> {
    Ok(())
}
