//! Kubernetes' own CEL libraries that cel-rust lacks, as kube-apiserver declares them for CRD
//! rules (k8s.io/apiserver/pkg/cel/library): the lists library (`isSorted`, `sum`, `min`, `max`,
//! `indexOf`, `lastIndexOf` on lists) and the regex library (`find`, `findAll`). Functions not
//! here stay undeclared, so a rule calling them fails closed.

use std::cmp::Ordering;

use ::cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelString, CelUInt, DYN_TYPE, INT_TYPE, LIST_TYPE,
    STRING_TYPE,
};
use ::cel::common::value::{CowVal, Val};
use ::cel::{DeclarationError, Env, ExecutionError};

/// Registers the libraries on `env`.
pub(super) fn extension(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_member_overload("isSorted", "list_is_sorted", LIST_TYPE, vec![], is_sorted)?;
    env.add_member_overload("sum", "list_sum", LIST_TYPE, vec![], sum)?;
    env.add_member_overload("min", "list_min", LIST_TYPE, vec![], min)?;
    env.add_member_overload("max", "list_max", LIST_TYPE, vec![], max)?;
    env.add_member_overload(
        "indexOf",
        "list_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        index_of,
    )?;
    env.add_member_overload(
        "lastIndexOf",
        "list_last_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        last_index_of,
    )?;
    env.add_member_overload("find", "string_find", STRING_TYPE, vec![STRING_TYPE], find)?;
    env.add_member_overload(
        "findAll",
        "string_find_all",
        STRING_TYPE,
        vec![STRING_TYPE],
        find_all,
    )?;
    env.add_member_overload(
        "findAll",
        "string_find_all_n",
        STRING_TYPE,
        vec![STRING_TYPE, INT_TYPE],
        find_all_n,
    )?;
    Ok(())
}

fn take<'b, 'v, const N: usize>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<[CowVal<'b, 'v>; N], ExecutionError> {
    args.try_into()
        .map_err(|args: Vec<_>| ExecutionError::invalid_argument_count(N, args.len()))
}

/// The elements of a list argument, borrowed.
fn elements<'b, 'v>(
    list: &'b (dyn Val + 'v),
    function: &str,
) -> Result<Vec<&'b (dyn Val + 'v)>, ExecutionError> {
    let iterable = list
        .as_iterable()
        .ok_or_else(|| ExecutionError::function_error(function, "the receiver is not a list"))?;
    let mut items = iterable.iter();
    let mut out = Vec::new();
    while let Some(item) = items.next() {
        out.push(item);
    }
    Ok(out)
}

fn compare(a: &dyn Val, b: &dyn Val, function: &str) -> Result<Ordering, ExecutionError> {
    a.as_comparer()
        .ok_or_else(|| {
            ExecutionError::function_error(function, "list elements must be comparable")
        })?
        .compare(b)
}

fn string_arg<'b>(v: &'b dyn Val, function: &str) -> Result<&'b str, ExecutionError> {
    v.downcast_ref::<CelString<'_>>()
        .map(CelString::inner)
        .ok_or_else(|| ExecutionError::function_error(function, "expects a string"))
}

/// `<list>.isSorted()`: every element is `<=` the next.
fn is_sorted<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [list] = take(args)?;
    let items = elements(list.as_ref(), "isSorted")?;
    for pair in items.windows(2) {
        if compare(pair[0], pair[1], "isSorted")? == Ordering::Greater {
            return Ok(CowVal::owned(CelBool::from(false)));
        }
    }
    Ok(CowVal::owned(CelBool::from(true)))
}

