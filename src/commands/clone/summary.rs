//! The summary `clone-standby` prints at the end: timings, size, where
//! things are, and what to run next; also as JSON for machines.

use std::path::PathBuf;
use std::time::Duration;

/// What the run did, for the summary.
#[derive(Debug, Default)]
pub struct Summary {
    pub stages: Vec<(&'static str, Duration)>,
    pub bytes: u64,
    pub verified: bool,
    /// pg_basebackup's `--compress`, when the copy was compressed.
    pub compress: Option<String>,
    pub slot: Option<String>,
    pub data_dir: PathBuf,
    pub container: String,
    pub replaced: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
    /// The primary's system identifier, which the standby now shares.
    pub system_id: String,
}

impl Summary {
    /// The human summary: timings, size, where things are, what to run next.
    pub fn render(&self) -> String {
        let total: Duration = self.stages.iter().map(|(_, d)| *d).sum();
        let rate = self.bytes as f64 / self.stage_time("pg_basebackup").max(0.001) / 1e6;
        let mut text = format!(
            "standby {} streams from the primary\n  copied      {:.1} MB at {rate:.1} MB/s\n",
            self.container,
            self.bytes as f64 / 1e6
        );
        for (name, took) in &self.stages {
            text.push_str(&format!("  {name:<22}{:.1}s\n", took.as_secs_f64()));
        }
        text.push_str(&format!("  total       {:.1}s\n", total.as_secs_f64()));
        text.push_str(&format!("  data dir    {}\n", self.data_dir.display()));
        text.push_str(&format!("  system id   {}\n", self.system_id));
        text.push_str(&format!(
            "  slot        {}\n",
            self.slot.as_deref().unwrap_or("none")
        ));
        text.push_str(&format!(
            "  compressed  {}\n",
            self.compress.as_deref().unwrap_or("no")
        ));
        text.push_str(&format!(
            "  verified    {}\n",
            if self.verified {
                "yes (pg_verifybackup)"
            } else {
                "no (--no-verify)"
            }
        ));
        if let Some(old) = &self.replaced {
            text.push_str(&format!(
                "  replaced    the old directory is kept at {}\n",
                old.display()
            ));
        }
        let config = self
            .config_file
            .as_ref()
            .map(|p| format!(" -c {}", p.display()))
            .unwrap_or_default();
        text.push_str(&format!(
            "next: pgshadow{config} status    (lag, and exit codes for monitoring)\n"
        ));
        text
    }

    fn stage_time(&self, name: &str) -> f64 {
        self.stages
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d.as_secs_f64())
            .unwrap_or(0.0)
    }

    /// The summary for `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        let stages: serde_json::Map<_, _> = self
            .stages
            .iter()
            .map(|(n, d)| (n.to_string(), serde_json::json!(d.as_secs_f64())))
            .collect();
        serde_json::json!({
            "container": self.container,
            "data_dir": self.data_dir,
            "bytes": self.bytes,
            "slot": self.slot,
            "verified": self.verified,
            "compress": self.compress,
            "system_id": self.system_id,
            "replaced": self.replaced,
            "stage_seconds": stages,
        })
    }
}
