//! Status conditions (`metav1.Condition`), maintained as apimachinery's `meta.SetStatusCondition`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Sets `new` in `conditions`, replacing the condition of the same type.
///
/// `lastTransitionTime` only moves when the status changes, to `new`'s time (a time at or before
/// the Unix epoch, Go's "zero" time, means now); reason, message and observedGeneration are
/// always updated. Returns whether anything changed, so the caller knows whether to write the
/// status.
///
/// ```
/// use kubesmith_runtime::conditions;
///
/// let ready = |status: &str| conditions::new("Ready", status, "Reconciled", "", Some(1));
/// let mut conds = Vec::new();
/// assert!(conditions::set(&mut conds, ready("True")));
/// let first = conds[0].last_transition_time.clone();
/// assert!(!conditions::set(&mut conds, ready("True"))); // nothing new
/// assert!(conditions::is_true(&conds, "Ready"));
/// assert_eq!(conds[0].last_transition_time, first);
/// assert!(conditions::set(&mut conds, ready("False")));
/// assert!(!conditions::is_true(&conds, "Ready"));
/// ```
pub fn set(conditions: &mut Vec<Condition>, new: Condition) -> bool {
    let Some(existing) = conditions.iter_mut().find(|c| c.type_ == new.type_) else {
        let mut new = new;
        if is_zero(&new.last_transition_time) {
            new.last_transition_time = now();
        }
        conditions.push(new);
        return true;
    };
    let mut changed = false;
    if existing.status != new.status {
        existing.status = new.status;
        existing.last_transition_time = if is_zero(&new.last_transition_time) {
            now()
        } else {
            new.last_transition_time
        };
        changed = true;
    }
    if existing.reason != new.reason {
        existing.reason = new.reason;
        changed = true;
    }
    if existing.message != new.message {
        existing.message = new.message;
        changed = true;
    }
    if existing.observed_generation != new.observed_generation {
        existing.observed_generation = new.observed_generation;
        changed = true;
    }
    changed
}

/// A condition with `lastTransitionTime` set to now, ready for [`set`].
pub fn new(
    type_: impl Into<String>,
    status: impl Into<String>,
    reason: impl Into<String>,
    message: impl Into<String>,
    observed_generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation,
        last_transition_time: now(),
    }
}

/// The condition of type `type_`, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of type `type_` is present with status `"True"`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

/// Removes the condition of type `type_`; returns whether there was one.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

fn is_zero(time: &Time) -> bool {
    time.0 <= jiff::Timestamp::UNIX_EPOCH
}

fn now() -> Time {
    // The API server stores seconds; truncating avoids a spurious diff after a round trip.
    let now = jiff::Timestamp::now();
    Time(jiff::Timestamp::from_second(now.as_second()).unwrap_or(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(type_: &str, status: &str, reason: &str, generation: i64) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: Some(generation),
            last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
        }
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut conds = vec![];
        let fixed = Time(jiff::Timestamp::from_second(1_000).unwrap());
        let mut c = cond("Ready", "False", "Pending", 1);
        c.last_transition_time = fixed.clone();
        assert!(set(&mut conds, c));
        assert_eq!(conds[0].last_transition_time, fixed);
        // reason and generation change, status does not: time kept
        assert!(set(&mut conds, cond("Ready", "False", "Waiting", 2)));
        assert_eq!(conds[0].last_transition_time, fixed);
        assert_eq!(conds[0].reason, "Waiting");
        assert_eq!(conds[0].observed_generation, Some(2));
        // status changes: time moves to now
        assert!(set(&mut conds, cond("Ready", "True", "Waiting", 2)));
        assert_ne!(conds[0].last_transition_time, fixed);
        assert!(!set(&mut conds, cond("Ready", "True", "Waiting", 2)));
        // other types are independent
        assert!(set(&mut conds, cond("Degraded", "False", "Fine", 2)));
        assert_eq!(conds.len(), 2);
        assert!(remove(&mut conds, "Degraded"));
        assert!(!remove(&mut conds, "Degraded"));
        assert!(find(&conds, "Ready").is_some());
    }
}
