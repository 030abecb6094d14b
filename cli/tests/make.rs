//! A generated project driven as its user drives it: through its Makefile (`make lint`,
//! `make test`, `make manifests`, `make install`, `make run`) against `kubesmith envtest serve`
//! with kubectl as the client, and the exact `cargo build` command of its Dockerfile. The
//! project has a kind of its own and a third-party kind from a real-world CRD
//! (`create api --from-crd`), whose generated types must round-trip a full object.
//!
//! The project builds in the shared CARGO_TARGET_DIR (the workspace's `target/` when unset), so
//! its dependencies are the ones the workspace already built; the Dockerfile's command is a
//! release build for the host's `<arch>-unknown-linux-gnu` target, built once per target dir.
//! `docker build` itself is not run: it needs a Docker daemon.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generous: builds and a loaded machine are slow; every wait ends as soon as its condition holds.
const DEADLINE: Duration = Duration::from_secs(300);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

/// `program args` in `dir` with the project's environment; panics with its output unless it
/// succeeds.
#[track_caller]
fn run_ok(dir: &Path, program: &str, args: &[&str], kubeconfig: Option<&Path>) -> String {
    let out = command(dir, program, args, kubeconfig)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn command(dir: &Path, program: &str, args: &[&str], kubeconfig: Option<&Path>) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .env("KUBESMITH", env!("CARGO_BIN_EXE_kubesmith"))
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("KUBESMITH_RUNTIME_PATH")
        .stdin(Stdio::null());
    if let Some(kubeconfig) = kubeconfig {
        command.env("KUBECONFIG", kubeconfig);
    }
    command
}

/// A child whose stderr lines are collected as they come, to wait for log lines.
struct Logged {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Logged {
    fn spawn(mut command: Command) -> Logged {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Logged { child, lines }
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    #[track_caller]
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            if self.text().contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "exited ({status}) before logging {needle:?}:\n{}",
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("no {needle:?} in time:\n{}", self.text());
    }

