//! `create api --from-crd` as users run it: what it writes for a third-party kind, what PROJECT
//! records, and every refusal (exit 1, the input named, nothing written). The generated project
//! is compiled, linted and tested in tests/make.rs.

use std::path::{Path, PathBuf};

mod common;
use common::{Run, kubesmith, read, snapshot};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/crds/certificates.cert-manager.io.yaml")
}

fn initialised(tmp: &Path, extra: &[&str]) -> PathBuf {
    let dir = tmp.join("ext-operator");
    std::fs::create_dir(&dir).unwrap();
    let mut args = vec!["init", "--domain", "example.com"];
    args.extend_from_slice(extra);
    let run = kubesmith(&dir, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    dir
}

fn from_crd(dir: &Path, file: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "create",
        "api",
        "--skip-generate",
        "--from-crd",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    kubesmith(dir, &args)
}

#[test]
fn types_controller_and_project_entry_for_a_third_party_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = initialised(tmp.path(), &["--namespaced"]);
    let run = from_crd(&dir, &fixture(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for file in [
        "src/api/cert_manager/v1/certificate.rs",
        "src/controller/certificate.rs",
        "tests/certificate.rs",
        "config/crd/external/cert-manager.io_certificates.yaml",
    ] {
        assert!(
            run.stdout.contains(&format!("create {file}")),
            "{file}: {}",
            run.stdout
        );
    }
    // The CRD is kept exactly as given, for the tests to install.
    assert_eq!(
        read(
            &dir,
            "config/crd/external/cert-manager.io_certificates.yaml"
        ),
        std::fs::read_to_string(fixture()).unwrap()
    );
    let project = read(&dir, "PROJECT");
    assert!(
        project.contains(
            "- controller: true\n  domain: io\n  external: true\n  group: cert-manager\n  kind: Certificate\n  path: ext_operator::api::cert_manager::v1\n  version: v1\n"
        ),
        "{project}"
    );
    let types = read(&dir, "src/api/cert_manager/v1/certificate.rs");
    for expected in [
        // kube's derive without kubesmith's #[resource]: `generate` writes no CRD for it.
        "#[derive(kube::CustomResource,",
        "schema = \"disabled\"",
        "status = \"CertificateStatus\"",
        "namespaced,",
        // Required vs optional, camelCase renames, nested structs.
        "#[serde(rename = \"issuerRef\")]\n    pub issuer_ref: CertificateIssuerRef,",
        "#[serde(rename = \"secretName\")]\n    pub secret_name: String,",
        "pub private_key: Option<CertificatePrivateKey>,",
        "pub struct CertificateKeystoresJksPasswordSecretRef {",
        // Enums, with renames where the value is no Rust identifier.
        "pub enum CertificatePrivateKeyAlgorithm {\n    #[serde(rename = \"RSA\")]\n    Rsa,",
        "#[serde(rename = \"s/mime\")]\n    SMime,",
        "pub usages: Option<Vec<CertificateUsages>>,",
        // int-or-string, maps, free-form and embedded objects, numbers.
        "pub port: Option<k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>,",
        "Option<std::collections::BTreeMap<String, CertificateSolverOverrides>>",
        "Option<std::collections::BTreeMap<String, String>>",
        "pub extra: Option<serde_json::Value>,",
        "pub pod_template: Option<serde_json::Value>,",
        "pub weight: Option<f64>,",
        "pub revision_history_limit: Option<i32>,",
        // Rust keywords.
        "pub r#type: CertificateAdditionalOutputFormatsType,",
        "#[serde(rename = \"self\", default, skip_serializing_if = \"Option::is_none\")]\n    pub self_: Option<bool>,",
        // Status and its nested types.
        "pub struct CertificateStatusConditions {",
        "pub enum CertificateStatusConditionsStatus {\n    True,\n    False,\n    Unknown,\n}",
    ] {
        assert!(
            types.contains(expected),
            "missing {expected:?} in:\n{types}"
        );
    }
    // RBAC for the kind's own group and plural, in the manager's namespace.
    let controller = read(&dir, "src/controller/certificate.rs");
    assert!(
        controller.contains("groups = [\"cert-manager.io\"]")
            && controller.contains("resources = [\"certificates\"]")
            && controller.contains("namespace = \"ext-operator-system\""),
        "{controller}"
    );
    // The scaffolded test creates an object the CRD's schema accepts.
    let test = read(&dir, "tests/certificate.rs");
    assert!(
        test.contains("\"secretName\": \"sample\"") && test.contains("\"issuerRef\""),
        "{test}"
    );
    assert!(read(&dir, "src/lib.rs").contains("controller::certificate::add(mgr)?;"));

    // Again: refused without --force; with it, the same files.
    let before = snapshot(&dir);
    let run = from_crd(&dir, &fixture(), &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("already exists") && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&dir), before);
    let run = from_crd(&dir, &fixture(), &["--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn bad_crd_files_and_flags_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = initialised(tmp.path(), &[]);
    let not_a_crd = tmp.path().join("deployment.yaml");
    std::fs::write(
        &not_a_crd,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n",
    )
    .unwrap();
    let broken = tmp.path().join("broken.yaml");
    std::fs::write(&broken, "kind: [unclosed\n").unwrap();
    let beta = tmp.path().join("beta.yaml");
    std::fs::write(
        &beta,
        std::fs::read_to_string(fixture())
            .unwrap()
            .replace("apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1"),
    )
    .unwrap();
    let missing = tmp.path().join("missing.yaml");
    let before = snapshot(&dir);
    let cases: Vec<(PathBuf, Vec<&str>, &str)> = vec![
        (missing.clone(), vec![], "missing.yaml"),
        (not_a_crd, vec![], "holds no CustomResourceDefinition"),
        (broken, vec![], "is not valid YAML"),
        (beta, vec![], "apiextensions.k8s.io/v1beta1"),
        (
            fixture(),
            vec!["--version", "v2"],
            "has no version \"v2\"; its versions: v1",
        ),
        (
            fixture(),
            vec!["--kind", "Issuer"],
            "--kind \"Issuer\" does not match the CRD's kind \"Certificate\"",
        ),
        (
            fixture(),
            vec!["--group", "acme"],
            "--group \"acme\" does not match",
        ),
        (
            fixture(),
            vec!["--plural", "certs"],
            "--plural does not match",
        ),
        (
            fixture(),
            vec!["--resource=false"],
            "--resource=false does not apply",
        ),
    ];
    for (file, extra, message) in cases {
        let run = from_crd(&dir, &file, &extra);
        assert_eq!(run.code, 1, "{file:?} {extra:?}: {}", run.stdout);
        assert!(
            run.stderr.contains(message),
            "{file:?} {extra:?}: {}",
            run.stderr
        );
        assert_eq!(snapshot(&dir), before, "{file:?} {extra:?} wrote something");
    }
    // Group, version and kind may be given when they match the CRD.
    let run = from_crd(
        &dir,
        &fixture(),
        &[
            "--group",
            "cert-manager",
            "--version",
            "v1",
            "--kind",
            "Certificate",
            "--controller=false",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!dir.join("src/controller/certificate.rs").exists());
    // Without --from-crd, --group/--version/--kind are required as before.
    let run = kubesmith(&dir, &["create", "api", "--group", "cache"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--version"), "{}", run.stderr);
}

#[test]
fn alpha_generate_replays_an_external_kind_from_its_kept_crd() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = initialised(tmp.path(), &[]);
    let run = from_crd(&dir, &fixture(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = tmp.path().join("regenerated");
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
    for rel in [
        "PROJECT",
        "src/api/cert_manager/v1/certificate.rs",
        "src/controller/certificate.rs",
        "tests/certificate.rs",
        "config/crd/external/cert-manager.io_certificates.yaml",
        "src/lib.rs",
    ] {
        assert_eq!(read(&out, rel), read(&dir, rel), "{rel}");
    }
}
