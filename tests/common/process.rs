//! The `breakeven` binary started as a server in a child process, as a user
//! starts it, for tests that kill it, restart it or follow the README.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `breakeven serve ARGS --addr 127.0.0.1:0` in `dir` (the test's
/// own directory when `None`) and waits for the log line that gives the
/// address. Its log is drained in the background so the server never
/// blocks on a full pipe.
pub fn serve(args: &[&std::ffi::OsStr], dir: Option<&Path>) -> (Child, std::net::SocketAddr) {
    serve_with_env(args, dir, &[])
}

/// [`serve`] with more environment variables set for the server.
pub fn serve_with_env(
    args: &[&std::ffi::OsStr],
    dir: Option<&Path>,
    env: &[(&str, &str)],
) -> (Child, std::net::SocketAddr) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_breakeven"));
    command.envs(env.iter().copied());
    command
        .arg("serve")
        .args(args)
        .args(["--addr", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let mut child = command.spawn().expect("start the server binary");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server exited before it served")
            .unwrap();
        if let Some((_, rest)) = line.split_once("serving addr=") {
            break rest.trim().parse().expect("an address");
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}
