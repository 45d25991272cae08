//! VIP's data namespace on disk (docs/vip.md#namespace): the synthetic `/vip` root, each user's
//! Home and Trash, the group folders, the permission matrix (8013), `PathProperties` with
//! VIP's quirks (directory size = entry count, day-precision dates), and the scratch folder
//! that holds it all, removed when the sandbox goes away.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::clock;
use super::errors::ApiError;
use super::world::{Level, User, World};
use crate::vip::wire::PathProperties;

/// The size `list` reports for a sub-directory: VIP gives a storage value with no meaning.
const LISTED_DIRECTORY_SIZE: u64 = 4096;

/// The folder holding every user's and group's files; removed on drop.
#[derive(Debug)]
pub(crate) struct DataTree {
    root: PathBuf,
}

/// Which part of the namespace a path is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Area {
    /// `/vip` itself.
    Root,
    /// The caller's `/vip/Home`.
    Home,
    /// The caller's `/vip/Trash`.
    Trash,
    /// `/vip/<G> (group)`, the caller being a member.
    Group(String),
}

/// A VIP path the caller may read, and where it lives on disk.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    /// The normalised VIP path (`..` and `.` resolved, no trailing slash).
    pub(crate) vip: String,
    pub(crate) area: Area,
    /// Segments below `/vip`: 1 for `/vip/Home`, 2 for `/vip/Home/x`.
    pub(crate) depth: usize,
    /// None for `/vip`.
    pub(crate) fs: Option<PathBuf>,
}

static NEXT_TREE: AtomicU64 = AtomicU64::new(0);

impl DataTree {
    /// Creates a fresh scratch folder (in `parent`, else the system's temporary folder) with
    /// every user's Home and Trash and every group's folder.
    pub(crate) fn create(world: &World, parent: Option<&Path>) -> io::Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let root = parent
            .map_or_else(std::env::temp_dir, Path::to_path_buf)
            .join(format!(
                "vip-run-sandbox-{}-{nanos}-{}",
                std::process::id(),
                NEXT_TREE.fetch_add(1, Ordering::Relaxed)
            ));
        fs::create_dir(&root)?;
        let tree = Self { root };
        for index in 0..world.users.len() {
            fs::create_dir_all(tree.user_dir(index).join("Home"))?;
            fs::create_dir_all(tree.user_dir(index).join("Trash"))?;
        }
        for g in &world.groups {
            fs::create_dir_all(tree.root.join("groups").join(&g.name))?;
        }
        Ok(tree)
    }

    /// Where the files are.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Removes everything (also done on drop).
    pub(crate) fn remove(&self) {
        let _ = fs::remove_dir_all(&self.root);
    }

    fn user_dir(&self, index: usize) -> PathBuf {
        self.root.join("users").join(index.to_string())
    }

    /// Resolves `raw` for `user` (the `index`th of the world): 8013 outside what the user
    /// may read (docs/vip.md#namespace).
    pub(crate) fn locate(&self, index: usize, user: &User, raw: &str) -> Result<Located, ApiError> {
        let denied = || ApiError::coded(8013, &[raw]);
        let segments = normalise(raw).ok_or_else(denied)?;
        if segments.first().map(String::as_str) != Some("vip") {
            return Err(denied());
        }
        let vip = format!("/{}", segments.join("/"));
        let below = &segments[1..];
        let Some(first) = below.first() else {
            return Ok(Located {
                vip,
                area: Area::Root,
                depth: 0,
                fs: None,
            });
        };
        let (area, base) = match first.as_str() {
            "Home" => (Area::Home, self.user_dir(index).join("Home")),
            "Trash" => (Area::Trash, self.user_dir(index).join("Trash")),
            other => {
                let group = other.strip_suffix(" (group)").ok_or_else(denied)?;
                if !user.groups.iter().any(|g| g == group) {
                    return Err(denied());
                }
                (
                    Area::Group(group.to_owned()),
                    self.root.join("groups").join(group),
                )
            }
        };
        let mut fs_path = base;
        for s in &below[1..] {
            fs_path.push(s);
        }
        Ok(Located {
            vip,
            area,
            depth: below.len(),
            fs: Some(fs_path),
        })
    }

    /// Resolves `raw` for writing or deleting: also 8013 for `/vip`, its direct children,
    /// and group folders for Beginners.
    pub(crate) fn locate_writable(
        &self,
        index: usize,
        user: &User,
        raw: &str,
    ) -> Result<Located, ApiError> {
        let located = self.locate(index, user, raw)?;
        let group_beginner =
            matches!(located.area, Area::Group(_)) && user.level == Level::Beginner;
        if located.depth < 2 || group_beginner {
            return Err(ApiError::coded(8013, &[raw]));
        }
        Ok(located)
    }

    /// `?action=exists`.
    pub(crate) fn exists(located: &Located) -> bool {
        match &located.fs {
            None => true,
            Some(p) => fs::symlink_metadata(p).is_ok(),
        }
    }

    /// `?action=properties`: a missing path is `exists: false`, not an error.
    pub(crate) fn properties(located: &Located, user: &User) -> PathProperties {
        match &located.fs {
            None => PathProperties {
                path: located.vip.clone(),
                last_modification_date: None,
                is_directory: Some(true),
                exists: true,
                size: Some(2 + user.groups.len() as u64),
                execution_id: None,
                mime_type: Some("text/directory".into()),
            },
            Some(p) => match fs::metadata(p) {
                Ok(meta) => properties_of(&located.vip, &meta, p, false),
                Err(_) => PathProperties::missing(&located.vip),
            },
        }
    }

    /// `?action=list`: the entries of a directory; 8000 for a file or a missing path.
    pub(crate) fn list(located: &Located, user: &User) -> Result<Vec<PathProperties>, ApiError> {
        let Some(dir) = &located.fs else {
            let mut names = vec!["Home".to_owned(), "Trash".to_owned()];
            names.extend(user.groups.iter().map(|g| format!("{g} (group)")));
            return Ok(names
                .into_iter()
                .map(|n| PathProperties {
                    path: format!("/vip/{n}"),
                    last_modification_date: None,
                    is_directory: Some(true),
                    exists: true,
                    size: None,
                    execution_id: None,
                    mime_type: Some("text/directory".into()),
                })
                .collect());
        };
        let entries = fs::read_dir(dir).map_err(|_| ApiError::generic())?;
        let mut out: Vec<PathProperties> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                // Half-written uploads are not there yet.
                if name.starts_with(".vip-run-upload-") {
                    return None;
                }
                let meta = e.metadata().ok()?;
                Some(properties_of(
                    &format!("{}/{name}", located.vip),
                    &meta,
                    &e.path(),
                    true,
                ))
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Size of a file, if it is one (Hello reports its input's size).
    pub(crate) fn file_size(located: &Located) -> Option<u64> {
        let meta = fs::metadata(located.fs.as_ref()?).ok()?;
        meta.is_file().then_some(meta.len())
    }
}

impl Drop for DataTree {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Splits a VIP path into segments, resolving `.` and `..` (never above the root) and
/// tolerating `//`. None for a relative path.
pub(crate) fn normalise(raw: &str) -> Option<Vec<String>> {
    if !raw.starts_with('/') {
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for s in raw.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s.to_owned()),
        }
    }
    Some(out)
}

