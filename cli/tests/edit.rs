//! `kubesmith edit` as users run it: a subprocess on temporary projects. An edited project
//! must match one scaffolded with the setting from the start, user files change only with
//! `--force`, refusals write nothing, and re-running changes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod common;
use common::{kubesmith, read, snapshot};

/// Asserts two snapshots are equal, naming the files that differ (with both texts).
#[track_caller]
fn assert_same(left: &BTreeMap<PathBuf, Vec<u8>>, right: &BTreeMap<PathBuf, Vec<u8>>) {
    let keys: std::collections::BTreeSet<_> = left.keys().chain(right.keys()).collect();
    let differing: Vec<String> = keys
        .into_iter()
        .filter(|k| left.get(*k) != right.get(*k))
        .map(|k| {
            let text = |s: &BTreeMap<PathBuf, Vec<u8>>| {
                s.get(k).map(|b| String::from_utf8_lossy(b).into_owned())
            };
            format!(
                "{}:\n--- left\n{:?}\n--- right\n{:?}",
                k.display(),
                text(left),
                text(right)
            )
        })
        .collect();
    assert!(differing.is_empty(), "{}", differing.join("\n"));
}

/// `name` under `tmp`, initialised with `init_args`, with a Memcached API if `with_api`.
fn project(tmp: &Path, name: &str, init_args: &[&str], with_api: bool) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut args = vec!["init", "--domain", "example.com"];
    args.extend_from_slice(init_args);
    let run = kubesmith(&dir, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    if with_api {
        let run = kubesmith(
            &dir,
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
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    dir
}

/// The snapshot without `config/rbac/role.yaml`: `create api --skip-generate` leaves `init`'s
/// empty role there, while `edit` writes the role the sources' `#[rbac]` attributes ask for.
fn without_role(mut files: BTreeMap<PathBuf, Vec<u8>>) -> BTreeMap<PathBuf, Vec<u8>> {
    files.remove(Path::new("config/rbac/role.yaml"));
    files
}

const SETTING_FILES: &[&str] = &[
    "PROJECT",
    "config/manager/manager.yaml",
    "config/rbac/role_binding.yaml",
    "src/controller/memcached.rs",
];

#[test]
fn edit_namespaced_matches_init_namespaced_and_back() {
    let tmp = tempfile::tempdir().unwrap();
    // Same directory name, so the namespaces (`<project>-system`) match.
    let dir = project(&tmp.path().join("a"), "memcached-operator", &[], true);
    let scoped = project(
        &tmp.path().join("b"),
        "memcached-operator",
        &["--namespaced"],
        true,
    );
    let before = snapshot(&dir);

    // Controllers are the user's code: without --force, edit names them and writes nothing.
    let run = kubesmith(&dir, &["edit", "--namespaced"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.contains("src/controller/memcached.rs")
            && run.stderr.contains("--force")
            && run.stderr.contains("nothing was written"),
        "{}",
        run.stderr
    );
    assert_same(&snapshot(&dir), &before);

    let run = kubesmith(&dir, &["edit", "--namespaced", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("update PROJECT"), "{}", run.stdout);
    for rel in SETTING_FILES {
        assert_eq!(
            read(&dir, rel),
            read(&scoped, rel),
            "{rel} differs from init --namespaced"
        );
    }
    let role = read(&dir, "config/rbac/role.yaml");
    assert!(
        role.contains("kind: Role\n")
            && role.contains("namespace: memcached-operator-system")
            && role.contains("- memcacheds\n"),
        "{role}"
    );
    assert!(read(&dir, "config/manager/manager.yaml").contains("- name: WATCH_NAMESPACE"));

    // Re-running changes nothing, with or without --force.
    let edited = snapshot(&dir);
    for args in [
        &["edit", "--namespaced"][..],
        &["edit", "--namespaced", "--force"],
    ] {
        let run = kubesmith(&dir, args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_same(&snapshot(&dir), &edited);
    }

    // And back: byte for byte the project it was, with a ClusterRole.
    let run = kubesmith(&dir, &["edit", "--namespaced=false", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_same(&without_role(snapshot(&dir)), &without_role(before));
    let role = read(&dir, "config/rbac/role.yaml");
    assert!(
        role.contains("kind: ClusterRole\n")
            && role.contains("- memcacheds\n")
            && !role.contains("namespace:"),
        "{role}"
    );
}

#[test]
fn changed_config_files_and_foreign_rbac_namespaces_are_the_users() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path(), "op", &[], false);
    let manager = dir.join("config/manager/manager.yaml");
    let edited = read(&dir, "config/manager/manager.yaml").replace("cpu: 500m", "cpu: 750m");
    std::fs::write(&manager, &edited).unwrap();
    // An #[rbac] attribute for another namespace is the user's choice and stays.
    std::fs::write(
        dir.join("src/controller/watcher.rs"),
        "#[kubesmith_runtime::rbac(groups = [\"\"], resources = [\"secrets\"], verbs = [\"get\"], namespace = \"vault\")]\npub struct Watcher;\n",
    )
    .unwrap();
    let before = snapshot(&dir);

    let run = kubesmith(&dir, &["edit", "--namespaced"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("config/manager/manager.yaml") && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("watcher.rs"), "{}", run.stderr);
    assert_same(&snapshot(&dir), &before);

    let run = kubesmith(&dir, &["edit", "--namespaced", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manager = read(&dir, "config/manager/manager.yaml");
    assert!(manager.contains("WATCH_NAMESPACE") && manager.contains("cpu: 500m"));
    assert_eq!(
        read(&dir, "src/controller/watcher.rs"),
        String::from_utf8(before[Path::new("src/controller/watcher.rs")].clone()).unwrap()
    );
    let role = read(&dir, "config/rbac/role.yaml");
    assert!(role.contains("namespace: vault"), "{role}");
}

#[test]
fn license_and_owner_edit_only_their_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(&tmp.path().join("a"), "op", &[], false);
    let expected = project(
        &tmp.path().join("b"),
        "op",
        &["--license", "none", "--owner", "Jane \"JD\" Doe"],
        false,
    );
    let run = kubesmith(
        &dir,
        &["edit", "--license", "none", "--owner", "Jane \"JD\" Doe"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("update Cargo.toml"), "{}", run.stdout);
    assert_eq!(read(&dir, "Cargo.toml"), read(&expected, "Cargo.toml"));
    assert_same(&snapshot(&dir), &snapshot(&expected));

    let same = snapshot(&dir);
    let run = kubesmith(
        &dir,
        &["edit", "--license", "none", "--owner", "Jane \"JD\" Doe"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_same(&snapshot(&dir), &same);

    let run = kubesmith(&dir, &["edit", "--license", "apache2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(read(&dir, "Cargo.toml").contains("license = \"Apache-2.0\"\n"));

    // A license kubesmith does not write is the user's.
    let manifest = read(&dir, "Cargo.toml").replace("\"Apache-2.0\"", "\"MIT\"");
    std::fs::write(dir.join("Cargo.toml"), &manifest).unwrap();
    let run = kubesmith(&dir, &["edit", "--license", "none"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("\"MIT\""), "{}", run.stderr);
    assert_eq!(read(&dir, "Cargo.toml"), manifest);
    let run = kubesmith(&dir, &["edit", "--license", "none", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!read(&dir, "Cargo.toml").contains("license"));
}

#[test]
fn bad_values_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path(), "op", &[], false);
    let before = snapshot(&dir);
    for (args, names) in [
        (&["edit"][..], "--namespaced"),
        (&["edit", "--license", "mit"], "apache2"),
        (&["edit", "--namespaced=maybe"], "maybe"),
        (&["edit", "--owner", ""], "--owner"),
        (&["edit", "--owner", "a\nb", "--namespaced"], "--owner"),
    ] {
        let run = kubesmith(&dir, args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains(names), "{args:?}: {}", run.stderr);
        assert_same(&snapshot(&dir), &before);
    }
    let run = kubesmith(tmp.path(), &["edit", "--namespaced"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("not a kubesmith project"),
        "{}",
        run.stderr
    );
}
