//! PostgreSQL for the test suites: a schema of its own for each test, on
//! the server `$BREAKEVEN_TEST_DATABASE_URL` names, else the local server
//! at 127.0.0.1:5432 (database `test`, trust authentication), else a
//! throwaway cluster started from the installed PostgreSQL binaries in a
//! temporary directory on a free port and stopped when the test process
//! exits (`BREAKEVEN_TEST_DATABASE_URL=throwaway` goes straight to
//! that). With none of these, it panics with what to install: a test that
//! needs PostgreSQL never passes without it.
//!
//! Not part of the product: the library's and the integration tests'
//! harness, kept here so both use the same one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable naming the test server.
pub const URL_VAR: &str = "BREAKEVEN_TEST_DATABASE_URL";
/// Where the development machines and CI run PostgreSQL.
pub const LOCAL_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema of its own on the test server, dropped with everything in it
/// when this value is dropped.
#[derive(Debug)]
pub struct TestSchema {
    /// Connects with `search_path` set to the schema: give it to the
    /// backend or to `serve --database-url`.
    pub url: String,
    /// The schema's name.
    pub name: String,
    server: String,
}

impl TestSchema {
    /// Runs SQL on the server outside the schema (e.g. to stop sessions).
    pub fn admin(&self, sql: &str) {
        run_sql(&self.server, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs SQL in the schema and returns the first column of each row
    /// as text.
    pub fn query(&self, sql: &str) -> Vec<String> {
        query_text(&self.url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        if let Err(e) = run_sql(&self.server, &sql) {
            eprintln!("could not drop test schema {}: {e}", self.name);
        }
    }
}

/// A new, empty schema on the test server.
pub fn schema() -> TestSchema {
    let server = server().to_string();
    let name = super::new_id("t");
    run_sql(&server, &format!("CREATE SCHEMA {name}"))
        .unwrap_or_else(|e| panic!("cannot create a test schema on {server}: {e}"));
    let separator = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{separator}options=-c%20search_path%3D{name}");
    TestSchema { url, name, server }
}

/// The URL of the test server, found (or started) once per process.
pub fn server() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| {
        let named = std::env::var(URL_VAR).ok();
        if named.as_deref() == Some("throwaway") {
            return throwaway_cluster()
                .unwrap_or_else(|why| panic!("cannot start a throwaway cluster: {why}"));
        }
        if let Some(url) = named {
            if let Err(e) = run_sql(&url, "SELECT 1") {
                panic!("{URL_VAR}={url} does not answer: {e}");
            }
            return url;
        }
        if run_sql(LOCAL_URL, "SELECT 1").is_ok() {
            return LOCAL_URL.to_string();
        }
        match throwaway_cluster() {
            Ok(url) => url,
            Err(why) => panic!(
                "these tests need PostgreSQL and found none: {URL_VAR} is not set, nothing \
                 answers at {LOCAL_URL}, and a throwaway cluster could not be started ({why}). \
                 Install PostgreSQL (Debian/Ubuntu: `apt-get install postgresql`; the tests \
                 start a cluster of their own from its initdb and pg_ctl), start the local \
                 one (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main \
                 start`), or set {URL_VAR}=postgres://USER@HOST:PORT/DB"
            ),
        }
    })
}

/// Runs `sql` (one or more statements) on a fresh connection, from a
/// thread of its own so that it works inside and outside a runtime.
fn run_sql(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    on_own_runtime(move |runtime| {
        runtime.block_on(async {
            let client = connect(&url).await?;
            client.batch_execute(&sql).await.map_err(|e| e.to_string())
        })
    })
}

fn query_text(url: &str, sql: &str) -> Result<Vec<String>, String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    on_own_runtime(move |runtime| {
        runtime.block_on(async {
            let client = connect(&url).await?;
            let messages = client.simple_query(&sql).await.map_err(|e| e.to_string())?;
            Ok(messages
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        Some(row.get(0).unwrap_or("").to_string())
                    }
                    _ => None,
                })
                .collect())
        })
    })
}

fn on_own_runtime<T: Send + 'static>(
    work: impl FnOnce(&tokio::runtime::Runtime) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        work(&runtime)
    })
    .join()
    .map_err(|_| "the SQL thread panicked".to_string())?
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The directory holding `initdb` and `pg_ctl`: on the PATH, or the
/// newest under /usr/lib/postgresql (Debian's layout).
fn binaries() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "no initdb on the PATH nor under /usr/lib/postgresql".to_string())?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".to_string())
}

/// Starts a cluster in a new temporary directory on a free port and a
/// watchdog that stops it and removes the directory once this process
/// has exited. PostgreSQL refuses to run as root, so as root it runs as
/// the `postgres` user.
fn throwaway_cluster() -> Result<String, String> {
    let bin = binaries()?;
    let dir = std::env::temp_dir().join(format!("breakeven-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let user = if as_root { "postgres" } else { "" };
    if as_root {
        let status = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("cannot give the cluster directory to user postgres".into());
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let data = dir.join("data");
    run_as(
        user,
        &bin.join("initdb"),
        &[
            "-D",
            &data.to_string_lossy(),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        ],
    )?;
    let server_options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
        dir.display()
    );
    run_as(
        user,
        &bin.join("pg_ctl"),
        &[
            "-D",
            &data.to_string_lossy(),
            "-o",
            &server_options,
            "-l",
            &dir.join("log").to_string_lossy(),
            "-w",
            "start",
        ],
    )?;
    // Stop it and clean up when this process is gone, however it ends.
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {prefix}'{pg_ctl}' -D '{data}' -m \
         immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        prefix = if as_root {
            "runuser -u postgres -- "
        } else {
            ""
        },
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("setsid")
        .args(["sh", "-c", &watchdog])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the cluster's watchdog: {e}"))?;
    let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    run_sql(&admin, "CREATE DATABASE test")?;
    eprintln!(
        "started a throwaway PostgreSQL cluster on port {port} in {}",
        dir.display()
    );
    Ok(format!("postgres://postgres@127.0.0.1:{port}/test"))
}

fn run_as(user: &str, program: &Path, args: &[&str]) -> Result<(), String> {
    let mut command = if user.is_empty() {
        Command::new(program)
    } else {
        let mut c = Command::new("runuser");
        c.args(["-u", user, "--"]).arg(program);
        c
    };
    let output = command
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
