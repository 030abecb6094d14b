//! The real kubectl against the embedded server: discovery, tables, apply (create, then
//! patch), `-o yaml`, delete. Skipped, loudly, when kubectl is not on PATH.

mod common;

use std::path::Path;
use std::process::Command;

use kubesmith_envtest::Environment;

fn kubectl_available() -> bool {
    let found = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: kubectl is not on PATH; the kubectl tests did not run");
    }
    found
}

/// Runs kubectl with the environment's kubeconfig, off the async runtime so the server keeps serving.
async fn kubectl(dir: &Path, args: &[&str]) -> (bool, String) {
    let kubeconfig = dir.join("kubeconfig");
    let cache = dir.join("cache");
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .args(&args)
            .output()
            .expect("kubectl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .unwrap()
}

/// Runs kubectl with `input` on its standard input (for `-f -`).
async fn kubectl_stdin(dir: &Path, args: &[&str], input: String) -> (bool, String) {
    let kubeconfig = dir.join("kubeconfig");
    let cache = dir.join("cache");
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .expect("kubectl reads stdin");
        }
        let out = child.wait_with_output().expect("kubectl finishes");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .unwrap()
}

async fn ok(dir: &Path, args: &[&str]) -> String {
    let (success, out) = kubectl(dir, args).await;
    assert!(success, "kubectl {args:?} failed:\n{out}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_apply_delete() {
    if !kubectl_available() {
        return;
    }
    let env = Environment::builder()
        .crds([common::crontab_crd()])
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();

    let version = ok(d, &["version", "-o", "json"]).await;
    assert!(version.contains("\"minor\": \"33\""), "{version}");

    let ns = ok(d, &["get", "ns"]).await;
    assert!(
        ns.contains("NAME")
            && ns.contains("STATUS")
            && ns.contains("default")
            && ns.contains("Active"),
        "{ns}"
    );

    std::fs::write(
        d.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  a: \"1\"\n",
    )
    .unwrap();
    assert!(
        ok(d, &["apply", "-f", d.join("cm.yaml").to_str().unwrap()])
            .await
            .contains("configmap/demo created")
    );
    std::fs::write(
        d.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  a: \"2\"\n",
    )
    .unwrap();
    assert!(
        ok(d, &["apply", "-f", d.join("cm.yaml").to_str().unwrap()])
            .await
            .contains("configmap/demo configured")
    );
    // Built-in printer columns, as kube-apiserver's: NAME DATA AGE.
    let cms = ok(d, &["get", "configmaps"]).await;
    assert!(cms.starts_with("NAME") && cms.contains("DATA"), "{cms}");
    assert!(
        cms.lines()
            .any(|l| l.split_whitespace().take(2).eq(["demo", "1"])),
        "{cms}"
    );
    // kubectl's default --validate=strict reaches the server as fieldValidation=Strict.
    std::fs::write(
        d.join("typo.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndatta:\n  a: \"1\"\n",
    )
    .unwrap();
    let (success, out) = kubectl(d, &["apply", "-f", d.join("typo.yaml").to_str().unwrap()]).await;
    assert!(!success && out.contains("unknown field \"datta\""), "{out}");
    let yaml = ok(d, &["get", "configmap", "demo", "-o", "yaml"]).await;
    assert!(
        yaml.contains("a: \"2\"") && yaml.contains("resourceVersion"),
        "{yaml}"
    );

    let ct = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: nightly\nspec:\n  cronSpec: \"0 0 * * *\"\n";
    std::fs::write(d.join("ct.yaml"), ct).unwrap();
    assert!(
        ok(d, &["apply", "-f", d.join("ct.yaml").to_str().unwrap()])
            .await
            .contains("crontab.stable.example.com/nightly created")
    );
    std::fs::write(d.join("ct.yaml"), ct.replace("0 0", "5 0")).unwrap();
    assert!(
        ok(d, &["apply", "-f", d.join("ct.yaml").to_str().unwrap()])
            .await
            .contains("crontab.stable.example.com/nightly configured")
    );
    let table = ok(d, &["get", "crontabs"]).await;
    assert!(
        table.contains("NAME")
            && table.contains("SPEC")
            && table.contains("nightly")
            && table.contains("5 0 * * *"),
        "{table}"
    );
    let yaml = ok(d, &["get", "ct", "nightly", "-o", "yaml"]).await;
    assert!(yaml.contains("generation: 2"), "{yaml}");

    assert!(
        ok(d, &["delete", "-f", d.join("ct.yaml").to_str().unwrap()])
            .await
            .contains("deleted")
    );
    assert!(
        ok(d, &["delete", "configmap", "demo"])
            .await
            .contains("deleted")
    );
    let (success, out) = kubectl(d, &["get", "configmap", "demo"]).await;
    assert!(
        !success && out.contains("configmaps \"demo\" not found"),
        "{out}"
    );
    // Typed commands send protobuf bodies.
    assert!(
        ok(d, &["create", "namespace", "team"])
            .await
            .contains("namespace/team created")
    );
    assert!(
        ok(
            d,
            &[
                "create",
                "configmap",
                "cfg",
                "--from-literal=k=v",
                "-n",
                "team"
            ]
        )
        .await
        .contains("configmap/cfg created")
    );
    let data = ok(
        d,
        &[
            "get",
            "configmap",
            "cfg",
            "-n",
            "team",
            "-o",
            "jsonpath={.data.k}",
        ],
    )
    .await;
    assert_eq!(data, "v");
    assert!(
        ok(d, &["delete", "namespace", "team"])
            .await
            .contains("deleted")
    );
    let (success, out) = kubectl(d, &["get", "configmap", "cfg", "-n", "team"]).await;
    assert!(!success && out.contains("not found"), "{out}");

    let (success, out) = kubectl(d, &["get", "replicationcontrollers"]).await;
    assert!(
        !success
            && out.contains("the server doesn't have a resource type \"replicationcontrollers\""),
        "{out}"
    );
    env.stop().await;
}

/// A kubebuilder-style `config/default` rendering (Namespace, CRD, ServiceAccount, Roles,
/// bindings, Service, Deployment, NetworkPolicy) is accepted by `apply --dry-run=server` and
/// then applied for real, with every built-in decoded into its k8s-openapi type under
/// kubectl's default strict validation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kustomized_operator_manifests_apply() {
    if !kubectl_available() {
        return;
    }
    let env = Environment::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config-default");
    let rendered = ok(d, &["kustomize", fixture.to_str().unwrap()]).await;
    for kind in [
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "Service",
        "Deployment",
        "NetworkPolicy",
    ] {
        assert!(
            rendered.contains(&format!("kind: {kind}\n")),
            "{kind} missing"
        );
    }

    // As with kube-apiserver's NamespaceLifecycle admission, a server dry run cannot create
    // into the namespace the same manifests would create: those documents (and only those)
    // fail with NotFound until the namespace exists.
    let (success, out) = kubectl_stdin(
        d,
        &["apply", "--dry-run=server", "-f", "-"],
        rendered.clone(),
    )
    .await;
    assert!(!success, "{out}");
    for line in out.lines().filter(|l| l.starts_with("Error")) {
        assert!(
            line.ends_with("namespaces \"memcached-operator-system\" not found"),
            "{out}"
        );
    }
    ok(d, &["create", "namespace", "memcached-operator-system"]).await;
    let (success, out) = kubectl_stdin(
        d,
        &["apply", "--dry-run=server", "-f", "-"],
        rendered.clone(),
    )
    .await;
    assert!(success, "dry run failed:\n{out}");
    assert!(
        out.contains(
            "deployment.apps/memcached-operator-controller-manager created (server dry run)"
        ),
        "{out}"
    );
    // A server dry run stores nothing.
    let (success, out) = kubectl(d, &["get", "crd", "memcacheds.cache.example.com"]).await;
    assert!(!success && out.contains("not found"), "{out}");

    let (success, out) = kubectl_stdin(d, &["apply", "-f", "-"], rendered.clone()).await;
    assert!(success, "apply failed:\n{out}");
    for created in [
        "customresourcedefinition.apiextensions.k8s.io/memcacheds.cache.example.com created",
        "serviceaccount/memcached-operator-controller-manager created",
        "role.rbac.authorization.k8s.io/memcached-operator-leader-election-role created",
        "clusterrole.rbac.authorization.k8s.io/memcached-operator-manager-role created",
        "rolebinding.rbac.authorization.k8s.io/memcached-operator-leader-election-rolebinding created",
        "clusterrolebinding.rbac.authorization.k8s.io/memcached-operator-manager-rolebinding created",
        "service/memcached-operator-controller-manager-metrics-service created",
        "deployment.apps/memcached-operator-controller-manager created",
        "networkpolicy.networking.k8s.io/memcached-operator-allow-metrics-traffic created",
    ] {
        assert!(out.contains(created), "{created} missing from:\n{out}");
    }
    // Applying the same manifests again changes nothing.
    let (success, out) = kubectl_stdin(d, &["apply", "-f", "-"], rendered).await;
    assert!(success, "second apply failed:\n{out}");
    assert!(
        out.contains("deployment.apps/memcached-operator-controller-manager unchanged"),
        "{out}"
    );

    let deploys = ok(
        d,
        &["get", "deployments", "-n", "memcached-operator-system"],
    )
    .await;
    let header: Vec<&str> = deploys.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert!(
        deploys.lines().any(|l| l.split_whitespace().take(4).eq([
            "memcached-operator-controller-manager",
            "0/1",
            "0",
            "0"
        ])),
        "{deploys}"
    );
    let bindings = ok(
        d,
        &["get", "rolebindings", "-n", "memcached-operator-system"],
    )
    .await;
    assert!(
        bindings.contains("Role/memcached-operator-leader-election-role"),
        "{bindings}"
    );
    let netpol = ok(d, &["get", "netpol", "-n", "memcached-operator-system"]).await;
    assert!(
        netpol.contains("POD-SELECTOR")
            && netpol.contains(
                "app.kubernetes.io/name=memcached-operator,control-plane=controller-manager"
            ),
        "{netpol}"
    );
    let generation = ok(
        d,
        &[
            "get",
            "deployment",
            "-n",
            "memcached-operator-system",
            "memcached-operator-controller-manager",
            "-o",
            "jsonpath={.metadata.generation}",
        ],
    )
    .await;
    assert_eq!(generation, "1");
    env.stop().await;
}

/// `kubectl explain` reads the OpenAPI v3 documents: k8s-openapi's schemas for built-ins,
/// the CRD's own schema for custom resources.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_builtins_and_crds() {
    if !kubectl_available() {
        return;
    }
    let mut crd = common::crontab_crd();
    crd.spec.versions[0].schema = Some(
        serde_json::from_value(serde_json::json!({ "openAPIV3Schema": {
            "type": "object",
            "properties": { "spec": { "type": "object", "properties": {
                "cronSpec": { "type": "string", "description": "When to run, in cron syntax." }
            } } }
        } }))
        .unwrap(),
    );
    let env = Environment::builder().crds([crd]).start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();

    let replicas = ok(d, &["explain", "deployment.spec.replicas"]).await;
    assert!(
        replicas.contains("GROUP:      apps")
            && replicas.contains("FIELD: replicas <integer>")
            && replicas.contains("Number of desired pods"),
        "{replicas}"
    );
    let cm = ok(d, &["explain", "configmap"]).await;
    assert!(
        cm.contains("KIND:       ConfigMap")
            && cm.contains("ConfigMap holds configuration data for pods to consume")
            && cm.contains("binaryData\t<map[string]string>")
            && cm.contains("metadata\t<ObjectMeta>"),
        "{cm}"
    );
    let rules = ok(d, &["explain", "clusterrole.rules.verbs"]).await;
    assert!(rules.contains("FIELD: verbs <[]string>"), "{rules}");
    let crd_field = ok(d, &["explain", "crontab.spec.cronSpec"]).await;
    assert!(
        crd_field.contains("GROUP:      stable.example.com")
            && crd_field.contains("FIELD: cronSpec <string>")
            && crd_field.contains("When to run, in cron syntax."),
        "{crd_field}"
    );
    env.stop().await;
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1
        env:
        - name: A
          value: \"1\"
";

/// kubectl's everyday commands on a ConfigMap and a Deployment: every `get` output, `get -w`,
/// each patch type, server-side apply, `wait --for=condition`, `delete --wait`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_outputs_patches_watch_and_wait() {
    if !kubectl_available() {
        return;
    }
    let env = Environment::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();
    ok(d, &["create", "configmap", "cfg", "--from-literal=k=v"]).await;
    let (success, out) = kubectl_stdin(d, &["apply", "-f", "-"], DEPLOYMENT.into()).await;
    assert!(
        success && out.contains("deployment.apps/web created"),
        "{out}"
    );

    // Every output format.
    let wide = ok(d, &["get", "configmap", "cfg", "-o", "wide"]).await;
    assert!(wide.starts_with("NAME") && wide.contains("cfg"), "{wide}");
    let yaml = ok(d, &["get", "deployment", "web", "-o", "yaml"]).await;
    assert!(
        yaml.contains("kind: Deployment") && yaml.contains("replicas: 2"),
        "{yaml}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(d, &["get", "deployment", "web", "-o", "json"]).await).unwrap();
    assert_eq!(
        json["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1"
    );
    assert_eq!(
        ok(d, &["get", "deployments", "-o", "name"]).await.trim(),
        "deployment.apps/web"
    );
    let path = ok(
        d,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.selector.matchLabels.app}",
        ],
    )
    .await;
    assert_eq!(path, "web");

    // Patches of each type, on both kinds.
    ok(
        d,
        &[
            "patch",
            "configmap",
            "cfg",
            "--type=merge",
            "-p",
            r#"{"data":{"m":"1"}}"#,
        ],
    )
    .await;
    ok(
        d,
        &[
            "patch",
            "configmap",
            "cfg",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/data/j","value":"2"}]"#,
        ],
    )
    .await;
    ok(
        d,
        &[
            "patch",
            "configmap",
            "cfg",
            "--type=strategic",
            "-p",
            r#"{"data":{"s":"3"}}"#,
        ],
    )
    .await;
    let data = ok(d, &["get", "configmap", "cfg", "-o", "jsonpath={.data}"]).await;
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        data,
        serde_json::json!({ "k": "v", "m": "1", "j": "2", "s": "3" })
    );

    ok(
        d,
        &[
            "patch",
            "deployment",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":3}}"#,
        ],
    )
    .await;
    ok(
        d,
        &["patch", "deployment", "web", "--type=json", "-p", r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:2"}]"#],
    )
    .await;
    ok(
        d,
        &["patch", "deployment", "web", "--type=strategic", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"B","value":"2"}]}]}}}}"#],
    )
    .await;
    let deploy: serde_json::Value =
        serde_json::from_str(&ok(d, &["get", "deployment", "web", "-o", "json"]).await).unwrap();
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(deploy["spec"]["replicas"], 3);
    assert_eq!(container["image"], "nginx:2");
    assert_eq!(
        container["env"],
        serde_json::json!([{ "name": "A", "value": "1" }, { "name": "B", "value": "2" }])
    );
    assert_eq!(deploy["metadata"]["generation"], 4);
    // `-o wide` adds the priority-1 columns after AGE.
    let wide = ok(d, &["get", "deployment", "web", "-o", "wide"]).await;
    let mut lines = wide.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        (row[0], row[1], &row[5..]),
        ("web", "0/3", &["web", "nginx:2", "app=web"][..])
    );
    // Pods: READY, STATUS and RESTARTS like kube-apiserver's printer.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n";
    let (success, out) = kubectl_stdin(d, &["apply", "-f", "-"], pod.into()).await;
    assert!(success, "{out}");
    let pods = ok(d, &["get", "pods"]).await;
    let mut lines = pods.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["p", "0/1", "Pending", "0"]);
    // `describe` reads the object, its ReplicaSets (by selector) and its Events.
    let described = ok(d, &["describe", "deployment", "web"]).await;
    let has = |fields: &[&str]| {
        described
            .lines()
            .any(|l| l.split_whitespace().eq(fields.iter().copied()))
    };
    assert!(
        has(&["Name:", "web"])
            && has(&["Selector:", "app=web"])
            && has(&["Image:", "nginx:2"])
            && has(&[
                "RollingUpdateStrategy:",
                "25%",
                "max",
                "unavailable,",
                "25%",
                "max",
                "surge"
            ]),
        "{described}"
    );
    // `get all` lists the kinds in category "all".
    let all = ok(d, &["get", "all"]).await;
    for name in ["pod/p", "service/kubernetes", "deployment.apps/web"] {
        assert!(all.contains(name), "{name} missing from:\n{all}");
    }

    // Server-side apply takes over and changes a field.
    let (success, out) = kubectl_stdin(
        d,
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        DEPLOYMENT.replace("replicas: 2", "replicas: 5"),
    )
    .await;
    assert!(
        success && out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let replicas = ok(
        d,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    )
    .await;
    assert_eq!(replicas, "5");

    // `get -w` streams the initial state, then changes, until stopped.
    let kubeconfig = d.join("kubeconfig");
    let mut watcher = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["get", "configmaps", "-w", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watcher.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first two columns of the next table row: EVENT and NAME.
    let next = |what: &str| {
        let deadline = std::time::Duration::from_secs(60);
        let line = rx
            .recv_timeout(deadline)
            .unwrap_or_else(|_| panic!("no watch line while waiting for {what}"));
        line.split_whitespace()
            .take(2)
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(next("the header"), ["EVENT", "NAME"]);
    assert_eq!(next("the initial object"), ["ADDED", "cfg"]);
    ok(d, &["create", "configmap", "later"]).await;
    assert_eq!(next("the new object"), ["ADDED", "later"]);
    ok(d, &["delete", "configmap", "later", "--wait"]).await;
    assert_eq!(next("the deletion"), ["DELETED", "later"]);
    watcher.kill().unwrap();
    watcher.wait().unwrap();
    reader.join().unwrap();

    // `wait --for=condition` sees a status written through /status.
    let status = r#"{"status":{"observedGeneration":5,"replicas":5,"readyReplicas":5,"availableReplicas":5,"conditions":[{"type":"Available","status":"True","reason":"MinimumReplicasAvailable","message":"ok"}]}}"#;
    ok(
        d,
        &[
            "patch",
            "deployment",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ],
    )
    .await;
    let waited = ok(
        d,
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=60s",
        ],
    )
    .await;
    assert!(
        waited.contains("deployment.apps/web condition met"),
        "{waited}"
    );
    let table = ok(d, &["get", "deployment", "web"]).await;
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().take(4).eq(["web", "5/5", "0", "5"])),
        "{table}"
    );
    // `rollout status` reads generation and replica counts; `scale` writes through /scale.
    ok(
        d,
        &[
            "patch",
            "deployment",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"updatedReplicas":5}}"#,
        ],
    )
    .await;
    let rollout = ok(d, &["rollout", "status", "deployment/web", "--timeout=60s"]).await;
    assert!(
        rollout.contains("deployment \"web\" successfully rolled out"),
        "{rollout}"
    );
    let scaled = ok(d, &["scale", "deployment", "web", "--replicas=7"]).await;
    assert!(scaled.contains("deployment.apps/web scaled"), "{scaled}");
    let replicas = ok(
        d,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    )
    .await;
    assert_eq!(replicas, "7");

    // `delete --wait` returns once the object is gone.
    let deleted = ok(
        d,
        &["delete", "deployment", "web", "--wait", "--timeout=60s"],
    )
    .await;
    assert!(
        deleted.contains("deployment.apps \"web\" deleted"),
        "{deleted}"
    );
    let (success, out) = kubectl(d, &["get", "deployment", "web"]).await;
    assert!(!success && out.contains("not found"), "{out}");
    env.stop().await;
}

