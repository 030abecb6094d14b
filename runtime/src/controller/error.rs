use std::fmt;

/// The error a [`Reconciler`](super::Reconciler) returns.
///
/// Any `std::error::Error` converts into it with `?`, like `anyhow::Error`; such errors are
/// retried with rate-limited backoff. Wrap an error with [`terminal`](Self::terminal) when
/// retrying cannot help (an invalid spec, say): it is logged and not retried until the object
/// changes again.
///
/// It deliberately does not implement `std::error::Error` itself, which is what makes the
/// blanket `From` possible.
///
/// ```
/// use kubesmith_runtime::ReconcileError;
///
/// fn parse(replicas: &str) -> Result<i32, ReconcileError> {
///     let n: i32 = replicas.parse()?; // retried
///     if n < 0 {
///         return Err(ReconcileError::terminal(ReconcileError::msg("replicas must not be negative")));
///     }
///     Ok(n)
/// }
/// assert!(!parse("x").unwrap_err().is_terminal());
/// assert!(parse("-1").unwrap_err().is_terminal());
/// assert_eq!(parse("-1").unwrap_err().to_string(), "replicas must not be negative");
/// ```
pub struct ReconcileError {
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
    terminal: bool,
}

impl ReconcileError {
    /// An error with just a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            inner: Box::new(Message(message.to_string())),
            terminal: false,
        }
    }

    /// Marks `error` as terminal: the controller logs it and does not retry.
    pub fn terminal(error: impl Into<ReconcileError>) -> Self {
        Self {
            terminal: true,
            ..error.into()
        }
    }

    /// Whether this error is terminal (not retried).
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// The underlying error, e.g. to downcast it to a `kube::Error`.
    pub fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.inner
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for ReconcileError {
    fn from(error: E) -> Self {
        Self {
            inner: Box::new(error),
            terminal: false,
        }
    }
}

impl fmt::Display for ReconcileError {
    /// The error and its chain of sources, separated by `: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)?;
        let mut source = self.inner.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ReconcileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconcileError")
            .field("error", &self.inner)
            .field("terminal", &self.terminal)
            .finish()
    }
}

#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn display_includes_source_chain() {
        let err: ReconcileError = Outer(std::io::Error::other("inner")).into();
        assert_eq!(err.to_string(), "outer: inner");
        assert!(!err.is_terminal());
        assert!(err.as_error().downcast_ref::<Outer>().is_some());
    }

    #[test]
    fn terminal_keeps_the_error() {
        let err = ReconcileError::terminal(Outer(std::io::Error::other("inner")));
        assert!(err.is_terminal());
        assert_eq!(err.to_string(), "outer: inner");
    }
}
