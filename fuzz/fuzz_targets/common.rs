//! Shared by the fuzz targets: compiling the fixed configuration a target runs against, and
//! the target that runs against it.

use oauth_core::Config;

/// Compiles a fixed configuration; a fuzz target's own setup may panic, the filter never.
pub fn compile(json: &str) -> Config {
    match Config::from_json(json.as_bytes()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// A fuzz target calling `run(&config, data)`, the configuration built once per thread.
macro_rules! fuzz_with_config {
    ($build:expr, $run:path) => {
        thread_local! {
            static CONFIG: oauth_core::Config = $build;
        }
        libfuzzer_sys::fuzz_target!(|data: &[u8]| {
            CONFIG.with(|cfg| $run(cfg, data));
        });
    };
}
