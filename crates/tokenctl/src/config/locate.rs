//! Where the config file is.

use std::path::{Path, PathBuf};

use super::{ConfigError, CONFIG_ENV};

/// Where the config file is: `--config`, then `$TOKENCTL_CONFIG`, then the
/// platform config directory (`$XDG_CONFIG_HOME/tokenctl/config.toml`,
/// `~/.config/tokenctl/config.toml`, `~/Library/Application
/// Support/tokenctl/config.toml` on macOS, `%APPDATA%\tokenctl\config.toml`
/// on Windows).
pub fn locate(flag: Option<&Path>) -> Result<(PathBuf, &'static str), ConfigError> {
    if let Some(p) = flag {
        return Ok((p.to_path_buf(), "from --config"));
    }
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Ok((PathBuf::from(p), "from $TOKENCTL_CONFIG"));
    }
    platform_config_dir()
        .map(|d| {
            (
                d.join("tokenctl").join("config.toml"),
                "the default location",
            )
        })
        .ok_or(ConfigError::NoPath)
}

fn platform_config_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if cfg!(windows) {
        return env("APPDATA");
    }
    if cfg!(target_os = "macos") {
        return env("HOME").map(|h| h.join("Library").join("Application Support"));
    }
    env("XDG_CONFIG_HOME").or_else(|| env("HOME").map(|h| h.join(".config")))
}
