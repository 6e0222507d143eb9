//! Shared by the fuzz targets: compiling the fixed configuration a target runs against.

use oauth_core::Config;

/// Compiles a fixed configuration; a fuzz target's own setup may panic, the filter never.
pub fn compile(json: &str) -> Config {
    match Config::from_json(json.as_bytes()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}
