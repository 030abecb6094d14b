//! Fault injection rules for tests: which requests fail, with what, and a record of every
//! failure injected so a test can assert what its client went through.

/// A failure to inject into matching requests (see [`Environment::inject`](crate::Environment::inject)).
///
/// By default it hits the next request on any resource, once; [`Fault::verb`],
/// [`Fault::resource`] and [`Fault::times`] narrow or widen that. 429, 503 and 504 answer
/// with `Retry-After` (1 second unless [`Fault::retry_after`] says otherwise), as
/// kube-apiserver's priority-and-fairness and timeout filters do.
///
/// ```
/// use kubesmith_envtest::Fault;
///
/// // The next two ConfigMap creates get 429 TooManyRequests with Retry-After: 1.
/// let fault = Fault::new(429).verb("create").resource("configmaps").times(2);
/// # let _ = fault;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub(crate) verb: Option<String>,
    pub(crate) resource: Option<String>,
    pub(crate) code: u16,
    pub(crate) times: usize,
    pub(crate) retry_after_seconds: u64,
}

impl Fault {
    /// A failure with HTTP status `code` (429, 500, 503, 504, ...) for the next request.
    pub fn new(code: u16) -> Self {
        Fault {
            verb: None,
            resource: None,
            code,
            times: 1,
            retry_after_seconds: 1,
        }
    }

    /// Only requests with this Kubernetes verb: `get`, `list`, `watch`, `create`, `update`,
    /// `patch`, `delete` or `deletecollection`.
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.to_string());
        self
    }

    /// Only requests on this resource: a plural such as `configmaps` (the object itself), or
    /// with a subresource such as `deployments/status` or `deployments/scale`.
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_string());
        self
    }

    /// How many matching requests fail (then the rule is spent).
    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }

    /// The `Retry-After` seconds sent with 429, 503 and 504.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = seconds;
        self
    }

    pub(crate) fn matches(&self, verb: &str, resource: &str) -> bool {
        self.verb.as_deref().is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
    }
}

/// One failure the server injected: the request's verb and resource (`plural` or
/// `plural/subresource`) and the status code it answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InjectedFailure {
    /// The Kubernetes verb of the failed request.
    pub verb: String,
    /// The resource of the failed request.
    pub resource: String,
    /// The HTTP status it got.
    pub code: u16,
}
