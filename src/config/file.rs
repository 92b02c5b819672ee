//! The YAML file layer: strict parsing with serde_yaml, and the line each
//! key stands on so that `config show` can say where a value came from.

use serde::Deserialize;

/// `pgshadow.yaml` as written; every key is optional here, and what a
/// command needs is checked when it asks for it. Values stay raw text (or
/// numbers) here: they are validated with the same rules as environment
/// variables and flags, in a second pass that knows each key's line.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub image: Option<String>,
    pub pki_dir: Option<String>,
    pub primary: Option<FilePrimary>,
    pub replication: Option<FileReplication>,
    pub standby: Option<FileStandby>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePrimary {
    pub host: Option<String>,
    pub port: Option<u64>,
    pub container: Option<String>,
    pub data_dir: Option<String>,
    pub allow: Option<Vec<String>>,
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileReplication {
    pub user: Option<String>,
    pub slot: Option<String>,
    pub sslmode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStandby {
    pub container: Option<String>,
    pub data_dir: Option<String>,
    pub port: Option<u64>,
    pub owner: Option<String>,
    pub pgdata: Option<String>,
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
}

impl FileConfig {
    /// Every value present, as (key, text), in [`super::KEYS`] order. A list
    /// gives one entry per item, keyed `primary.allow`.
    pub fn values(self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut put = |key: &'static str, value: Option<String>| {
            if let Some(value) = value {
                out.push((key, value));
            }
        };
        put("image", self.image);
        put("pki_dir", self.pki_dir);
        let p = self.primary.unwrap_or_default();
        put("primary.host", p.host);
        put("primary.port", p.port.map(|n| n.to_string()));
        put("primary.container", p.container);
        put("primary.data_dir", p.data_dir);
        for entry in p.allow.unwrap_or_default() {
            put("primary.allow", Some(entry));
        }
        put("primary.docker_host", p.docker_host);
        put("primary.docker_context", p.docker_context);
        let r = self.replication.unwrap_or_default();
        put("replication.user", r.user);
        put("replication.slot", r.slot);
        put("replication.sslmode", r.sslmode);
        let s = self.standby.unwrap_or_default();
        put("standby.container", s.container);
        put("standby.data_dir", s.data_dir);
        put("standby.port", s.port.map(|n| n.to_string()));
        put("standby.owner", s.owner);
        put("standby.pgdata", s.pgdata);
        put("standby.docker_host", s.docker_host);
        put("standby.docker_context", s.docker_context);
        out
    }
}

/// Parses the file's text. An empty file is an empty configuration.
pub fn parse(text: &str) -> Result<FileConfig, serde_yaml::Error> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_yaml::from_str(text)
}

/// Finds the 1-based line on which a dotted key such as `primary.port` is
/// written, for block-style YAML (the form pgshadow documents and writes).
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    let mut parts = key.split('.').peekable();
    let mut wanted = parts.next()?;
    let mut min_indent = 0;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if indent < min_indent {
            return None;
        }
        let Some((name, _)) = trimmed.split_once(':') else {
            continue;
        };
        if name.trim() != wanted {
            continue;
        }
        match parts.next() {
            None => return Some(index + 1),
            Some(next) => {
                wanted = next;
                min_indent = indent + 1;
            }
        }
    }
    None
}

/// The line of item `index` of the block-style list under `key`, or of the
/// key itself for a flow-style list (`allow: [a, b]`).
pub fn line_of_item(text: &str, key: &str, index: usize) -> Option<usize> {
    let key_line = line_of(text, key)?;
    let lines: Vec<&str> = text.lines().collect();
    if lines[key_line - 1].contains('[') {
        return Some(key_line);
    }
    let items = lines
        .iter()
        .enumerate()
        .skip(key_line)
        .filter(|(_, l)| l.trim_start().starts_with("- "));
    items.map(|(i, _)| i + 1).nth(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str =
        "image: x\n# comment\nprimary:\n  host: a\n  port: 5432\nstandby:\n  port: 1\n";

    #[test]
    fn finds_nested_keys_under_their_section() {
        assert_eq!(line_of(SAMPLE, "image"), Some(1));
        assert_eq!(line_of(SAMPLE, "primary.port"), Some(5));
        assert_eq!(line_of(SAMPLE, "standby.port"), Some(7));
        assert_eq!(line_of(SAMPLE, "replication.user"), None);
    }
}
