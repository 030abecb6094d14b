//! Keeps the API types of `docs/tutorial.md` and the CRD excerpt it shows in step 3 true:
//! the types are written here too (checked to be the page's, whitespace aside) and the
//! excerpt is checked against `CronJob::crd()`, which `kubesmith generate` writes.

// The tutorial's fields are read by its controller, not here.
#![allow(dead_code)]

// The page writes `#[kubesmith_runtime::resource]`, as generated projects do.
extern crate kubesmith_derive as kubesmith_runtime;

use kube::CustomResourceExt;
use serde_json::Value;

const DOC: &str = include_str!("../../docs/tutorial.md");
const THIS_FILE: &str = include_str!("tutorial_doc.rs");

// Step 2 of the tutorial, `src/api/batch/v1/cron_job.rs`.
mod cron_job {
    //! The CronJob kind of batch.tutorial.kubebuilder.io/v1.

    use k8s_openapi::api::batch::v1::JobTemplateSpec;
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// CronJobSpec defines the desired state of CronJob.
    #[kubesmith_runtime::resource(
        group = "batch.tutorial.kubebuilder.io",
        version = "v1",
        kind = "CronJob",
        plural = "cronjobs",
        namespaced,
        storage,
        status = "CronJobStatus",
        printcolumn(name = "Schedule", type = "string", json_path = ".spec.schedule"),
        printcolumn(name = "Suspend", type = "boolean", json_path = ".spec.suspend"),
        printcolumn(
            name = "Last Schedule",
            type = "date",
            json_path = ".status.lastScheduleTime"
        )
    )]
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct CronJobSpec {
        /// The schedule in cron format (minute hour day-of-month month day-of-week), in UTC.
        #[kubesmith(min_length = 1, pattern = r"^\S+( +\S+){4}$")]
        pub schedule: String,

        /// Deadline in seconds for starting the job if it misses its scheduled time for any
        /// reason. Missed job executions count as failed ones.
        #[kubesmith(minimum = 0)]
        pub starting_deadline_seconds: Option<i64>,

        /// How to treat concurrent executions of a Job.
        #[serde(default)]
        #[kubesmith(default = "Allow")]
        pub concurrency_policy: ConcurrencyPolicy,

        /// Suspends subsequent executions; does not apply to executions already started.
        pub suspend: Option<bool>,

        /// The job created on every run.
        pub job_template: JobTemplateSpec,

        /// How many successful finished jobs to keep.
        #[kubesmith(minimum = 0, default = 3)]
        pub successful_jobs_history_limit: Option<i32>,

        /// How many failed finished jobs to keep.
        #[kubesmith(minimum = 0, default = 1)]
        pub failed_jobs_history_limit: Option<i32>,
    }

    /// How to treat a run that is due while the previous one is still active.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
    pub enum ConcurrencyPolicy {
        /// Runs jobs concurrently.
        #[default]
        Allow,
        /// Skips the new run.
        Forbid,
        /// Cancels the running job and replaces it with a new one.
        Replace,
    }

    /// CronJobStatus defines the observed state of CronJob.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct CronJobStatus {
        /// The jobs running now.
        #[serde(default)]
        pub active: Vec<ObjectReference>,

        /// When a job was last scheduled.
        pub last_schedule_time: Option<Time>,
    }
}

/// The first fenced block of `lang` after the heading that starts with `heading`.
fn block_after(heading: &str, lang: &str) -> &'static str {
    let section = &DOC[DOC.find(heading).expect(heading)..];
    let fence = format!("```{lang}\n");
    let body = &section[section.find(&fence).expect("a block") + fence.len()..];
    &body[..body.find("```").unwrap()]
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn assert_subset(want: &Value, got: &Value, path: &str) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                let gv = g
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} is on the page but not in the CRD"));
                assert_subset(v, gv, &format!("{path}.{k}"));
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            assert_eq!(w.len(), g.len(), "{path}");
            for (i, (w, g)) in w.iter().zip(g).enumerate() {
                assert_subset(w, g, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(w), Value::Number(g)) => assert_eq!(w.as_f64(), g.as_f64(), "{path}"),
        _ => assert_eq!(want, got, "{path}"),
    }
}

#[test]
fn types_are_the_tutorials() {
    let shown: String = block_after("## 2. Design the API", "rust")
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t == "#" || t.starts_with("# "))
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        squash(THIS_FILE).contains(&squash(&shown)),
        "the types of docs/tutorial.md step 2 are not the ones in derive/tests/tutorial_doc.rs"
    );
}

#[test]
fn crd_excerpt_is_what_generate_writes() {
    let want: Value =
        serde_yaml::from_str(block_after("## 3. Generate the manifests", "yaml")).unwrap();
    let got = serde_json::to_value(cron_job::CronJob::crd()).unwrap();
    assert_subset(&want, &got, "");
}
