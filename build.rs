//! Compiles `proto/` with protox (no system `protoc`) and embeds the catalogue
//! data files so that the binary serves its defaults with no files beside it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use prost::Message as _;

/// Directories of catalogue data embedded into the binary.
const DATA_DIRS: [&str; 3] = ["hardware", "models", "prices"];

fn main() -> anyhow::Result<()> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    compile_protos(&out_dir)?;
    embed_data(&out_dir)?;
    Ok(())
}

fn compile_protos(out_dir: &Path) -> anyhow::Result<()> {
    println!("cargo:rerun-if-changed=proto");
    let mut files = Vec::new();
    for entry in std::fs::read_dir("proto/breakeven/v1")? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "proto") {
            files.push(path);
        }
    }
    files.sort();
    let fds = protox::compile(&files, ["proto"])?;
    std::fs::write(
        out_dir.join("breakeven_descriptor.bin"),
        fds.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}

/// Writes `embedded_data.rs`: a slice of (relative path, contents) pairs.
fn embed_data(out_dir: &Path) -> anyhow::Result<()> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut code = String::from("&[\n");
    for dir in DATA_DIRS {
        println!("cargo:rerun-if-changed={dir}");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join(dir))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        paths.retain(|p| p.extension().is_some_and(|e| e == "toml"));
        paths.sort();
        for path in paths {
            let name = path.file_name().unwrap().to_string_lossy();
            writeln!(
                code,
                "    ({:?}, include_str!({:?})),",
                format!("{dir}/{name}"),
                path.display().to_string()
            )?;
        }
    }
    code.push_str("]\n");
    std::fs::write(out_dir.join("embedded_data.rs"), code)?;
    Ok(())
}
