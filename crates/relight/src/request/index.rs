//! Step 5, index files (lighttpd's mod_indexfile, which runs before routing): a path that names
//! a directory (ends with `/`) holding one of the index files becomes that file's path, so
//! access rules and routing see the file.

use super::Req;

/// Puts the index file's path in place of a directory's.
pub(crate) fn step(req: &mut Req) {
    if let Some(p) = req.site.files.index_for(&req.target.path) {
        req.target.path = p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::testing::{handler, req};

    #[test]
    fn a_directory_becomes_its_index_file() {
        let root = testkit::TempDir::new("index");
        std::fs::create_dir(root.join("d")).unwrap();
        std::fs::write(root.join("d/home.html"), "x").unwrap();
        std::fs::create_dir(root.join("e")).unwrap();
        let h = handler(
            root.path(),
            "index_files = [\"index.html\", \"home.html\"]",
            "",
        );
        for (uri, path) in [("/d/", "/d/home.html"), ("/e/", "/e/"), ("/d", "/d")] {
            let mut r = req(&h, "GET", uri, &[]);
            step(&mut r);
            assert_eq!(r.target.path, path, "{uri}");
        }
    }
}
