//! The real kubectl against the embedded server: discovery, tables, apply (create, then
//! patch), `-o yaml`, delete. Skipped, loudly, when kubectl is not on PATH.

mod common;

use std::path::Path;
use std::process::Command;

use kubesmith_envtest::Environment;

fn kubectl_available() -> bool {
    common::kubectl::available()
}

async fn kubectl(dir: &Path, args: &[&str]) -> (bool, String) {
    common::kubectl::run(dir, &[], args, None).await
}

/// Runs kubectl with `input` on its standard input (for `-f -`).
async fn kubectl_stdin(dir: &Path, args: &[&str], input: String) -> (bool, String) {
    common::kubectl::run(dir, &[], args, Some(input)).await
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

/// `kubectl apply --server-side` by two field managers, each with its own container:
/// `kubectl get -o json --show-managed-fields` shows each manager owning its container as a
/// `k:{"name":...}` item, and a change to the other's container conflicts on that one field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_side_apply_owns_containers_per_item() {
    if !kubectl_available() {
        return;
    }
    let env = Environment::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();
    let apply = |manager: &str, yaml: String| {
        let flag = format!("--field-manager={manager}");
        async move { kubectl_stdin(d, &["apply", "--server-side", &flag, "-f", "-"], yaml).await }
    };
    let (success, out) = apply("alice", DEPLOYMENT.into()).await;
    assert!(success, "{out}");
    let sidecar = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: sidecar\n        image: busybox\n";
    let (success, out) = apply("bob", sidecar.into()).await;
    assert!(success, "{out}");

    let json = ok(
        d,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "json",
            "--show-managed-fields",
        ],
    )
    .await;
    let obj: serde_json::Value = serde_json::from_str(&json).unwrap();
    let containers_of = |manager: &str| -> Vec<String> {
        let entry = obj["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["manager"] == manager && e["operation"] == "Apply")
            .unwrap_or_else(|| panic!("no Apply entry for {manager}:\n{json}"));
        entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(containers_of("alice"), [r#"k:{"name":"web"}"#]);
    assert_eq!(containers_of("bob"), [r#"k:{"name":"sidecar"}"#]);
    // alice's env item inside her container is hers too.
    let alice = obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "alice")
        .unwrap();
    assert_eq!(
        alice["fieldsV1"].pointer(
            "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:env/k:{\"name\":\"A\"}"
        ),
        Some(&serde_json::json!({ ".": {}, "f:name": {}, "f:value": {} })),
        "{json}"
    );

    let takeover = sidecar.replace(
        "      - name: sidecar\n        image: busybox\n",
        "      - name: sidecar\n        image: busybox\n      - name: web\n        image: nginx:9\n",
    );
    let (success, out) = apply("bob", takeover).await;
    assert!(!success, "{out}");
    assert!(
        out.contains("conflict with \"alice\"")
            && out.contains(".spec.template.spec.containers[name=\"web\"].image"),
        "{out}"
    );
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

/// Whether every field of `expected` is in `actual` with the same value, collecting the paths
/// that are not. Server-side defaulting may add fields; it must not drop or change any.
fn contained(
    expected: &serde_json::Value,
    actual: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match expected {
        Value::Object(fields) => {
            for (key, want) in fields {
                let here = format!("{path}.{key}");
                // kubectl's Go structs print an unset time (which the server then sets) as
                // null, and empty structs as {}.
                let empty = want.as_object().is_some_and(|o| o.is_empty());
                match actual.get(key) {
                    _ if want.is_null() => {}
                    Some(got) => contained(want, got, &here, out),
                    None if empty => {}
                    None => out.push(format!("{here} is missing (want {want})")),
                }
            }
        }
        Value::Array(items) => match actual.as_array() {
            Some(got) if got.len() == items.len() => {
                for (i, (want, got)) in items.iter().zip(got).enumerate() {
                    contained(want, got, &format!("{path}[{i}]"), out);
                }
            }
            _ => out.push(format!("{path} is {actual}, want {expected}")),
        },
        _ => {
            if expected != actual {
                out.push(format!("{path} is {actual}, want {expected}"));
            }
        }
    }
}

/// Runs a typed kubectl command (which sends a protobuf body) and checks that the stored
/// `resource` holds every field of the object kubectl builds for it, as printed by the same
/// command with `--dry-run=client -o json`. Returns the stored object.
async fn create_as_kubectl_built_it(d: &Path, args: &[&str], resource: &str) -> serde_json::Value {
    // The dry-run flags go before `--`, after which everything is the container's command.
    let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
    let mut dry = args[..split].to_vec();
    dry.extend(["--dry-run=client", "-o", "json"]);
    dry.extend(&args[split..]);
    let built: serde_json::Value = serde_json::from_str(&ok(d, &dry).await).unwrap();
    ok(d, args).await;
    let stored: serde_json::Value =
        serde_json::from_str(&ok(d, &["get", resource, "-o", "json"]).await).unwrap();
    let mut wrong = Vec::new();
    // Status is the server's to set on create.
    contained(
        &built["metadata"],
        &stored["metadata"],
        ".metadata",
        &mut wrong,
    );
    contained(&built["spec"], &stored["spec"], ".spec", &mut wrong);
    assert!(
        wrong.is_empty(),
        "kubectl {args:?} stored {resource} differently from what kubectl built:\n{}\nstored: {stored}",
        wrong.join("\n")
    );
    stored
}

/// `kubectl create deployment|job|cronjob` send protobuf bodies for apps/v1 and batch/v1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_workloads_with_protobuf_bodies() {
    if !kubectl_available() {
        return;
    }
    let env = Environment::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();
    let jsonpath = |p: &str| format!("jsonpath={p}");

    // The premise: kubectl sends this body as protobuf, not JSON.
    let verbose = ok(
        d,
        &["create", "deployment", "plain", "--image=nginx", "-v=8"],
    )
    .await;
    assert!(
        verbose.contains("application/vnd.kubernetes.protobuf"),
        "{verbose}"
    );

    create_as_kubectl_built_it(
        d,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=3",
            "--port=8080",
            "--",
            "nginx",
            "-g",
            "daemon off;",
        ],
        "deployment/web",
    )
    .await;
    let web = ok(d, &["get", "deployment", "web", "-o", &jsonpath("{.spec.replicas}|{.spec.selector.matchLabels.app}|{.spec.template.metadata.labels.app}|{.spec.template.spec.containers[0].name}|{.spec.template.spec.containers[0].image}|{.spec.template.spec.containers[0].ports[0].containerPort}|{.spec.template.spec.containers[0].command}")]).await;
    assert_eq!(
        web,
        r#"3|web|web|nginx|nginx:1.27|8080|["nginx","-g","daemon off;"]"#
    );
    // An explicit zero survives: `replicas` is a pointer field.
    ok(
        d,
        &[
            "create",
            "deployment",
            "idle",
            "--image=nginx",
            "--replicas=0",
        ],
    )
    .await;
    let idle = ok(
        d,
        &[
            "get",
            "deployment",
            "idle",
            "-o",
            &jsonpath("{.spec.replicas}"),
        ],
    )
    .await;
    assert_eq!(idle, "0");

    create_as_kubectl_built_it(
        d,
        &[
            "create",
            "job",
            "once",
            "--image=busybox",
            "--",
            "echo",
            "hi",
        ],
        "job/once",
    )
    .await;
    let once = ok(d, &["get", "job", "once", "-o", &jsonpath("{.spec.template.spec.restartPolicy}|{.spec.template.spec.containers[0].image}|{.spec.template.spec.containers[0].command}")]).await;
    assert_eq!(once, r#"Never|busybox|["echo","hi"]"#);

    create_as_kubectl_built_it(
        d,
        &[
            "create",
            "cronjob",
            "tick",
            "--image=busybox",
            "--schedule=*/1 * * * *",
            "--restart=OnFailure",
            "--",
            "date",
        ],
        "cronjob/tick",
    )
    .await;
    let tick = ok(d, &["get", "cronjob", "tick", "-o", &jsonpath("{.spec.schedule}|{.spec.jobTemplate.metadata.name}|{.spec.jobTemplate.spec.template.spec.restartPolicy}|{.spec.jobTemplate.spec.template.spec.containers[0].name}|{.spec.jobTemplate.spec.template.spec.containers[0].command}")]).await;
    assert_eq!(tick, r#"*/1 * * * *|tick|OnFailure|tick|["date"]"#);

    // A Job from the CronJob's template, owned by it: the body carries the template as the
    // server stored it (defaulted pod spec included) and an owner reference.
    let manual = create_as_kubectl_built_it(
        d,
        &["create", "job", "manual", "--from=cronjob/tick"],
        "job/manual",
    )
    .await;
    let cronjob_uid = ok(
        d,
        &["get", "cronjob", "tick", "-o", &jsonpath("{.metadata.uid}")],
    )
    .await;
    assert_eq!(
        manual["metadata"]["ownerReferences"][0]["uid"],
        cronjob_uid.as_str()
    );
    assert_eq!(manual["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(manual["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(
        manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    assert_eq!(
        manual["spec"]["template"]["spec"]["containers"][0]["command"],
        serde_json::json!(["date"])
    );
    assert_eq!(
        manual["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        30
    );
    env.stop().await;
}

/// `kubectl create service ...` and `kubectl expose` send protobuf Service bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_services_with_protobuf_bodies() {
    if !kubectl_available() {
        return;
    }
    let env = Environment::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();
    let jsonpath = |p: &str| format!("jsonpath={p}");
    let ports = "{range .spec.ports[*]}{.name}:{.port}>{.targetPort}/{.protocol}@{.nodePort};{end}";

    create_as_kubectl_built_it(
        d,
        &[
            "create",
            "service",
            "clusterip",
            "api",
            "--tcp=80:8080",
            "--tcp=443:https",
        ],
        "service/api",
    )
    .await;
    let api = ok(
        d,
        &[
            "get",
            "service",
            "api",
            "-o",
            &jsonpath(&format!("{{.spec.type}}|{{.spec.selector.app}}|{ports}")),
        ],
    )
    .await;
    // A named target port stays a string; the int one stays an int.
    assert_eq!(
        api,
        "ClusterIP|api|80-8080:80>8080/TCP@;443-https:443>https/TCP@;"
    );
    let target: serde_json::Value =
        serde_json::from_str(&ok(d, &["get", "service", "api", "-o", "json"]).await).unwrap();
    assert_eq!(target["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(target["spec"]["ports"][1]["targetPort"], "https");

    create_as_kubectl_built_it(
        d,
        &[
            "create",
            "service",
            "clusterip",
            "headless",
            "--clusterip=None",
            "--tcp=5432",
        ],
        "service/headless",
    )
    .await;
    let headless = ok(
        d,
        &[
            "get",
            "service",
            "headless",
            "-o",
            &jsonpath("{.spec.clusterIP}"),
        ],
    )
    .await;
    assert_eq!(headless, "None");

    create_as_kubectl_built_it(
        d,
        &[
            "create",
            "service",
            "nodeport",
            "np",
            "--tcp=80:8080",
            "--node-port=30080",
        ],
        "service/np",
    )
    .await;
    let np = ok(
        d,
        &[
            "get",
            "service",
            "np",
            "-o",
            &jsonpath(&format!("{{.spec.type}}|{ports}")),
        ],
    )
    .await;
    assert_eq!(np, "NodePort|80-8080:80>8080/TCP@30080;");

    create_as_kubectl_built_it(
        d,
        &["create", "service", "loadbalancer", "lb", "--tcp=443:8443"],
        "service/lb",
    )
    .await;
    let lb = ok(
        d,
        &[
            "get",
            "service",
            "lb",
            "-o",
            &jsonpath(&format!("{{.spec.type}}|{{.spec.selector.app}}|{ports}")),
        ],
    )
    .await;
    assert!(
        lb.starts_with("LoadBalancer|lb|443-8443:443>8443/TCP@"),
        "{lb}"
    );

    create_as_kubectl_built_it(
        d,
        &[
            "create",
            "service",
            "externalname",
            "ext",
            "--external-name=db.example.com",
        ],
        "service/ext",
    )
    .await;
    let ext = ok(
        d,
        &[
            "get",
            "service",
            "ext",
            "-o",
            &jsonpath("{.spec.type}|{.spec.externalName}"),
        ],
    )
    .await;
    assert_eq!(ext, "ExternalName|db.example.com");

    // `expose` reads the Deployment's selector and builds the Service from it.
    ok(
        d,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--port=8080",
        ],
    )
    .await;
    create_as_kubectl_built_it(
        d,
        &[
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--target-port=8080",
            "--name=web-svc",
        ],
        "service/web-svc",
    )
    .await;
    let web = ok(
        d,
        &[
            "get",
            "service",
            "web-svc",
            "-o",
            &jsonpath(&format!("{{.spec.selector}}|{ports}")),
        ],
    )
    .await;
    assert_eq!(web, r#"{"app":"web"}|:80>8080/TCP@;"#);
    let edge = create_as_kubectl_built_it(
        d,
        &[
            "expose",
            "deployment",
            "web",
            "--name=web-edge",
            "--port=53",
            "--target-port=dns",
            "--protocol=UDP",
            "--type=LoadBalancer",
            "--external-ip=192.0.2.10",
            "--load-balancer-ip=192.0.2.20",
            "--session-affinity=ClientIP",
            "--labels=tier=edge",
        ],
        "service/web-edge",
    )
    .await;
    assert_eq!(
        edge["metadata"]["labels"],
        serde_json::json!({ "tier": "edge" })
    );
    assert_eq!(edge["spec"]["type"], "LoadBalancer");
    assert_eq!(
        edge["spec"]["externalIPs"],
        serde_json::json!(["192.0.2.10"])
    );
    assert_eq!(edge["spec"]["loadBalancerIP"], "192.0.2.20");
    assert_eq!(edge["spec"]["sessionAffinity"], "ClientIP");
    assert_eq!(
        edge["spec"]["ports"],
        serde_json::json!([{ "port": 53, "protocol": "UDP", "targetPort": "dns" }])
    );
    env.stop().await;
}

/// `kubectl run` sends a protobuf Pod; `kubectl create poddisruptionbudget` a policy/v1 one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_run_and_create_pdb_with_protobuf_bodies() {
    if !kubectl_available() {
        return;
    }
    let env = Environment::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();
    let jsonpath = |p: &str| format!("jsonpath={p}");

    create_as_kubectl_built_it(
        d,
        &[
            "run",
            "shell",
            "--image=busybox:1.36",
            "--port=8080",
            "--env=MODE=debug",
            "--env=EMPTY=",
            "--labels=app=shell,tier=tools",
            "--restart=Never",
            "--",
            "sleep",
            "3600",
        ],
        "pod/shell",
    )
    .await;
    let pod = ok(d, &["get", "pod", "shell", "-o", &jsonpath("{.metadata.labels.app}/{.metadata.labels.tier}|{.spec.restartPolicy}|{.spec.containers[0].name}|{.spec.containers[0].image}|{.spec.containers[0].ports[0].containerPort}|{range .spec.containers[0].env[*]}{.name}={.value};{end}|{.spec.containers[0].args}|{.status.phase}")]).await;
    assert_eq!(
        pod,
        r#"shell/tools|Never|shell|busybox:1.36|8080|MODE=debug;EMPTY=;|["sleep","3600"]|Pending"#
    );

    create_as_kubectl_built_it(
        d,
        &[
            "create",
            "poddisruptionbudget",
            "keep-one",
            "--selector=app=web",
            "--min-available=1",
        ],
        "pdb/keep-one",
    )
    .await;
    let keep = ok(
        d,
        &[
            "get",
            "pdb",
            "keep-one",
            "-o",
            &jsonpath("{.spec.minAvailable}|{.spec.selector.matchLabels.app}"),
        ],
    )
    .await;
    assert_eq!(keep, "1|web");
    // Zero is meaningful here (no voluntary disruption at all) and must not be dropped.
    let none = create_as_kubectl_built_it(
        d,
        &[
            "create",
            "poddisruptionbudget",
            "none",
            "--selector=app=db",
            "--max-unavailable=0",
        ],
        "pdb/none",
    )
    .await;
    assert_eq!(none["spec"]["maxUnavailable"], 0);
    let half = create_as_kubectl_built_it(
        d,
        &[
            "create",
            "poddisruptionbudget",
            "half",
            "--selector=app=db",
            "--min-available=50%",
        ],
        "pdb/half",
    )
    .await;
    assert_eq!(half["spec"]["minAvailable"], "50%");
    env.stop().await;
}

/// `kubectl run --overrides` merges arbitrary JSON into the Pod it then sends as protobuf, so
/// it reaches the pod-spec fields users commonly set (they are the same tables Deployment,
/// Job and CronJob templates use): volumes of the common sources, probes of every handler,
/// env sources, quantities, security contexts, affinity, tolerations, spread constraints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_run_with_overrides_sends_a_full_pod_spec_as_protobuf() {
    if !kubectl_available() {
        return;
    }
    let env = Environment::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();
    let overrides = serde_json::json!({
        "apiVersion": "v1",
        "metadata": { "annotations": { "team": "infra" } },
        "spec": {
            "volumes": [
                { "name": "cfg", "configMap": { "name": "cfg", "items": [{ "key": "k", "path": "p", "mode": 420 }], "defaultMode": 420, "optional": true } },
                { "name": "sec", "secret": { "secretName": "sec", "defaultMode": 256 } },
                { "name": "scratch", "emptyDir": { "medium": "Memory", "sizeLimit": "64Mi" } },
                { "name": "host", "hostPath": { "path": "/var/log", "type": "Directory" } },
                { "name": "claim", "persistentVolumeClaim": { "claimName": "data", "readOnly": true } },
                { "name": "info", "downwardAPI": { "items": [{ "path": "labels", "fieldRef": { "fieldPath": "metadata.labels" } }] } },
                { "name": "all", "projected": { "defaultMode": 292, "sources": [
                    { "serviceAccountToken": { "audience": "api", "expirationSeconds": 3600, "path": "token" } },
                    { "configMap": { "name": "cfg" } },
                    { "secret": { "name": "sec", "items": [{ "key": "a", "path": "b" }] } },
                    { "downwardAPI": { "items": [{ "path": "cpu", "resourceFieldRef": { "containerName": "main", "resource": "limits.cpu", "divisor": "1m" } }] } }
                ] } },
                { "name": "share", "nfs": { "server": "nfs.local", "path": "/exports", "readOnly": true } },
                { "name": "csi", "csi": { "driver": "csi.example.com", "readOnly": true, "volumeAttributes": { "k": "v" }, "nodePublishSecretRef": { "name": "sec" } } },
                { "name": "eph", "ephemeral": { "volumeClaimTemplate": { "metadata": { "labels": { "a": "b" } }, "spec": { "accessModes": ["ReadWriteOnce"], "storageClassName": "fast", "resources": { "requests": { "storage": "1Gi" } } } } } }
            ],
            "initContainers": [{ "name": "init", "image": "busybox", "command": ["sh", "-c", "true"], "restartPolicy": "Always" }],
            "containers": [
                {
                    "name": "main", "image": "nginx", "args": ["-v"], "workingDir": "/srv",
                    "ports": [{ "name": "http", "containerPort": 8080, "protocol": "TCP", "hostPort": 8081 }],
                    "envFrom": [{ "prefix": "CFG_", "configMapRef": { "name": "cfg", "optional": true } }, { "secretRef": { "name": "sec" } }],
                    "env": [
                        { "name": "A", "value": "1" },
                        { "name": "POD", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
                        { "name": "MEM", "valueFrom": { "resourceFieldRef": { "resource": "limits.memory", "divisor": "1Mi" } } },
                        { "name": "S", "valueFrom": { "secretKeyRef": { "name": "sec", "key": "k", "optional": false } } },
                        { "name": "C", "valueFrom": { "configMapKeyRef": { "name": "cfg", "key": "k" } } }
                    ],
                    "resources": { "limits": { "cpu": "500m", "memory": "128Mi" }, "requests": { "cpu": "250m", "memory": "64Mi" } },
                    "resizePolicy": [{ "resourceName": "cpu", "restartPolicy": "NotRequired" }],
                    "volumeMounts": [
                        { "name": "cfg", "mountPath": "/etc/cfg", "readOnly": true, "subPath": "p" },
                        { "name": "scratch", "mountPath": "/tmp", "mountPropagation": "None" }
                    ],
                    "livenessProbe": { "httpGet": { "path": "/healthz", "port": "http", "scheme": "HTTP", "httpHeaders": [{ "name": "X", "value": "y" }] }, "initialDelaySeconds": 3, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 4, "successThreshold": 1 },
                    "readinessProbe": { "tcpSocket": { "port": 8080 } },
                    "startupProbe": { "exec": { "command": ["cat", "/ready"] }, "terminationGracePeriodSeconds": 5 },
                    "lifecycle": { "postStart": { "exec": { "command": ["echo"] } }, "preStop": { "sleep": { "seconds": 5 } } },
                    "securityContext": {
                        "runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": true, "readOnlyRootFilesystem": true,
                        "allowPrivilegeEscalation": false, "privileged": false,
                        "capabilities": { "drop": ["ALL"], "add": ["NET_BIND_SERVICE"] },
                        "seccompProfile": { "type": "RuntimeDefault" }, "appArmorProfile": { "type": "RuntimeDefault" },
                        "seLinuxOptions": { "level": "s0:c1" }
                    },
                    "stdin": true, "tty": true, "imagePullPolicy": "Always", "terminationMessagePolicy": "FallbackToLogsOnError"
                },
                { "name": "health", "image": "grpc", "readinessProbe": { "grpc": { "port": 9090, "service": "health" } } }
            ],
            "restartPolicy": "OnFailure",
            "terminationGracePeriodSeconds": 0,
            "activeDeadlineSeconds": 600,
            "dnsPolicy": "None",
            "dnsConfig": { "nameservers": ["1.1.1.1"], "searches": ["svc.local"], "options": [{ "name": "ndots", "value": "2" }, { "name": "edns0" }] },
            "nodeSelector": { "disk": "ssd" },
            "serviceAccountName": "robot",
            "automountServiceAccountToken": false,
            "shareProcessNamespace": true,
            "securityContext": {
                "runAsUser": 1000, "fsGroup": 2000, "supplementalGroups": [3000, 4000], "fsGroupChangePolicy": "OnRootMismatch",
                "sysctls": [{ "name": "net.core.somaxconn", "value": "1024" }],
                "seccompProfile": { "type": "Localhost", "localhostProfile": "profile.json" }
            },
            "imagePullSecrets": [{ "name": "registry" }],
            "hostname": "h",
            "subdomain": "s",
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": { "nodeSelectorTerms": [{ "matchExpressions": [{ "key": "zone", "operator": "In", "values": ["a", "b"] }] }] },
                    "preferredDuringSchedulingIgnoredDuringExecution": [{ "weight": 10, "preference": { "matchFields": [{ "key": "metadata.name", "operator": "NotIn", "values": ["n1"] }] } }]
                },
                "podAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": [{ "labelSelector": { "matchLabels": { "app": "db" } }, "topologyKey": "zone", "namespaceSelector": { "matchLabels": { "env": "prod" } } }] },
                "podAntiAffinity": { "preferredDuringSchedulingIgnoredDuringExecution": [{ "weight": 50, "podAffinityTerm": { "labelSelector": { "matchExpressions": [{ "key": "app", "operator": "Exists" }] }, "topologyKey": "kubernetes.io/hostname", "namespaces": ["default"] } }] }
            },
            "schedulerName": "custom",
            "tolerations": [{ "key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute", "tolerationSeconds": 30 }, { "operator": "Exists" }],
            "hostAliases": [{ "ip": "10.0.0.1", "hostnames": ["a.local", "b.local"] }],
            "priorityClassName": "high",
            "readinessGates": [{ "conditionType": "example.com/ready" }],
            "runtimeClassName": "gvisor",
            "enableServiceLinks": false,
            "preemptionPolicy": "Never",
            "topologySpreadConstraints": [{ "maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": { "matchLabels": { "app": "x" } }, "minDomains": 2, "nodeAffinityPolicy": "Honor", "matchLabelKeys": ["pod-template-hash"] }],
            "setHostnameAsFQDN": true,
            "os": { "name": "linux" },
            "hostUsers": false,
            "schedulingGates": [{ "name": "wait" }]
        }
    })
    .to_string();
    let pod = create_as_kubectl_built_it(
        d,
        &[
            "run",
            "full",
            "--image=nginx",
            "--restart=OnFailure",
            &format!("--overrides={overrides}"),
        ],
        "pod/full",
    )
    .await;
    // Spot checks on the special encodings, beyond the comparison with what kubectl built.
    let spec = &pod["spec"];
    let main = &spec["containers"][0];
    assert_eq!(main["resources"]["limits"]["cpu"], "500m");
    assert_eq!(main["livenessProbe"]["httpGet"]["port"], "http");
    assert_eq!(main["readinessProbe"]["tcpSocket"]["port"], 8080);
    assert_eq!(
        main["env"][4]["valueFrom"]["configMapKeyRef"]["name"],
        "cfg"
    );
    assert_eq!(main["envFrom"][0]["configMapRef"]["optional"], true);
    assert_eq!(main["securityContext"]["privileged"], false);
    assert_eq!(spec["volumes"][0]["configMap"]["name"], "cfg");
    assert_eq!(spec["volumes"][2]["emptyDir"]["sizeLimit"], "64Mi");
    assert_eq!(
        spec["volumes"][6]["projected"]["sources"][3]["downwardAPI"]["items"][0]["resourceFieldRef"]
            ["divisor"],
        "1m"
    );
    // Pointer fields keep an explicit zero or false.
    assert_eq!(spec["terminationGracePeriodSeconds"], 0);
    assert_eq!(spec["enableServiceLinks"], false);
    assert_eq!(
        spec["securityContext"]["supplementalGroups"],
        serde_json::json!([3000, 4000])
    );
    env.stop().await;
}

/// `kubectl create job --from=cronjob/...` copies the CronJob's whole job template (as applied
/// in JSON) into a protobuf Job body, which reaches the JobSpec fields `create job` has no
/// flags for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_job_from_a_rich_cronjob_with_protobuf_body() {
    if !kubectl_available() {
        return;
    }
    let env = Environment::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    env.write_kubeconfig(&d.join("kubeconfig")).unwrap();
    let cronjob = serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": { "name": "nightly" },
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "metadata": { "labels": { "batch": "nightly" }, "annotations": { "owner": "data" } },
                "spec": {
                    "parallelism": 2,
                    "completions": 4,
                    "completionMode": "Indexed",
                    "activeDeadlineSeconds": 3600,
                    "backoffLimitPerIndex": 1,
                    "maxFailedIndexes": 2,
                    "ttlSecondsAfterFinished": 0,
                    "suspend": true,
                    "podReplacementPolicy": "Failed",
                    "podFailurePolicy": { "rules": [
                        { "action": "FailJob", "onExitCodes": { "containerName": "work", "operator": "In", "values": [42, 43] } },
                        { "action": "Ignore", "onPodConditions": [{ "type": "DisruptionTarget", "status": "True" }] }
                    ] },
                    "successPolicy": { "rules": [{ "succeededIndexes": "0-1", "succeededCount": 1 }] },
                    "template": { "spec": {
                        "restartPolicy": "Never",
                        "containers": [{ "name": "work", "image": "busybox", "command": ["sh", "-c", "exit 0"] }]
                    } }
                }
            }
        }
    })
    .to_string();
    let (success, out) = kubectl_stdin(d, &["apply", "-f", "-"], cronjob).await;
    assert!(success, "{out}");
    let job = create_as_kubectl_built_it(
        d,
        &["create", "job", "tonight", "--from=cronjob/nightly"],
        "job/tonight",
    )
    .await;
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["ttlSecondsAfterFinished"], 0);
    assert_eq!(spec["suspend"], true);
    assert_eq!(
        spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"],
        serde_json::json!([42, 43])
    );
    assert_eq!(spec["successPolicy"]["rules"][0]["succeededIndexes"], "0-1");
    assert_eq!(job["metadata"]["labels"]["batch"], "nightly");
    env.stop().await;
}