fn properties_of(vip: &str, meta: &fs::Metadata, path: &Path, listed: bool) -> PathProperties {
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    if meta.is_dir() {
        let size = if listed {
            LISTED_DIRECTORY_SIZE
        } else {
            fs::read_dir(path).map_or(0, |d| {
                d.filter_map(Result::ok)
                    .filter(|e| {
                        !e.file_name()
                            .to_string_lossy()
                            .starts_with(".vip-run-upload-")
                    })
                    .count() as u64
            })
        };
        PathProperties {
            path: vip.to_owned(),
            last_modification_date: Some(if listed {
                clock::epoch_day(modified)
            } else {
                clock::epoch_s(modified)
            }),
            is_directory: Some(true),
            exists: true,
            size: Some(size),
            execution_id: None,
            mime_type: Some("text/directory".into()),
        }
    } else {
        PathProperties {
            path: vip.to_owned(),
            last_modification_date: Some(clock::epoch_day(modified)),
            is_directory: Some(false),
            exists: true,
            size: Some(meta.len()),
            execution_id: None,
            mime_type: Some(mime_type(vip).into()),
        }
    }
}

/// The server's guess from the extension.
pub(crate) fn mime_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "txt" | "log" | "stats" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "xml" => "application/xml",
        "html" | "htm" => "text/html",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::default_world;

    #[test]
    fn paths_resolve_dots_and_stay_inside() {
        assert_eq!(
            normalise("/vip//Home/./a/../b/").unwrap(),
            ["vip", "Home", "b"]
        );
        assert_eq!(normalise("/../../etc").unwrap(), ["etc"]);
        assert!(normalise("vip/Home").is_none());
    }

    #[test]
    fn the_permission_matrix_is_vips() {
        let world = default_world();
        let tree = DataTree::create(&world, None).unwrap();
        let guest_index = world.user_by_key(crate::sandbox::GUEST_KEY).unwrap();
        let guest = &world.users[guest_index];
        let code = |r: Result<Located, ApiError>| match r {
            Ok(_) => 0,
            Err(ApiError::Json { code, .. }) => code,
            Err(ApiError::Page { .. }) => -1,
        };
        assert_eq!(code(tree.locate(guest_index, guest, "/vip")), 0);
        assert_eq!(code(tree.locate(guest_index, guest, "/etc/passwd")), 8013);
        assert_eq!(
            code(tree.locate(guest_index, guest, "/vip/Home/../../etc")),
            8013
        );
        assert_eq!(
            code(tree.locate(guest_index, guest, "/vip/CQUEST (group)/x")),
            8013
        );
        assert_eq!(
            code(tree.locate(guest_index, guest, "/vip/Demo (group)/x")),
            0
        );
        assert_eq!(
            code(tree.locate_writable(guest_index, guest, "/vip/Demo (group)/x")),
            8013
        );
        assert_eq!(
            code(tree.locate_writable(guest_index, guest, "/vip/Home")),
            8013
        );
        assert_eq!(
            code(tree.locate_writable(guest_index, guest, "/vip/Home/x")),
            0
        );
        let root = tree.root().to_owned();
        drop(tree);
        assert!(!root.exists());
    }
}