/// Client-side `kubectl apply` computes a strategic merge patch from the OpenAPI schemas'
/// patch metadata; removing a container from the manifest removes it from the Deployment,
/// and other containers keep their fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_removes_a_container_from_a_deployment() {
    if !kubectl_available() {
        return;
    }
    let env = Environment::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();
    let two = format!(
        "{DEPLOYMENT}      - name: sidecar\n        image: busybox\n        env:\n        - name: S\n          value: \"1\"\n"
    );
    let (success, out) = kubectl_stdin(d, &["apply", "-f", "-"], two).await;
    assert!(success, "{out}");
    let one = DEPLOYMENT.replace("nginx:1", "nginx:2");
    let (success, out) = kubectl_stdin(d, &["apply", "-f", "-"], one).await;
    assert!(
        success && out.contains("deployment.apps/web configured"),
        "{out}"
    );
    let containers = ok(
        d,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={range .spec.template.spec.containers[*]}{.name}={.image};{end}",
        ],
    )
    .await;
    assert_eq!(containers, "web=nginx:2;");
    env.stop().await;
}

/// Typed `kubectl create` commands for RBAC send protobuf bodies (kubebuilder's README uses
/// `kubectl create clusterrolebinding` for metrics access).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_rbac_objects() {
    if !kubectl_available() {
        return;
    }
    let env = Environment::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();
    let jsonpath = |p: &str| format!("jsonpath={p}");
    ok(
        d,
        &[
            "create",
            "role",
            "reader",
            "--verb=get,list",
            "--resource=pods,deployments.apps",
            "--resource-name=a",
        ],
    )
    .await;
    let rule = ok(d, &["get", "role", "reader", "-o", &jsonpath("{.rules[*].verbs}|{.rules[*].apiGroups}|{.rules[*].resources}|{.rules[0].resourceNames}")]).await;
    assert_eq!(
        rule,
        r#"["get","list"] ["get","list"]|[""] ["apps"]|["pods"] ["deployments"]|["a"]"#
    );
    ok(
        d,
        &[
            "create",
            "clusterrole",
            "metrics-reader",
            "--verb=get",
            "--non-resource-url=/metrics",
        ],
    )
    .await;
    let urls = ok(
        d,
        &[
            "get",
            "clusterrole",
            "metrics-reader",
            "-o",
            &jsonpath("{.rules[0].nonResourceURLs}"),
        ],
    )
    .await;
    assert_eq!(urls, r#"["/metrics"]"#);
    ok(
        d,
        &[
            "create",
            "rolebinding",
            "reader",
            "--role=reader",
            "--serviceaccount=default:ctl",
            "--user=alice",
        ],
    )
    .await;
    let subjects = ok(d, &["get", "rolebinding", "reader", "-o", &jsonpath("{.roleRef.kind}/{.roleRef.name} {.subjects[0].kind}:{.subjects[0].apiGroup}/{.subjects[0].name} {.subjects[1].kind}:{.subjects[1].namespace}/{.subjects[1].name}")]).await;
    assert_eq!(
        subjects,
        "Role/reader User:rbac.authorization.k8s.io/alice ServiceAccount:default/ctl"
    );
    let out = ok(
        d,
        &[
            "create",
            "clusterrolebinding",
            "metrics",
            "--clusterrole=metrics-reader",
            "--serviceaccount=system:ctl",
        ],
    )
    .await;
    assert!(
        out.contains("clusterrolebinding.rbac.authorization.k8s.io/metrics created"),
        "{out}"
    );
    let table = ok(d, &["get", "clusterrolebinding", "metrics"]).await;
    assert!(table.contains("ClusterRole/metrics-reader"), "{table}");
    env.stop().await;
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: { plural: widgets, kind: Widget }
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: { type: integer, minimum: 1 }
              mode: { type: string, default: fast }
";

/// What kubectl users see of CRD schemas: a non-structural CRD is refused, an object breaking
/// the schema gets kube-apiserver's message, a typo is an unknown field (kubectl validates
/// strictly by default), and defaults show up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_crd_schema_validation() {
    if !kubectl_available() {
        return;
    }
    let env = Environment::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();

    let broken = WIDGET_CRD.replace(
        "size: { type: integer, minimum: 1 }",
        "size: { minimum: 1 }",
    );
    let (success, out) = kubectl_stdin(d, &["apply", "-f", "-"], broken).await;
    assert!(
        !success
            && out.contains(
                "The CustomResourceDefinition \"widgets.example.com\" is invalid: \
                 spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].type: \
                 Required value: must not be empty for specified object fields"
            ),
        "{out}"
    );
    let out = ok_stdin(d, &["apply", "-f", "-"], WIDGET_CRD.to_string()).await;
    assert!(out.contains("widgets.example.com created"), "{out}");
    ok(
        d,
        &[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
        ],
    )
    .await;

    let widget =
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 0\n";
    let (success, out) = kubectl_stdin(d, &["apply", "-f", "-"], widget.to_string()).await;
    assert!(
        !success
            && out.contains(
                "The Widget \"w\" is invalid: spec.size: Invalid value: 0: \
                 spec.size in body should be greater than or equal to 1"
            ),
        "{out}"
    );
    let typo = widget.replace("size: 0", "sise: 2");
    let (success, out) = kubectl_stdin(d, &["apply", "-f", "-"], typo).await;
    assert!(
        !success && out.contains("strict decoding error: unknown field \"spec.sise\""),
        "{out}"
    );
    ok_stdin(
        d,
        &["apply", "-f", "-"],
        widget.replace("size: 0", "size: 2"),
    )
    .await;
    let mode = ok(d, &["get", "widget", "w", "-o", "jsonpath={.spec.mode}"]).await;
    assert_eq!(mode, "fast");
    env.stop().await;
}

async fn ok_stdin(dir: &Path, args: &[&str], input: String) -> String {
    let (success, out) = kubectl_stdin(dir, args, input).await;
    assert!(success, "kubectl {args:?} failed:\n{out}");
    out
}
