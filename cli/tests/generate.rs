//! `kubesmith generate` on a real project: versions of one kind merge into one CRD with the
//! explicit storage version, a missing storage version and a project that does not compile
//! are errors with exit 1, and the output is deterministic.
//!
//! The fixture project builds in the shared CARGO_TARGET_DIR (its dependencies are the
//! workspace's), so these tests cost one small crate build each.

use std::path::{Path, PathBuf};

mod common;
use common::kubesmith;

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// The `versions` fixture in a temporary directory, with a Cargo.toml pointing at this
/// checkout's runtime and the workspace lock file (no resolution against the registry).
fn fixture(package: &str, metadata: &str) -> (tempfile::TempDir, PathBuf) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(package);
    copy_dir(&repo.join("cli/tests/fixtures/versions"), &dir);
    let sample = repo.join("testdata/memcached-operator/Cargo.toml");
    let manifest = std::fs::read_to_string(sample).unwrap();
    let deps = &manifest
        [manifest.find("[dependencies]").unwrap()..manifest.find("[dev-dependencies]").unwrap()];
    let runtime = repo.join("runtime");
    let deps = deps.replace(
        "path = \"../../runtime\"",
        &format!("path = {:?}", runtime.display().to_string()),
    );
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n{metadata}\n[lib]\nname = \"versions_fixture\"\n\n{deps}\n[workspace]\n"
        ),
    )
    .unwrap();
    // The workspace lock file holds every dependency the runtime is built with.
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    (tmp, dir)
}

#[test]
fn versions_merge_into_one_crd_with_the_storage_version() {
    // maxDescLen as a project setting: `generate` and `--check` both honour it.
    let (_tmp, dir) = fixture(
        "versions-fixture-merge",
        "\n[package.metadata.kubesmith]\nmax-desc-len = 10\n",
    );
    let run = kubesmith(&dir, &["generate"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    assert!(
        lib.contains("<api::v1::Widget as kube::CustomResourceExt>::crd(),"),
        "{lib}"
    );
    assert!(
        lib.contains("<api::v2::Widget as kube::CustomResourceExt>::crd(),"),
        "{lib}"
    );

    let path = dir.join("config/crd/bases/apps.example.com_widgets.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let crd: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    let versions = crd["spec"]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{text}");
    assert_eq!(versions[0]["name"], "v1");
    assert_eq!(versions[0]["storage"], false);
    assert_eq!(versions[0]["deprecated"], true);
    assert_eq!(versions[0]["deprecationWarning"], "use apps.example.com/v2");
    assert_eq!(versions[1]["name"], "v2");
    assert_eq!(versions[1]["storage"], true);
    assert_eq!(
        versions[1]["additionalPrinterColumns"][0]["jsonPath"],
        ".spec.replicas"
    );
    let replicas =
        &versions[1]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["replicas"];
    assert_eq!(replicas["maximum"], 10.0);
    assert_eq!(replicas["description"], "Number of...");
    // The root description is kubebuilder's "<Kind> is the Schema for the <plural> API".
    assert_eq!(
        versions[1]["schema"]["openAPIV3Schema"]["description"],
        "Widget is..."
    );

    // Deterministic: a second run changes nothing and --check agrees.
    let run = kubesmith(&dir, &["generate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    let run = kubesmith(&dir, &["generate", "--check"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

#[test]
fn no_storage_version_and_compile_errors_exit_1() {
    let (_tmp, dir) = fixture("versions-fixture-errors", "");
    let v2 = dir.join("src/api/v2.rs");
    let source = std::fs::read_to_string(&v2).unwrap();
    std::fs::write(&v2, source.replace("namespaced, storage,", "namespaced,")).unwrap();
    let run = kubesmith(&dir, &["generate"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("CRD widgets.apps.example.com has versions v1 (WidgetSpec in src/api/v1.rs), v2 (WidgetSpec in src/api/v2.rs) and none is the storage version"), "{}", run.stderr);
    assert!(
        !dir.join("config/crd/bases/apps.example.com_widgets.yaml")
            .exists()
    );

    // A misspelt attribute: the compiler's error, spanned on it, then exit 1.
    std::fs::write(&v2, source.replace("minimum = 0", "minimun = 0")).unwrap();
    let run = kubesmith(&dir, &["generate"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown key `minimun`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("did you mean `minimum`?"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("src/api/v2.rs"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("building or running src/bin/manifests.rs failed"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_manifests_build_leaves_out_the_manager_feature() {
    // As scaffolded: controllers and webhooks behind the default `manager` feature. Code
    // behind it that does not compile proves `generate` did not build it.
    let (_tmp, dir) = fixture(
        "versions-fixture-manager",
        "\n[features]\ndefault = [\"manager\"]\nmanager = []\n",
    );
    let lib = dir.join("src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    source.push_str(
        "\n#[cfg(feature = \"manager\")]\nmod controller {\n    compile_error!(\"the manifests build compiled the manager\");\n}\n",
    );
    std::fs::write(&lib, source).unwrap();
    let run = kubesmith(&dir, &["generate"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        dir.join("config/crd/bases/apps.example.com_widgets.yaml")
            .exists()
    );
    // Nothing changed: cargo rebuilds nothing and the files stay as they are.
    let run = kubesmith(&dir, &["generate", "--check"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}
