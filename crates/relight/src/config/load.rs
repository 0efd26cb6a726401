//! Reading a configuration file in either format: relight's TOML, or a lighttpd.conf mapped
//! onto the same model. The format is decided by the file's extension and content, or forced.

use std::path::Path;

use super::lighttpd::{self, LighttpdConfig};
use super::{Config, Error};

/// Which language a configuration file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `.toml` files, and files that look like TOML, are TOML; others are lighttpd.conf.
    Auto,
    /// relight's native TOML.
    Toml,
    /// lighttpd's configuration language.
    Lighttpd,
}

/// A loaded configuration.
#[derive(Debug)]
pub struct Loaded {
    /// What relight runs.
    pub config: Config,
    /// Keys, modules and blocks of a lighttpd.conf that relight does not implement.
    pub warnings: Vec<String>,
    /// Keys accepted with nothing to do (lighttpd's server.max-worker).
    pub notes: Vec<String>,
    /// The evaluated lighttpd configuration, when the file was one (for `-p`).
    pub lighttpd: Option<LighttpdConfig>,
}

/// Reads `path` in `format`, and checks it as start-up would; the error names the file, line
/// and column.
pub fn load(path: &Path, format: Format) -> Result<Loaded, Error> {
    let is_lighttpd = match format {
        Format::Toml => false,
        Format::Lighttpd => true,
        Format::Auto => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::unreadable(path, &e))?;
            lighttpd::looks_like_lighttpd(path, &text)
        }
    };
    if !is_lighttpd {
        let config = super::toml::load(path)?;
        return Ok(Loaded {
            config,
            warnings: Vec::new(),
            notes: Vec::new(),
            lighttpd: None,
        });
    }
    let lc = lighttpd::parse_file(path)?;
    let mapped = lighttpd::map::to_config(&lc, path)?;
    Ok(Loaded {
        config: mapped.config,
        warnings: mapped.warnings,
        notes: mapped.notes,
        lighttpd: Some(lc),
    })
}
