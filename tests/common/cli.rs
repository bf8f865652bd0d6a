//! Running the built `breakeven` binary against a test server and reading
//! what it printed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::TestServer;

pub const BIN: &str = env!("CARGO_BIN_EXE_breakeven");

/// Exit codes from the README's table.
pub const LOCAL: i32 = 1;
pub const USAGE: i32 = 2;
pub const CANCELLED: i32 = 11;
pub const INVALID_ARGUMENT: i32 = 13;
pub const NOT_FOUND: i32 = 15;
pub const UNAVAILABLE: i32 = 24;

/// A scenario file from `examples/`.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// A file of its own under the temp dir, removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// A fresh `.toml` path, holding `contents` when given.
    pub fn new(contents: Option<&str>) -> TempFile {
        TempFile::named(&format!("breakeven-cli-{}", unique()), contents)
    }

    /// `STEM.toml` under the temp dir, for commands that read a name from
    /// the file name; `stem` should be unique to the test.
    pub fn named(stem: &str, contents: Option<&str>) -> TempFile {
        let path = std::env::temp_dir().join(format!("{stem}.toml"));
        let _ = std::fs::remove_file(&path);
        if let Some(text) = contents {
            std::fs::write(&path, text).unwrap();
        }
        TempFile(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A suffix no other file of this test process has: process id and count.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a run of the binary printed, and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// The CSV rows as header → value maps.
    pub fn csv(&self) -> Vec<HashMap<String, String>> {
        let mut reader = csv::Reader::from_reader(self.stdout.as_bytes());
        let headers = reader.headers().unwrap().clone();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                headers
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(o.stdout).unwrap(),
            stderr: String::from_utf8(o.stderr).unwrap(),
        }
    }
}

/// The binary with `--server` pointing at `server`.
pub fn command(server: &TestServer, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_remove("BREAKEVEN_SERVER")
        .env_remove("RUST_LOG")
        .arg("--server")
        .arg(format!("http://{}", server.addr))
        .args(args);
    command
}

/// Runs the binary to the end off the async workers, so the in-process
/// server keeps serving it.
pub async fn run(server: &TestServer, args: &[&str]) -> Run {
    let mut command = command(server, args);
    tokio::task::spawn_blocking(move || command.output().expect("binary runs").into())
        .await
        .unwrap()
}

/// The same value in the response and in the output, as text.
pub fn same(json: &Value, expected: f64) {
    assert_eq!(json.as_f64(), Some(expected), "{json}");
}

/// A CSV cell that reads back as `expected` exactly.
pub fn same_csv(cell: &str, expected: f64) {
    assert_eq!(cell.parse::<f64>().unwrap(), expected, "{cell}");
}
