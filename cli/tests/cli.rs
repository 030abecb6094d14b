//! The CLI as users run it: a subprocess in temporary directories.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{Run, kubesmith, read, snapshot};

/// A fresh project directory `memcached-operator` after `init`.
fn initialised() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("memcached-operator");
    std::fs::create_dir(&dir).unwrap();
    let run = kubesmith(&dir, &["init", "--domain", "example.com"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    (tmp, dir)
}

fn create_api(dir: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["create", "api", "--skip-generate"];
    args.extend_from_slice(extra);
    kubesmith(dir, &args)
}

const MEMCACHED: &[&str] = &[
    "--group",
    "cache",
    "--version",
    "v1alpha1",
    "--kind",
    "Memcached",
];

#[test]
fn init_writes_the_project_and_reports_each_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("memcached-operator");
    std::fs::create_dir(&dir).unwrap();
    let run = kubesmith(
        &dir,
        &[
            "init",
            "--domain",
            "example.com",
            "--owner",
            "Jane \"JD\" Doe",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "src/main.rs",
        "src/bin/manifests.rs",
        "PROJECT",
    ] {
        assert!(
            run.stdout.contains(&format!("create {file}")),
            "{file} not reported:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("Next: define a resource"),
        "{}",
        run.stdout
    );
    let project = read(&dir, "PROJECT");
    assert!(project.contains("domain: example.com"));
    assert!(project.contains("projectName: memcached-operator"));
    assert!(project.contains("- rust.kubesmith.io/v1alpha1"));
    let manifest = read(&dir, "Cargo.toml");
    assert!(manifest.contains("name = \"memcached-operator\""));
    assert!(
        manifest.contains(r#"authors = ["Jane \"JD\" Doe"]"#),
        "{manifest}"
    );
    assert!(
        manifest.contains(r#""v1_33""#),
        "the binary project chooses the Kubernetes version"
    );
    assert!(manifest.contains(r#"kube = { version = "=5.0.0""#));
    let runtime =
        std::fs::canonicalize(concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime")).unwrap();
    assert!(
        manifest.contains(&format!(
            "kubesmith-runtime = {{ path = \"{}\" }}",
            runtime.display()
        )),
        "{manifest}"
    );
}

#[test]
fn init_refuses_an_initialised_directory_and_writes_nothing() {
    let (_tmp, dir) = initialised();
    let before = snapshot(&dir);
    let run = kubesmith(&dir, &["init", "--domain", "example.org"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("already initialized"), "{}", run.stderr);
    assert!(run.stderr.contains("PROJECT"), "{}", run.stderr);
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn init_refuses_to_overwrite_user_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("op");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("README.md"), "my notes").unwrap();
    let run = kubesmith(&dir, &["init", "--domain", "example.com"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("README.md"), "{}", run.stderr);
    assert!(
        run.stderr.contains("empty directory") && !run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&dir).len(), 1, "nothing else written");
}

#[test]
fn init_names_the_fix_for_a_directory_that_is_not_a_dns_label() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("my_op");
    std::fs::create_dir(&dir).unwrap();
    let run = kubesmith(&dir, &["init", "--domain", "example.com"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("--project-name my-op"),
        "{}",
        run.stderr
    );
    assert!(snapshot(&dir).is_empty());
    let run = kubesmith(
        &dir,
        &["init", "--domain", "example.com", "--project-name", "my-op"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(read(&dir, "Cargo.toml").contains("name = \"my-op\""));
}

#[test]
fn init_refuses_a_bad_domain_and_a_missing_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let run = kubesmith(
        tmp.path(),
        &["init", "--domain", "Example_com", "--project-name", "op"],
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("invalid --domain"), "{}", run.stderr);
    let run = kubesmith(
        tmp.path(),
        &[
            "init",
            "--domain",
            "example.com",
            "--project-name",
            "op",
            "--runtime-path",
            "/nowhere",
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("kubesmith-runtime not found at /nowhere"),
        "{}",
        run.stderr
    );
    assert!(snapshot(tmp.path()).is_empty());
}

#[test]
fn commands_outside_a_project_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["generate"][..],
        &[
            "create",
            "api",
            "--group",
            "a",
            "--version",
            "v1",
            "--kind",
            "A",
        ],
    ] {
        let run = kubesmith(tmp.path(), args);
        assert_eq!(run.code, 1);
        assert!(
            run.stderr.contains("is not a kubesmith project"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn create_api_scaffolds_and_registers_through_markers() {
    let (_tmp, dir) = initialised();
    let run = create_api(&dir, MEMCACHED);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for file in [
        "src/api/cache/v1alpha1/memcached.rs",
        "src/controller/memcached.rs",
        "tests/memcached.rs",
        "config/samples/cache_v1alpha1_memcached.yaml",
    ] {
        assert!(
            run.stdout.contains(&format!("create {file}")),
            "{file}:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("update src/lib.rs"));
    let lib = read(&dir, "src/lib.rs");
    assert!(
        lib.contains(
            "<api::cache::v1alpha1::memcached::Memcached as kube::CustomResourceExt>::crd(),"
        ),
        "{lib}"
    );
    assert!(lib.contains("controller::memcached::add(mgr)?;"), "{lib}");
    assert!(read(&dir, "src/api/mod.rs").contains("pub mod cache;"));
    assert!(read(&dir, "src/controller/mod.rs").contains("pub mod memcached;"));
    assert!(
        read(&dir, "config/crd/kustomization.yaml")
            .contains("- bases/cache.example.com_memcacheds.yaml")
    );
    let types = read(&dir, "src/api/cache/v1alpha1/memcached.rs");
    assert!(types.contains(r#"group = "cache.example.com""#));
    assert!(types.contains("namespaced,"));
    let controller = read(&dir, "src/controller/memcached.rs");
    assert!(controller.contains(r#"pub const FINALIZER: &str = "cache.example.com/finalizer";"#));
    let project = read(&dir, "PROJECT");
    assert!(
        project.contains("kind: Memcached") && project.contains("controller: true"),
        "{project}"
    );

    // A second API in the same group and version extends the same modules.
    let run = create_api(
        &dir,
        &[
            "--group",
            "cache",
            "--version",
            "v1alpha1",
            "--kind",
            "Policy",
            "--namespaced=false",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lib = read(&dir, "src/lib.rs");
    assert!(
        lib.contains("controller::memcached::add(mgr)?;\n    controller::policy::add(mgr)?;"),
        "{lib}"
    );
    assert_eq!(
        read(&dir, "src/api/mod.rs")
            .matches("pub mod cache;")
            .count(),
        1
    );
    let types = read(&dir, "src/api/cache/v1alpha1/policy.rs");
    assert!(
        types.contains(r#"plural = "policies""#) && !types.contains("namespaced"),
        "{types}"
    );
    assert!(read(&dir, "tests/policy.rs").contains("Api::all("));
}

#[test]
fn create_api_refuses_an_existing_resource_unless_forced() {
    let (_tmp, dir) = initialised();
    assert_eq!(create_api(&dir, MEMCACHED).code, 0);
    std::fs::write(
        dir.join("src/controller/memcached.rs"),
        "// my reconcile logic\n",
    )
    .unwrap();
    let before = snapshot(&dir);
    let run = create_api(&dir, MEMCACHED);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("already exists") && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&dir), before, "nothing lost");

    let run = create_api(&dir, &[MEMCACHED, &["--force"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("update src/controller/memcached.rs"),
        "{}",
        run.stdout
    );
    assert!(
        read(&dir, "src/lib.rs")
            .matches("controller::memcached::add(mgr)?;")
            .count()
            == 1,
        "markers stay idempotent"
    );
}

#[test]
fn create_api_refuses_invalid_names_naming_what_is_valid() {
    let (_tmp, dir) = initialised();
    let before = snapshot(&dir);
    let cases: &[(&[&str], &str)] = &[
        (
            &["--group", "Cache", "--version", "v1", "--kind", "Memcached"],
            "invalid --group",
        ),
        (
            &[
                "--group",
                "ca_che",
                "--version",
                "v1",
                "--kind",
                "Memcached",
            ],
            "DNS-1123",
        ),
        (
            &["--group", "cache", "--version", "V1", "--kind", "Memcached"],
            "v1, v1alpha1 or v2beta3",
        ),
        (
            &[
                "--group",
                "cache",
                "--version",
                "v1gamma1",
                "--kind",
                "Memcached",
            ],
            "invalid --version",
        ),
        (
            &["--group", "cache", "--version", "v1", "--kind", "memcached"],
            "uppercase",
        ),
        (
            &[
                "--group",
                "cache",
                "--version",
                "v1",
                "--kind",
                "Mem-cached",
            ],
            "letters and digits",
        ),
        (
            &["--group", "cache", "--version", "v1", "--kind", "Self"],
            "clashes",
        ),
        (
            &[
                "--group",
                "cache",
                "--version",
                "v1",
                "--kind",
                "Memcached",
                "--plural",
                "Mems",
            ],
            "invalid --plural",
        ),
        (
            &["--group", "cache", "--version", "--kind", "Memcached"],
            "a value is required for '--version",
        ),
        (
            &[
                "--group",
                "cache",
                "--version",
                "v1",
                "--kind",
                "Memcached",
                "--resource=false",
            ],
            "--resource=false needs an existing API",
        ),
    ];
    for (args, message) in cases {
        let run = create_api(&dir, args);
        assert_eq!(run.code, 1, "{args:?}");
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn rust_keywords_and_dashes_become_valid_identifiers() {
    let (_tmp, dir) = initialised();
    let run = create_api(
        &dir,
        &["--group", "my-group", "--version", "v1", "--kind", "Match"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(read(&dir, "src/api/mod.rs").contains("pub mod my_group;"));
    assert!(read(&dir, "src/api/my_group/v1/mod.rs").contains("pub mod r#match;"));
    assert!(dir.join("src/api/my_group/v1/match.rs").exists());
    assert!(
        read(&dir, "src/lib.rs")
            .contains("<api::my_group::v1::r#match::Match as kube::CustomResourceExt>::crd(),")
    );
    assert!(read(&dir, "src/controller/mod.rs").contains("pub mod r#match;"));
    assert!(dir.join("config/samples/my-group_v1_match.yaml").exists());
    assert!(
        read(&dir, "src/api/my_group/v1/match.rs").contains(r#"group = "my-group.example.com""#)
    );
}

#[test]
fn a_removed_marker_is_reported_and_nothing_is_written() {
    let (_tmp, dir) = initialised();
    let lib = read(&dir, "src/lib.rs").replace("// +kubesmith:scaffold:controllers", "");
    std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
    let before = snapshot(&dir);
    let run = create_api(&dir, MEMCACHED);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("+kubesmith:scaffold:controllers") && run.stderr.contains("src/lib.rs"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn controller_only_for_an_existing_api() {
    let (_tmp, dir) = initialised();
    assert_eq!(
        create_api(&dir, &[MEMCACHED, &["--controller=false"]].concat()).code,
        0
    );
    assert!(!dir.join("src/controller/memcached.rs").exists());
    assert!(!read(&dir, "PROJECT").contains("controller: true"));
    let run = create_api(&dir, &[MEMCACHED, &["--resource=false"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(dir.join("src/controller/memcached.rs").exists());
    assert!(read(&dir, "PROJECT").contains("controller: true"));
}

#[test]
fn help_version_and_completion() {
    let tmp = tempfile::tempdir().unwrap();
    let run = kubesmith(tmp.path(), &["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("kubesmith init --domain example.com"));
    let run = kubesmith(tmp.path(), &["create", "api", "--help"]);
    assert!(
        run.stdout.contains("--namespaced") && run.stdout.contains("Examples:"),
        "{}",
        run.stdout
    );
    let run = kubesmith(tmp.path(), &["version"]);
    assert!(run.stdout.contains("kube:        5.0.0"), "{}", run.stdout);
    for shell in ["bash", "zsh", "fish"] {
        let run = kubesmith(tmp.path(), &["completion", shell]);
        assert_eq!(run.code, 0);
        assert!(run.stdout.contains("kubesmith"));
    }
    let run = kubesmith(tmp.path(), &["completion", "tcsh"]);
    assert_eq!(run.code, 1, "bad input exits 1");
    assert!(run.stderr.contains("possible values"), "{}", run.stderr);
}

#[test]
fn envtest_serve_answers_kubectl_and_stops_on_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = tmp.path().join("kubeconfig");
    let server = Command::new(env!("CARGO_BIN_EXE_kubesmith"))
        .args(["envtest", "serve", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start envtest serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !kubeconfig.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(kubeconfig.exists(), "the kubeconfig is written");
    let get = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "namespaces", "-o", "name"])
        .output()
        .expect("kubectl is on PATH");
    let names = String::from_utf8_lossy(&get.stdout);
    assert!(
        get.status.success(),
        "{}",
        String::from_utf8_lossy(&get.stderr)
    );
    assert!(names.contains("namespace/default"), "{names}");

    let interrupted = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let out = server.wait_with_output().unwrap();
    assert!(out.status.success(), "exits 0 on Ctrl-C: {:?}", out.status);
    assert!(String::from_utf8_lossy(&out.stdout).contains("export KUBECONFIG="));
}

#[test]
fn init_writes_the_kubebuilder_deployment_layout() {
    let (_tmp, dir) = initialised();
    for file in [
        "Makefile",
        "Dockerfile",
        ".dockerignore",
        ".github/workflows/lint.yml",
        ".github/workflows/test.yml",
        "config/default/kustomization.yaml",
        "config/manager/manager.yaml",
        "config/rbac/role.yaml",
        "config/rbac/leader_election_role.yaml",
        "config/rbac/metrics_auth_role.yaml",
        "config/rbac/metrics_reader_role.yaml",
        "config/prometheus/monitor.yaml",
        "config/network-policy/allow-metrics-traffic.yaml",
    ] {
        assert!(dir.join(file).exists(), "{file}");
    }
    let manager = read(&dir, "config/manager/manager.yaml");
    for restricted in [
        "runAsNonRoot: true",
        "allowPrivilegeEscalation: false",
        "type: RuntimeDefault",
        "readOnlyRootFilesystem: true",
        "- \"ALL\"",
    ] {
        assert!(
            manager.contains(restricted),
            "manager.yaml lacks {restricted}"
        );
    }
    assert!(read(&dir, "config/rbac/role.yaml").contains("name: manager-role"));
    let kustomization = read(&dir, "config/default/kustomization.yaml");
    assert!(
        kustomization.contains("#- ../crd"),
        "no CRD before create api"
    );
    assert!(kustomization.contains("namePrefix: memcached-operator-"));
    assert!(
        read(&dir, "Makefile").contains("apply --server-side"),
        "install uses server-side apply"
    );

    assert_eq!(create_api(&dir, MEMCACHED).code, 0);
    assert!(read(&dir, "config/default/kustomization.yaml").contains("\n- ../crd\n"));
    let rbac = read(&dir, "config/rbac/kustomization.yaml");
    for role in ["admin", "editor", "viewer"] {
        assert!(
            rbac.contains(&format!("- memcached_{role}_role.yaml")),
            "{rbac}"
        );
        assert!(
            read(&dir, &format!("config/rbac/memcached_{role}_role.yaml")).contains("memcacheds")
        );
    }
}

#[test]
fn controllers_for_builtin_kinds() {
    let (tmp, dir) = initialised();
    let deployment = [
        "--group",
        "apps",
        "--version",
        "v1",
        "--kind",
        "Deployment",
        "--resource=false",
    ];
    let run = create_api(&dir, &deployment);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let controller = read(&dir, "src/controller/deployment.rs");
    assert!(
        controller.contains("use k8s_openapi::api::apps::v1::Deployment;"),
        "{controller}"
    );
    assert!(controller.contains(r#"groups = ["apps"]"#), "{controller}");
    assert!(
        controller.contains(r#"resources = ["deployments"]"#),
        "{controller}"
    );
    assert!(read(&dir, "tests/deployment.rs").contains("Api::namespaced"));
    assert!(!dir.join("src/api/apps").exists(), "no types of ours");
    let project = read(&dir, "PROJECT");
    assert!(
        project.contains("- controller: true\n  core: true\n  group: apps\n  kind: Deployment\n  path: k8s_openapi::api::apps::v1\n  version: v1\n"),
        "{project}"
    );

    // Cluster-scoped built-ins are listed cluster-wide; core is the group of Pods & co.
    let run = create_api(
        &dir,
        &[
            "--group",
            "core",
            "--version",
            "v1",
            "--kind",
            "Namespace",
            "--resource=false",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(read(&dir, "src/controller/namespace.rs").contains(r#"groups = [""]"#));
    assert!(read(&dir, "tests/namespace.rs").contains("Api::all"));

    // Refusals change nothing: an unknown built-in kind (naming the known ones), a second
    // controller without a name.
    let before = snapshot(&dir);
    let run = create_api(
        &dir,
        &[
            "--group",
            "apps",
            "--version",
            "v1",
            "--kind",
            "Deploymnet",
            "--resource=false",
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("apps/v1 Deployment, apps/v1 StatefulSet"),
        "{}",
        run.stderr
    );
    let run = create_api(&dir, &deployment);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    assert_eq!(snapshot(&dir), before);

    // The PROJECT file replays to the same tree.
    let out = tmp.path().join("rescaffolded");
    let run = kubesmith(
        &dir,
        &[
            "alpha",
            "generate",
            "--skip-generate",
            "--output-dir",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(snapshot(&out), snapshot(&dir));
}

#[test]
fn alpha_generate_replays_the_project_file() {
    let (tmp, dir) = initialised();
    assert_eq!(create_api(&dir, MEMCACHED).code, 0);
    assert_eq!(
        create_api(
            &dir,
            &[
                "--group",
                "ship",
                "--version",
                "v1",
                "--kind",
                "Frigate",
                "--namespaced=false",
                "--controller=false"
            ]
        )
        .code,
        0
    );
    let out = tmp.path().join("rescaffolded");
    let run = kubesmith(
        &dir,
        &[
            "alpha",
            "generate",
            "--skip-generate",
            "--output-dir",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        snapshot(&out),
        snapshot(&dir),
        "the same commands give the same tree"
    );

    // In place, without git to recover from, nothing is deleted.
    let before = snapshot(&dir);
    let run = kubesmith(&dir, &["alpha", "generate", "--skip-generate"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("not a git repository"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&dir), before);
    let run = kubesmith(
        &dir,
        &["alpha", "generate", "--output-dir", dir.to_str().unwrap()],
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("is not empty"), "{}", run.stderr);
}

#[test]
fn several_controllers_for_one_kind_need_a_name() {
    let (_tmp, dir) = initialised();
    assert_eq!(create_api(&dir, MEMCACHED).code, 0);
    let another = [MEMCACHED, &["--resource=false"]].concat();
    let run = create_api(&dir, &another);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--controller-name"), "{}", run.stderr);

    let named = [&another[..], &["--controller-name", "memcached-backup"]].concat();
    let run = create_api(&dir, &named);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let controller = read(&dir, "src/controller/memcached_backup.rs");
    assert!(
        controller.contains("pub struct MemcachedBackupReconciler;"),
        "{controller}"
    );
    assert!(
        controller.contains(r#".named("memcached-backup")"#),
        "{controller}"
    );
    assert!(read(&dir, "src/lib.rs").contains("controller::memcached_backup::add(mgr)?;"));
    assert!(
        read(&dir, "tests/memcached_backup.rs").contains("controller::memcached_backup::FINALIZER")
    );
    assert!(
        read(&dir, "PROJECT").contains("- name: memcached-backup"),
        "{}",
        read(&dir, "PROJECT")
    );

    let run = create_api(&dir, &named);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("\"memcached-backup\" already exists"),
        "{}",
        run.stderr
    );
    let run = create_api(
        &dir,
        &[&another[..], &["--controller-name", "Backup"]].concat(),
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("invalid --controller-name"),
        "{}",
        run.stderr
    );
}

#[test]
fn init_namespaced_scaffolds_a_namespace_scoped_manager() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("scoped");
    std::fs::create_dir(&dir).unwrap();
    let run = kubesmith(&dir, &["init", "--domain", "example.com", "--namespaced"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(read(&dir, "PROJECT").contains("namespaced: true"));
    assert!(read(&dir, "config/manager/manager.yaml").contains("- name: WATCH_NAMESPACE"));
    let binding = read(&dir, "config/rbac/role_binding.yaml");
    assert!(
        binding.contains("kind: RoleBinding") && binding.contains("  kind: Role\n"),
        "{binding}"
    );
    assert_eq!(create_api(&dir, MEMCACHED).code, 0);
    let controller = read(&dir, "src/controller/memcached.rs");
    assert_eq!(
        controller.matches(r#"namespace = "scoped-system""#).count(),
        5,
        "{controller}"
    );
}

#[test]
fn a_second_version_keeps_the_first_as_storage_and_adds_no_controller() {
    let (_tmp, dir) = initialised();
    assert_eq!(create_api(&dir, MEMCACHED).code, 0);
    let run = create_api(
        &dir,
        &[
            "--group",
            "cache",
            "--version",
            "v1beta1",
            "--kind",
            "Memcached",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(read(&dir, "src/api/cache/v1alpha1/memcached.rs").contains("storage,"));
    assert!(!read(&dir, "src/api/cache/v1beta1/memcached.rs").contains("storage,"));
    assert!(
        !run.stdout.contains("src/controller/"),
        "no second controller: {}",
        run.stdout
    );
    let lib = read(&dir, "src/lib.rs");
    assert!(
        lib.contains("v1beta1::memcached::Memcached as kube::CustomResourceExt"),
        "{lib}"
    );
    assert_eq!(lib.matches("controller::memcached::add(mgr)?;").count(), 1);
}