    /// Ctrl-C as a terminal sends it: SIGINT to the whole process group.
    fn interrupt_group(&mut self) -> std::process::ExitStatus {
        let group = format!("-{}", self.child.id());
        let sent = Command::new("kill")
            .args(["-INT", "--", &group])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after Ctrl-C:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[track_caller]
fn eventually(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match check() {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

fn kubectl(kubeconfig: &Path, dir: &Path, args: &[&str]) -> Output {
    command(dir, "kubectl", args, Some(kubeconfig))
        .output()
        .expect("kubectl is on PATH")
}

/// The `cargo build` command line of the Dockerfile's final build step, as the shell runs it.
fn dockerfile_build_command(dockerfile: &str) -> String {
    let joined = dockerfile.replace("\\\n", " ");
    let step = joined
        .lines()
        .rfind(|l| l.starts_with("RUN ") && l.contains("cargo build") && l.contains("--bin"))
        .expect("a RUN step building the manager binary");
    step.split("&&")
        .map(str::trim)
        .find(|part| part.contains("cargo build"))
        .expect("the cargo build command")
        .to_string()
}

/// Whether the ELF executable at `path` has no program interpreter (is statically linked).
fn is_static_elf(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..count).all(|i| {
        let at = phoff + i * size;
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) != PT_INTERP
    })
}

#[test]
fn makefile_verbs_and_the_dockerfile_build_work_against_the_embedded_server() {
    if Command::new("make").arg("--version").output().is_err() {
        panic!("make is not installed; the Makefile cannot be checked");
    }
    let tmp = tempfile::tempdir().unwrap();
    // A package name of its own: packages sharing a target dir must not share names.
    let dir = tmp.path().join("make-operator");
    std::fs::create_dir(&dir).unwrap();
    let kubesmith = env!("CARGO_BIN_EXE_kubesmith");
    run_ok(&dir, kubesmith, &["init", "--domain", "example.com"], None);
    run_ok(
        &dir,
        kubesmith,
        &[
            "create",
            "api",
            "--group",
            "cache",
            "--version",
            "v1alpha1",
            "--kind",
            "Memcached",
            "--skip-generate",
        ],
        None,
    );
    let fixtures = repo().join("cli/tests/fixtures/crds");
    let crd = fixtures.join("certificates.cert-manager.io.yaml");
    run_ok(
        &dir,
        kubesmith,
        &[
            "create",
            "api",
            "--from-crd",
            crd.to_str().unwrap(),
            "--skip-generate",
        ],
        None,
    );
    // A full Certificate through the generated types and back: nothing lost or added.
    std::fs::copy(
        fixtures.join("certificate-sample.json"),
        dir.join("tests/certificate-sample.json"),
    )
    .unwrap();
    std::fs::write(
        dir.join("tests/round_trip.rs"),
        r#"//! The generated Certificate types keep every field of a real object.

use make_operator::api::cert_manager::v1::{Certificate, CertificatePrivateKeyAlgorithm};

#[test]
fn a_certificate_round_trips() {
    let original: serde_json::Value =
        serde_json::from_str(include_str!("certificate-sample.json")).expect("the sample is JSON");
    let typed: Certificate = serde_json::from_value(original.clone()).expect("deserializes");
    assert_eq!(
        typed.spec.private_key.as_ref().and_then(|k| k.algorithm),
        Some(CertificatePrivateKeyAlgorithm::Ecdsa)
    );
    assert_eq!(serde_json::to_value(&typed).expect("serializes"), original);
}
"#,
    )
    .unwrap();

    // fmt and clippy clean, then the tests (after `manifests`) on the embedded server.
    run_ok(&dir, "make", &["lint"], None);
    let test = run_ok(&dir, "make", &["test"], None);
    for expected in [
        "sample_is_reconciled_and_released_on_delete ... ok",
        "a_certificate_is_reconciled ... ok",
        "a_certificate_round_trips ... ok",
    ] {
        assert!(test.contains(expected), "{expected}:\n{test}");
    }
    // The third-party CRD is never generated into config/crd/bases; its RBAC is.
    let bases: Vec<String> = std::fs::read_dir(dir.join("config/crd/bases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(bases, ["cache.example.com_memcacheds.yaml"]);
    let role = std::fs::read_to_string(dir.join("config/rbac/role.yaml")).unwrap();
    assert!(
        role.contains("- cert-manager.io\n") && role.contains("- certificates\n"),
        "{role}"
    );
    let manifests = run_ok(&dir, "make", &["manifests"], None);
    assert!(
        manifests.contains("unchanged config/rbac/role.yaml"),
        "{manifests}"
    );
    run_ok(&dir, kubesmith, &["generate", "--check"], None);

    // `make install` and `make run` against the embedded server, as against a cluster.
    let kubeconfig = tmp.path().join("kubeconfig");
    let mut server = Logged::spawn({
        let mut c = command(
            &dir,
            kubesmith,
            &[
                "envtest",
                "serve",
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
            ],
            None,
        );
        c.process_group(0);
        c
    });
    server.wait_for("export KUBECONFIG=");
    let install = run_ok(&dir, "make", &["install"], Some(&kubeconfig));
    assert!(
        install.contains("memcacheds.cache.example.com serverside-applied"),
        "{install}"
    );
    let crds = kubectl(&kubeconfig, &dir, &["get", "crds", "-o", "name"]);
    let crds = String::from_utf8_lossy(&crds.stdout);
    assert!(crds.contains("memcacheds.cache.example.com"), "{crds}");
    assert!(
        !crds.contains("certificates"),
        "make install applied the third-party CRD: {crds}"
    );
    // A cluster running cert-manager has its CRD; the manager waits for every watched kind.
    run_ok(
        &dir,
        "kubectl",
        &["apply", "--server-side", "-f", "config/crd/external"],
        Some(&kubeconfig),
    );

    let mut manager = Logged::spawn({
        let mut c = command(&dir, "make", &["run"], Some(&kubeconfig));
        c.process_group(0);
        c
    });
    manager.wait_for("starting controllers");
    run_ok(
        &dir,
        "kubectl",
        &[
            "apply",
            "-f",
            "config/samples/cache_v1alpha1_memcached.yaml",
            "-n",
            "default",
        ],
        Some(&kubeconfig),
    );
    eventually("the running manager makes the sample Ready", || {
        let out = kubectl(
            &kubeconfig,
            &dir,
            &[
                "get",
                "memcached",
                "memcached-sample",
                "-n",
                "default",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ],
        );
        let status = String::from_utf8_lossy(&out.stdout).into_owned();
        (status == "True").then_some(()).ok_or(status)
    });
    // Ctrl-C: the manager shuts down gracefully and `make run` ends.
    manager.interrupt_group();
    assert!(
        manager.text().contains("manager stopped"),
        "{}",
        manager.text()
    );
    let status = server.interrupt_group();
    assert!(
        status.success(),
        "envtest serve exits 0 on Ctrl-C: {status}"
    );

    // The Dockerfile's build command, exactly as written (docker itself is not run).
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    let build = dockerfile_build_command(&dockerfile);
    assert!(
        build.contains("--bin make-operator") && build.contains("--locked"),
        "{build}"
    );
    run_ok(&dir, "bash", &["-c", &build], None);
    let arch = run_ok(&dir, "uname", &["-m"], None);
    let binary = target_dir().join(format!(
        "{}-unknown-linux-gnu/release/make-operator",
        arch.trim()
    ));
    assert!(
        is_static_elf(&binary),
        "{} is dynamically linked",
        binary.display()
    );
    let help = run_ok(&dir, binary.to_str().unwrap(), &["--help"], None);
    assert!(help.contains("--leader-elect"), "{help}");
}
