//! Step 5, index files (lighttpd's mod_indexfile, which runs before routing): a path that names
//! a directory (ends with `/`) holding one of the index files becomes that file's path, so
//! access rules and routing see the file.

use super::Req;

/// Puts the index file's path in place of a directory's.
pub(crate) fn step(req: &mut Req<'_>) {
    if let Some(p) = req.site.files.index_for(&req.target.path) {
        req.target.path = p;
    }
}
