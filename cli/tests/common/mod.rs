//! What the CLI's integration tests share: running the built `kubesmith` as users do (a
//! subprocess in a temporary directory) and looking at what it left on disk.
#![allow(dead_code)] // each test binary uses its own part

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What one `kubesmith` run did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `kubesmith args...` in `dir`. Projects record the runtime of the checkout the binary
/// was built from (no `KUBESMITH_RUNTIME_PATH` from the caller's environment).
pub fn kubesmith(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_kubesmith"))
        .args(args)
        .current_dir(dir)
        .env_remove("KUBESMITH_RUNTIME_PATH")
        .output()
        .expect("run kubesmith");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir` with its content, to prove a refused command changed nothing.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// The text of `dir/rel`, or a panic naming the file.
pub fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}
