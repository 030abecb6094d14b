//! `kubesmith create webhook` as users run it: a subprocess in temporary directories.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{Run, kubesmith, read, snapshot};

/// `init`, then Memcached in v1alpha1 (storage) and v1, without generating.
fn project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("memcached-operator");
    std::fs::create_dir(&dir).unwrap();
    let run = kubesmith(&dir, &["init", "--domain", "example.com"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for version in ["v1alpha1", "v1"] {
        let run = kubesmith(
            &dir,
            &[
                "create",
                "api",
                "--skip-generate",
                "--group",
                "cache",
                "--version",
                version,
                "--kind",
                "Memcached",
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    (tmp, dir)
}

fn create_webhook(dir: &Path, version: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "create",
        "webhook",
        "--skip-generate",
        "--group",
        "cache",
        "--version",
        version,
        "--kind",
        "Memcached",
    ];
    args.extend_from_slice(extra);
    kubesmith(dir, &args)
}

#[test]
fn refusals_exit_1_name_the_input_and_write_nothing() {
    let (_tmp, dir) = project();
    let ok = create_webhook(&dir, "v1alpha1", &["--defaulting"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let before = snapshot(&dir);
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["--version", "v1alpha1"],
            "requires at least one of --defaulting, --programmatic-validation and --conversion",
            "",
        ),
        (
            &["--version", "v1alpha1", "--defaulting"],
            "defaulting webhook already exists for cache.example.com/v1alpha1, Kind=Memcached",
            "--force",
        ),
        (
            &["--version", "v2", "--defaulting"],
            "no API found for cache.example.com/v2, Kind=Memcached",
            "--group cache --version v1alpha1 --kind Memcached",
        ),
        (
            &["--version", "v1alpha1", "--conversion", "--spoke", "v3"],
            "invalid spoke version \"v3\"",
            "valid spokes: v1",
        ),
        (
            &[
                "--version",
                "v1alpha1",
                "--conversion",
                "--spoke",
                "v1alpha1",
            ],
            "it is the hub",
            "valid spokes: v1",
        ),
        (
            &["--version", "v1alpha1", "--conversion", "--spoke", "v1,v1"],
            "duplicate spoke version \"v1\"",
            "",
        ),
        (
            &["--version", "v1alpha1", "--conversion"],
            "--conversion needs at least one --spoke",
            "valid spokes: v1",
        ),
        (
            &[
                "--version",
                "v1",
                "--programmatic-validation",
                "--defaulting-path",
                "/custom",
            ],
            "--defaulting-path can only be used with --defaulting",
            "",
        ),
        (
            &[
                "--version",
                "v1",
                "--defaulting",
                "--validation-path",
                "/custom",
            ],
            "--validation-path can only be used with --programmatic-validation",
            "",
        ),
        (
            &["--version", "v1", "--defaulting", "--spoke", "v1alpha1"],
            "--spoke can only be used with --conversion",
            "",
        ),
    ];
    for (args, message, hint) in cases {
        let version_at = args.iter().position(|a| *a == "--version").unwrap();
        let mut extra: Vec<&str> = args.to_vec();
        let version = extra.remove(version_at + 1);
        extra.remove(version_at);
        let run = create_webhook(&dir, version, &extra);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(hint), "{args:?}: {}", run.stderr);
        assert_eq!(snapshot(&dir), before, "{args:?} changed files");
    }

    // Built-in kinds: webhooks yes, conversion no, and unknown kinds name the fix.
    let run = kubesmith(
        &dir,
        &[
            "create",
            "webhook",
            "--skip-generate",
            "--group",
            "core",
            "--version",
            "v1",
            "--kind",
            "Pod",
            "--conversion",
            "--spoke",
            "v2",
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("--conversion is for the project's own kinds"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&dir), before);

    // A kind of the same name in another group: its webhooks would land in, and be registered
    // by, the file that holds cache's Memcached webhooks.
    let api = kubesmith(
        &dir,
        &[
            "create",
            "api",
            "--skip-generate",
            "--group",
            "store",
            "--version",
            "v1alpha1",
            "--kind",
            "Memcached",
            "--controller-name",
            "store-memcached",
        ],
    );
    assert_eq!(api.code, 0, "{}", api.stderr);
    let before = snapshot(&dir);
    let run = kubesmith(
        &dir,
        &[
            "create",
            "webhook",
            "--skip-generate",
            "--group",
            "store",
            "--version",
            "v1alpha1",
            "--kind",
            "Memcached",
            "--programmatic-validation",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "src/webhook/v1alpha1/memcached.rs already holds the webhooks of cache.example.com/v1alpha1, Kind=Memcached"
        ) && run.stderr.contains("store.example.com/v1alpha1, Kind=Memcached"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn scaffolds_merges_reruns_and_forces() {
    let (_tmp, dir) = project();
    let run = create_webhook(&dir, "v1alpha1", &["--defaulting"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "   create src/webhook/mod.rs",
        "   create src/webhook/v1alpha1/memcached.rs",
        "   create tests/memcached_v1alpha1_webhook.rs",
        "   create config/webhook/service.yaml",
        "   create config/certmanager/certificate-webhook.yaml",
        "   create config/default/manager_webhook_patch.yaml",
        "   update config/default/kustomization.yaml",
        "   update src/lib.rs",
        "   update PROJECT",
    ] {
        assert!(
            run.stdout.contains(line),
            "missing {line:?} in\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout
            .contains("Next: implement your new webhook in src/webhook/v1alpha1/memcached.rs")
    );
    let code = read(&dir, "src/webhook/v1alpha1/memcached.rs");
    assert!(code.contains("impl webhook::Defaulter<Memcached> for MemcachedCustomDefaulter"));
    assert!(code.contains("name = \"mmemcached-v1alpha1.kb.io\""));
    assert!(code.contains("TODO(user)"));
    assert!(!code.contains("Validator"));
    let lib = read(&dir, "src/lib.rs");
    // Behind the `manager` feature as the controllers are, so `generate` does not build it.
    assert!(
        lib.contains("#[cfg(feature = \"manager\")]\npub mod controller;\n#[cfg(feature = \"manager\")]\npub mod webhook;\n"),
        "{lib}"
    );
    assert!(lib.contains("webhook::v1alpha1::memcached::add(mgr)?;"));
    assert!(read(&dir, "src/main.rs").contains("memcached_operator::add_webhooks(&mgr)?;"));
    let default = read(&dir, "config/default/kustomization.yaml");
    assert!(default.lines().any(|l| l == "- ../webhook"));
    assert!(default.lines().any(|l| l == "- ../certmanager"));
    assert!(default.contains("- path: manager_webhook_patch.yaml"));
    assert!(default.contains("kind: MutatingWebhookConfiguration"));
    assert!(!default.contains("kind: ValidatingWebhookConfiguration"));

    // The user edits the defaulter; re-running is refused and changes nothing.
    let edited = code.replace(
        "Some(\"default\".to_string())",
        "Some(\"mine\".to_string())",
    );
    std::fs::write(dir.join("src/webhook/v1alpha1/memcached.rs"), &edited).unwrap();
    let before = snapshot(&dir);
    let again = create_webhook(&dir, "v1alpha1", &["--defaulting"]);
    assert_eq!(again.code, 1);
    assert_eq!(snapshot(&dir), before);

    // Adding validation merges: the user's defaulter stays, the validator joins it.
    let merge = create_webhook(&dir, "v1alpha1", &["--programmatic-validation"]);
    assert_eq!(merge.code, 0, "{}", merge.stderr);
    let code = read(&dir, "src/webhook/v1alpha1/memcached.rs");
    assert!(code.contains("Some(\"mine\".to_string())"), "{code}");
    assert!(code.contains("impl webhook::Validator<Memcached> for MemcachedCustomValidator"));
    assert!(code.contains(".with_defaulter(MemcachedCustomDefaulter)"));
    assert!(code.contains(".with_validator(MemcachedCustomValidator)"));
    assert_eq!(code.matches("impl webhook::Defaulter").count(), 1);
    assert!(
        merge
            .stdout
            .contains("tests/memcached_v1alpha1_webhook.rs was left as it was")
    );
    let default = read(&dir, "config/default/kustomization.yaml");
    assert_eq!(
        default
            .matches("kind: MutatingWebhookConfiguration")
            .count(),
        2
    );
    assert_eq!(
        default
            .matches("kind: ValidatingWebhookConfiguration")
            .count(),
        2
    );
    assert_eq!(
        default
            .matches("- path: manager_webhook_patch.yaml")
            .count(),
        1
    );

    // Conversion with v1 as the spoke: its Convertible impl sits next to its types.
    let conversion = create_webhook(&dir, "v1alpha1", &["--conversion", "--spoke", "v1"]);
    assert_eq!(conversion.code, 0, "{}", conversion.stderr);
    let spoke = read(&dir, "src/api/cache/v1/memcached_conversion.rs");
    assert!(spoke.contains("impl Convertible<hub::Memcached> for Memcached"));
    assert!(read(&dir, "src/api/cache/v1/mod.rs").contains("pub mod memcached_conversion;"));
    assert!(
        read(&dir, "src/webhook/v1alpha1/memcached.rs")
            .contains(".with_conversion::<crate::api::cache::v1::Memcached>()")
    );
    assert!(
        read(&dir, "config/crd/kustomization.yaml")
            .contains("- path: patches/webhook_in_memcacheds.yaml")
    );
    assert!(
        read(&dir, "config/crd/patches/webhook_in_memcacheds.yaml").contains("strategy: Webhook")
    );
    let project = read(&dir, "PROJECT");
    assert!(
        project.contains(
            "  webhooks:\n    conversion: true\n    defaulting: true\n    spoke:\n    - v1\n    validation: true\n    webhookVersion: v1\n"
        ),
        "{project}"
    );

    // Every type again without --force: refused, nothing changed; a re-run of a new-type-free
    // command is the same refusal, so re-running is a no-op.
    let before = snapshot(&dir);
    let all = [
        "--defaulting",
        "--programmatic-validation",
        "--conversion",
        "--spoke",
        "v1",
    ];
    assert_eq!(create_webhook(&dir, "v1alpha1", &all).code, 1);
    assert_eq!(snapshot(&dir), before);

    // --force scaffolds every file of the kind's webhooks again (the user's edit is replaced).
    let mut forced = all.to_vec();
    forced.push("--force");
    let force = create_webhook(&dir, "v1alpha1", &forced);
    assert_eq!(force.code, 0, "{}", force.stderr);
    let code = read(&dir, "src/webhook/v1alpha1/memcached.rs");
    assert!(code.contains("Some(\"default\".to_string())"));
    assert_eq!(code.matches("impl webhook::Validator").count(), 1);
    assert_eq!(code.matches(".with_conversion::").count(), 1);
    // Forcing again with nothing changed leaves every file as it is.
    let before = snapshot(&dir);
    let force = create_webhook(&dir, "v1alpha1", &forced);
    assert_eq!(force.code, 0, "{}", force.stderr);
    assert_eq!(snapshot(&dir), before);
    assert!(!force.stdout.contains("   update "), "{}", force.stdout);
}

#[test]
fn webhooks_for_builtin_kinds_and_custom_paths() {
    let (_tmp, dir) = project();
    let run = kubesmith(
        &dir,
        &[
            "create",
            "webhook",
            "--skip-generate",
            "--group",
            "core",
            "--version",
            "v1",
            "--kind",
            "Pod",
            "--programmatic-validation",
            "--validation-path",
            "/validate-pods",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("circular dependencies"));
    let code = read(&dir, "src/webhook/v1/pod.rs");
    assert!(code.contains("use k8s_openapi::api::core::v1::Pod;"));
    assert!(code.contains("path = \"/validate-pods\""));
    assert!(code.contains(".with_validator_path(\"/validate-pods\")"));
    assert!(code.contains("groups = [\"\"]"));
    assert!(!dir.join("tests/pod_v1_webhook.rs").exists());
    let project = read(&dir, "PROJECT");
    assert!(project.contains("- core: true\n  group: core\n  kind: Pod\n  path: k8s_openapi::api::core::v1\n  version: v1\n  webhooks:\n    validation: true\n    validationPath: /validate-pods\n    webhookVersion: v1\n"), "{project}");
}

/// The whole flow on a project that builds: `generate` writes manifests.yaml as controller-gen
/// would for the scaffolded attributes, `generate --check` covers it, kustomize renders the
/// deployment with webhooks and cert-manager, and `alpha generate` replays the webhooks.
#[test]
fn generate_and_kustomize_with_webhooks() {
    let (_tmp, dir) = project();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // The workspace lock file holds every dependency the runtime is built with.
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let run = create_webhook(
        &dir,
        "v1alpha1",
        &[
            "--defaulting",
            "--programmatic-validation",
            "--conversion",
            "--spoke",
            "v1",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let generate = kubesmith(&dir, &["generate"]);
    assert_eq!(generate.code, 0, "{}", generate.stderr);
    assert!(
        generate
            .stdout
            .contains("   create config/webhook/manifests.yaml")
    );
    let manifests = read(&dir, "config/webhook/manifests.yaml");
    let webhook = |kind: &str, name: &str, path: &str, mutating: bool| {
        format!(
            "---\napiVersion: admissionregistration.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: {}-webhook-configuration\nwebhooks:\n- admissionReviewVersions:\n  - v1\n  clientConfig:\n    service:\n      name: webhook-service\n      namespace: system\n      path: {path}\n  failurePolicy: Fail\n  name: {name}\n  rules:\n  - apiGroups:\n    - cache.example.com\n    apiVersions:\n    - v1alpha1\n    operations:\n    - CREATE\n    - UPDATE\n    resources:\n    - memcacheds\n  sideEffects: None\n",
            if mutating { "mutating" } else { "validating" }
        )
    };
    let expected = format!(
        "# Code generated by kubesmith generate. DO NOT EDIT.\n{}{}",
        webhook(
            "MutatingWebhookConfiguration",
            "mmemcached-v1alpha1.kb.io",
            "/mutate-cache-example-com-v1alpha1-memcached",
            true
        ),
        webhook(
            "ValidatingWebhookConfiguration",
            "vmemcached-v1alpha1.kb.io",
            "/validate-cache-example-com-v1alpha1-memcached",
            false
        ),
    );
    assert_eq!(manifests, expected);

    let check = kubesmith(&dir, &["generate", "--check"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    let stale = manifests.replace("failurePolicy: Fail", "failurePolicy: Ignore");
    std::fs::write(dir.join("config/webhook/manifests.yaml"), stale).unwrap();
    let check = kubesmith(&dir, &["generate", "--check"]);
    assert_eq!(check.code, 1);
    assert!(
        check.stderr.contains("config/webhook/manifests.yaml"),
        "{}",
        check.stderr
    );
    assert_eq!(kubesmith(&dir, &["generate"]).code, 0);

    let out = Command::new("kubectl")
        .args(["kustomize", "config/default"])
        .current_dir(&dir)
        .output()
        .expect("kubectl is on PATH");
    let rendered = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for wanted in [
        "kind: MutatingWebhookConfiguration",
        "  name: memcached-operator-mutating-webhook-configuration",
        "  name: memcached-operator-validating-webhook-configuration",
        "cert-manager.io/inject-ca-from: memcached-operator-system/memcached-operator-serving-cert",
        "  - memcached-operator-webhook-service.memcached-operator-system.svc\n",
        "      name: memcached-operator-webhook-service\n      namespace: memcached-operator-system\n      path: /validate-cache-example-com-v1alpha1-memcached",
        "    strategy: Webhook",
        "- --webhook-cert-path=/tmp/k8s-webhook-server/serving-certs",
        "containerPort: 9443",
        "secretName: webhook-server-cert",
        "kind: Issuer",
    ] {
        assert!(
            rendered.contains(wanted),
            "missing {wanted:?} in\n{rendered}"
        );
    }
    assert_eq!(
        rendered.matches("cert-manager.io/inject-ca-from").count(),
        3
    );

    // alpha generate replays create webhook from PROJECT.
    let out_dir = dir.parent().unwrap().join("replayed");
    let replay = kubesmith(
        &dir,
        &[
            "alpha",
            "generate",
            "--skip-generate",
            "--output-dir",
            out_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(replay.code, 0, "{}", replay.stderr);
    for rel in [
        "PROJECT",
        "src/webhook/v1alpha1/memcached.rs",
        "src/api/cache/v1/memcached_conversion.rs",
        "config/default/kustomization.yaml",
        "config/crd/kustomization.yaml",
        "tests/memcached_v1alpha1_webhook.rs",
    ] {
        assert_eq!(read(&out_dir, rel), read(&dir, rel), "{rel}");
    }
}

/// A project made before kubesmith had webhooks: `add_webhooks`, its call in `main.rs` and
/// the commented webhook lines of the default kustomization are added.
#[test]
fn projects_from_before_webhooks_get_add_webhooks() {
    let (_tmp, dir) = project();
    let lib = read(&dir, "src/lib.rs");
    let start = lib.find("\n/// Registers every webhook").unwrap();
    std::fs::write(dir.join("src/lib.rs"), &lib[..start + 1]).unwrap();
    let main =
        read(&dir, "src/main.rs").replace("    memcached_operator::add_webhooks(&mgr)?;\n", "");
    std::fs::write(dir.join("src/main.rs"), main).unwrap();
    let default = read(&dir, "config/default/kustomization.yaml")
        .lines()
        .filter(|l| !l.contains("../webhook") && !l.contains("../certmanager"))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    std::fs::write(dir.join("config/default/kustomization.yaml"), default).unwrap();

    let run = create_webhook(&dir, "v1", &["--programmatic-validation"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lib = read(&dir, "src/lib.rs");
    assert!(
        lib.contains(
            "#[cfg(feature = \"manager\")]\npub fn add_webhooks(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {"
        ),
        "{lib}"
    );
    assert!(
        lib.contains("    webhook::v1::memcached::add(mgr)?;\n    // +kubesmith:scaffold:webhooks")
    );
    let main = read(&dir, "src/main.rs");
    assert!(main.contains(
        "    memcached_operator::add_controllers(&mgr)?;\n    memcached_operator::add_webhooks(&mgr)?;\n"
    ));
    let default = read(&dir, "config/default/kustomization.yaml");
    assert!(
        default.contains("- ../manager\n- ../webhook\n- ../certmanager\n"),
        "{default}"
    );
}