/// `<list(int|uint|double)>.sum()`: 0 for an empty list, as upstream's zero value.
fn sum<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [list] = take(args)?;
    let items = elements(list.as_ref(), "sum")?;
    let overflow = || ExecutionError::function_error("sum", "integer overflow");
    let Some(first) = items.first() else {
        return Ok(CowVal::owned(CelInt::from(0)));
    };
    if first.downcast_ref::<CelInt>().is_some() {
        let mut total: i64 = 0;
        for item in &items {
            let n = item.downcast_ref::<CelInt>().ok_or_else(|| mixed("sum"))?;
            total = total.checked_add(*n.inner()).ok_or_else(overflow)?;
        }
        return Ok(CowVal::owned(CelInt::from(total)));
    }
    if first.downcast_ref::<CelUInt>().is_some() {
        let mut total: u64 = 0;
        for item in &items {
            let n = item.downcast_ref::<CelUInt>().ok_or_else(|| mixed("sum"))?;
            total = total.checked_add(*n.inner()).ok_or_else(overflow)?;
        }
        return Ok(CowVal::owned(CelUInt::from(total)));
    }
    if first.downcast_ref::<CelDouble>().is_some() {
        let mut total = 0.0;
        for item in &items {
            total += *item
                .downcast_ref::<CelDouble>()
                .ok_or_else(|| mixed("sum"))?
                .inner();
        }
        return Ok(CowVal::owned(CelDouble::from(total)));
    }
    Err(ExecutionError::function_error(
        "sum",
        "expects a list of int, uint or double",
    ))
}

fn mixed(function: &str) -> ExecutionError {
    ExecutionError::function_error(function, "list elements must all have one type")
}

fn extreme<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
    function: &str,
    keep: Ordering,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [list] = take(args)?;
    let items = elements(list.as_ref(), function)?;
    let Some(mut best) = items.first().copied() else {
        return Err(ExecutionError::function_error(
            function,
            format!("{function} called on empty list"),
        ));
    };
    for item in &items[1..] {
        if compare(*item, best, function)? == keep {
            best = *item;
        }
    }
    Ok(CowVal::Owned(best.clone_as_boxed()))
}

/// `<list>.min()`: an error on an empty list, as upstream.
fn min<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme(args, "min", Ordering::Less)
}

/// `<list>.max()`: an error on an empty list, as upstream.
fn max<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme(args, "max", Ordering::Greater)
}

fn position<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
    function: &str,
    last: bool,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [list, wanted] = take(args)?;
    let items = elements(list.as_ref(), function)?;
    let matches = |item: &&(dyn Val + 'v)| item.equals(wanted.as_ref());
    let found = if last {
        items.iter().rposition(matches)
    } else {
        items.iter().position(matches)
    };
    let index = found.map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX));
    Ok(CowVal::owned(CelInt::from(index)))
}

/// `<list>.indexOf(x)`: the first index of an element equal to `x`, or -1.
fn index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    position(args, "indexOf", false)
}

/// `<list>.lastIndexOf(x)`: the last index of an element equal to `x`, or -1.
fn last_index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    position(args, "lastIndexOf", true)
}

fn regex(pattern: &str, function: &str) -> Result<regex::Regex, ExecutionError> {
    regex::Regex::new(pattern).map_err(|e| {
        ExecutionError::function_error(function, format!("invalid regex {pattern:?}: {e}"))
    })
}

/// `<string>.find(regex)`: the first match, or `""`.
fn find<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [text, pattern] = take(args)?;
    let text = string_arg(text.as_ref(), "find")?;
    let re = regex(string_arg(pattern.as_ref(), "find")?, "find")?;
    let found = re
        .find(text)
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    Ok(CowVal::owned(CelString::from(found)))
}

fn all_matches<'b, 'v>(
    text: &str,
    pattern: &str,
    limit: i64,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let re = regex(pattern, "findAll")?;
    // A negative limit means all matches, as Go's FindAllString.
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    let found: Vec<Box<dyn Val + 'v>> = re
        .find_iter(text)
        .take(take)
        .map(|m| Box::new(CelString::from(m.as_str().to_string())) as Box<dyn Val + 'v>)
        .collect();
    Ok(CowVal::owned(CelList::from(found)))
}

/// `<string>.findAll(regex)`: every match.
fn find_all<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [text, pattern] = take(args)?;
    all_matches(
        string_arg(text.as_ref(), "findAll")?,
        string_arg(pattern.as_ref(), "findAll")?,
        -1,
    )
}

/// `<string>.findAll(regex, n)`: at most `n` matches (all when negative).
fn find_all_n<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [text, pattern, limit] = take(args)?;
    let limit = *limit
        .as_ref()
        .downcast_ref::<CelInt>()
        .ok_or_else(|| ExecutionError::function_error("findAll", "the limit must be an int"))?
        .inner();
    all_matches(
        string_arg(text.as_ref(), "findAll")?,
        string_arg(pattern.as_ref(), "findAll")?,
        limit,
    )
}
