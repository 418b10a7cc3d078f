//! The data dir is private to the server's user: object bodies, the index
//! and the keys are nobody else's to read. Every directory ringstore
//! creates is 0700 and every file 0600, and a data dir left looser by an
//! older build or by hand is tightened at start.

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Mode of every file in the data dir.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of the data dir and every directory in it.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Group and other permission bits: none may be set in the data dir.
const GROUP_OTHER_BITS: u32 = 0o077;
/// How deep `tighten_modes` walks (data dir / shard-NNN / files).
const MAX_WALK_DEPTH: usize = 4;

/// Creates `dir` with mode 0700 (its missing parents with the usual mode);
/// an existing `dir` is left as it is (see `tighten_modes`).
pub fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match DirBuilder::new().mode(PRIVATE_DIR_MODE).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        r => r,
    }
}

/// What `tighten_modes` changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tightened {
    pub dirs: usize,
    pub files: usize,
}

/// Takes group and other permissions off `root` and everything under it
/// (directories to 0700, files to 0600). Symbolic links are not followed.
pub fn tighten_modes(root: &Path) -> std::io::Result<Tightened> {
    let mut done = Tightened::default();
    tighten(root, 0, &mut done)?;
    Ok(done)
}

fn tighten(path: &Path, depth: usize, done: &mut Tightened) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let mode = meta.permissions().mode();
    if meta.is_dir() {
        if mode & GROUP_OTHER_BITS != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_DIR_MODE))?;
            done.dirs += 1;
        }
        if depth < MAX_WALK_DEPTH {
            for entry in std::fs::read_dir(path)? {
                tighten(&entry?.path(), depth + 1, done)?;
            }
        }
    } else if meta.is_file() && mode & GROUP_OTHER_BITS != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_FILE_MODE))?;
        done.files += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn a_new_dir_is_private_and_an_existing_one_is_kept() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("a/b/data");
        create_private_dir_all(&dir).expect("create");
        assert_eq!(mode(&dir), 0o700);
        create_private_dir_all(&dir).expect("again");
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn loose_modes_are_tightened_and_links_are_not_followed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("data");
        let shard = root.join("shard-000");
        std::fs::create_dir_all(&shard).expect("dirs");
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, b"x").expect("outside");
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::os::unix::fs::symlink(&outside, root.join("link")).expect("symlink");
        std::fs::write(shard.join("seg-0000000001.log"), b"x").expect("segment");
        std::fs::write(root.join("format.json"), b"{}").expect("format");
        std::fs::write(root.join("private"), b"x").expect("private");
        for (p, m) in [
            (&root, 0o755),
            (&shard, 0o750),
            (&shard.join("seg-0000000001.log"), 0o644),
            (&root.join("format.json"), 0o604),
            (&root.join("private"), 0o600),
        ] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
        }
        let done = tighten_modes(&root).expect("tighten");
        assert_eq!(done, Tightened { dirs: 2, files: 2 });
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&shard), 0o700);
        assert_eq!(mode(&shard.join("seg-0000000001.log")), 0o600);
        assert_eq!(mode(&root.join("format.json")), 0o600);
        assert_eq!(
            mode(&outside),
            0o644,
            "a link's target is not ours to change"
        );
        assert_eq!(tighten_modes(&root).expect("again"), Tightened::default());
    }
}
