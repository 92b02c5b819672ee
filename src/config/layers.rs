//! Building a [`Config`] from its layers: defaults, file, environment, flags.

use std::path::{Path, PathBuf};

use super::file;
use super::{
    Cidr, Config, ConfigError, DEFAULT_FILE, KEYS, Source, env_var_for, parse_context_name,
    parse_port,
};

/// What the command line says about where the configuration comes from.
#[derive(Debug, Default)]
pub struct LoadOptions {
    /// The file named by `-c` or `PGSHADOW_CONFIG`; `None` means the default
    /// `./pgshadow.yaml`, which may be absent.
    pub file: Option<PathBuf>,
    /// Flag overrides as (key, value, flag name), applied last.
    pub flags: Vec<(&'static str, String, &'static str)>,
}

/// Builds the effective configuration. `env` looks a variable up; it is
/// `std::env::var` in the binary and a table in tests.
pub fn load(
    options: &LoadOptions,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut config = Config::default();

    let (path, explicit) = match &options.file {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(DEFAULT_FILE), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => apply_file(&mut config, &path, &text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::NotFound { path });
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    }

    for key in KEYS {
        let var = env_var_for(key);
        if let Some(raw) = env(&var) {
            apply_str(&mut config, key, &raw, Path::new(".")).map_err(|message| {
                ConfigError::Env {
                    var: var.clone(),
                    message,
                }
            })?;
            config.sources.insert(key, Source::Env(var));
        }
    }

    for (key, raw, flag) in &options.flags {
        apply_str(&mut config, key, raw, Path::new(".")).map_err(|message| ConfigError::Flag {
            flag: flag.to_string(),
            message,
        })?;
        config.sources.insert(key, Source::Flag(flag.to_string()));
    }
    refuse_two_engines(&config)?;
    Ok(config)
}

/// A role's engine is named once: by address or by context, not both,
/// since either could silently win over the other.
fn refuse_two_engines(config: &Config) -> Result<(), ConfigError> {
    let pairs = [
        ("primary.docker_host", "primary.docker_context"),
        ("standby.docker_host", "standby.docker_context"),
    ];
    for (host, context) in pairs {
        if config.sources.contains_key(host) && config.sources.contains_key(context) {
            return Err(ConfigError::Conflict {
                first: host,
                first_origin: config.source(host),
                second: context,
                second_origin: config.source(context),
            });
        }
    }
    Ok(())
}

/// Applies the file's values; relative paths resolve against its folder.
fn apply_file(config: &mut Config, path: &Path, text: &str) -> Result<(), ConfigError> {
    let parsed = file::parse(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        line: e.location().map(|l| l.line()).unwrap_or(0),
        message: strip_location(&e.to_string()),
    })?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    config.file = Some(path.to_path_buf());

    let mut allow = Vec::new();
    for (key, value) in parsed.values() {
        let line = match key {
            "primary.allow" => file::line_of_item(text, key, allow.len()),
            _ => file::line_of(text, key),
        }
        .unwrap_or(0);
        let invalid = |message| ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            message,
        };
        if key == "primary.allow" {
            let cidr = value
                .trim()
                .parse::<Cidr>()
                .map_err(|m| invalid(format!("primary.allow[{}]: {m}", allow.len())))?;
            allow.push(cidr);
        } else {
            apply_str(config, key, &value, base).map_err(|m| invalid(format!("{key}: {m}")))?;
        }
        let line = file::line_of(text, key).unwrap_or(line);
        config.sources.insert(
            key,
            Source::File {
                path: path.to_path_buf(),
                line,
            },
        );
    }
    if config.sources.contains_key("primary.allow") {
        config.primary.allow = allow;
    }
    Ok(())
}

/// serde_yaml writes " at line L column C" into its messages; the line is
/// already in front of ours, so drop it wherever it stands.
fn strip_location(message: &str) -> String {
    let Some(at) = message.find(" at line ") else {
        return message.to_string();
    };
    let rest = &message[at + " at line ".len()..];
    let after_numbers = rest
        .split_once(" column ")
        .map(|(_, tail)| tail.trim_start_matches(|c: char| c.is_ascii_digit()))
        .unwrap_or("");
    format!("{}{after_numbers}", &message[..at])
}

/// Applies one value given as text (environment or flag).
fn apply_str(config: &mut Config, key: &str, raw: &str, base: &Path) -> Result<(), String> {
    let nonempty = || {
        if raw.trim().is_empty() {
            Err(format!("`{key}` must not be empty"))
        } else {
            Ok(raw.trim().to_string())
        }
    };
    match key {
        "image" => config.image = nonempty()?,
        "pki_dir" => config.pki_dir = resolve(base, nonempty()?),
        "primary.host" => config.primary.host = Some(nonempty()?),
        "primary.port" => config.primary.port = parse_port(raw)?,
        "primary.container" => config.primary.container = nonempty()?,
        "primary.data_dir" => config.primary.data_dir = Some(resolve(base, nonempty()?)),
        "primary.allow" => {
            config.primary.allow = raw
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse::<Cidr>())
                .collect::<Result<_, _>>()?
        }
        "primary.docker_host" => config.primary.docker_host = Some(raw.parse()?),
        "primary.docker_context" => config.primary.docker_context = Some(parse_context_name(raw)?),
        "replication.user" => config.replication.user = nonempty()?,
        "replication.slot" => config.replication.slot = Some(nonempty()?),
        "replication.sslmode" => config.replication.sslmode = raw.trim().parse()?,
        "standby.container" => config.standby.container = nonempty()?,
        "standby.data_dir" => config.standby.data_dir = Some(resolve(base, nonempty()?)),
        "standby.port" => config.standby.port = Some(parse_port(raw)?),
        "standby.owner" => config.standby.owner = raw.trim().parse()?,
        "standby.pgdata" => config.standby.pgdata = nonempty()?,
        "standby.docker_host" => config.standby.docker_host = Some(raw.parse()?),
        "standby.docker_context" => config.standby.docker_context = Some(parse_context_name(raw)?),
        _ => return Err(format!("unknown key `{key}`")),
    }
    Ok(())
}

/// Makes a path from the file or the environment absolute: relative to the
/// file's folder, or to the working directory. Bind mounts need absolute paths.
fn resolve(base: &Path, path: impl AsRef<Path>) -> PathBuf {
    let joined = base.join(path);
    let absolute = std::path::absolute(&joined).unwrap_or(joined);
    // `absolute` keeps `.` components; drop them so paths read cleanly.
    absolute.components().collect()
}
